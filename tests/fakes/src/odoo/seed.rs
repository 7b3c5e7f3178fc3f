//! The starting data of a fake Odoo: the demo warehouse of the transcripts (same ids for the
//! records they use: locations 4, 5, 7, 8, 16, 17; picking types 1, 2, 5; products 5, 17, 18,
//! 20, 31, 36; partner 10; lots 2–4; users 2 and 6) and, for `Seed::Warehouse`, the returns
//! locations, barcodes and done deliveries the returns flows start from; for every seed the
//! `res.groups` rights (with the lab's ids for Internal User and Inventory Administrator). Also
//! the helpers tests use to add products, lots, quants, partners, locations, users and
//! deliveries.

use super::db::{
    Company, ConfigParam, Database, Group, Location, Lot, ModelData, Partner, PickingType, Product, Table, User,
    Warehouse,
};
use super::error::OdooError;
use super::stock;

/// Which data a fake starts with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Seed {
    /// What the transcripts started from: Odoo 17 demo data, no WH/Returns, no product barcodes,
    /// no done deliveries, sequences where the lab's were (WH/OUT/00012, WH/IN/00007, S00025…).
    Odoo17Demo,
    /// The demo warehouse set up for returns: WH/Returns (a return location), WH/Quarantine,
    /// WH/Refurbish, barcodes on products, and two done deliveries to Deco Addict (one of a
    /// lot-tracked product) ready to be returned.
    #[default]
    Warehouse,
}

/// Well-known ids of the seeded data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedIds {
    pub company: i64,
    pub admin_uid: i64,
    pub demo_uid: i64,
    pub warehouse: i64,
    pub vendors_location: i64,
    pub customers_location: i64,
    pub warehouse_view_location: i64,
    pub stock_location: i64,
    pub inventory_adjustment_location: i64,
    pub scrap_location: i64,
    pub shelf1_location: i64,
    pub shelf2_location: i64,
    /// WH/Returns, WH/Quarantine, WH/Refurbish (only with `Seed::Warehouse`).
    pub returns_location: Option<i64>,
    pub quarantine_location: Option<i64>,
    pub refurbish_location: Option<i64>,
    pub receipts_type: i64,
    pub delivery_type: i64,
    pub internal_type: i64,
    /// `[E-COM07] Large Cabinet` (not tracked, 500 in WH/Stock).
    pub large_cabinet: i64,
    /// `[E-COM08] Storage Box`.
    pub storage_box: i64,
    /// `[E-COM10] Pedal Bin`.
    pub pedal_bin: i64,
    /// `[FURN_6666] Acoustic Bloc Screens`.
    pub acoustic_screens: i64,
    /// `[FURN_8220] Four Person Desk` (nothing on hand).
    pub four_person_desk: i64,
    /// `[FURN_5555] Cable Management Box` (tracked by lot; lots CM-BOX-00001/2 on WH/Stock/Shelf 2).
    pub cable_box: i64,
    /// `[SCAN-01] Handheld Barcode Scanner` (tracked by serial; SN-0001…SN-0005 in WH/Stock).
    pub scanner: i64,
    pub deco_addict: i64,
    pub gemini_furniture: i64,
    pub azure_interior: i64,
    /// The done deliveries seeded with `Seed::Warehouse`.
    pub deliveries: Vec<DoneDelivery>,
}

/// A product to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProduct {
    pub name: String,
    pub default_code: Option<String>,
    pub barcode: Option<String>,
    /// `none`, `lot` or `serial`.
    pub tracking: String,
    pub weight: f64,
}

impl NewProduct {
    /// A storable, untracked product.
    pub fn new(name: &str, default_code: &str, barcode: &str) -> Self {
        Self {
            name: name.to_owned(),
            default_code: Some(default_code.to_owned()),
            barcode: Some(barcode.to_owned()),
            tracking: "none".to_owned(),
            weight: 1.0,
        }
    }

    /// The same, tracked by `lot` or `serial`.
    pub fn tracked(self, tracking: &str) -> Self {
        Self {
            tracking: tracking.to_owned(),
            ..self
        }
    }
}

/// A done delivery made by [`add_delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoneDelivery {
    pub sale_order_id: i64,
    pub sale_order_name: String,
    pub picking_id: i64,
    pub picking_name: String,
    pub move_ids: Vec<i64>,
}

/// What a return made by [`add_return`] should carry besides its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnSpec {
    /// Written into the return picking's `origin` (where sites keep the RMA reference); `None`
    /// keeps Odoo's `Return of WH/OUT/…`.
    pub rma: Option<String>,
    /// The sale order's `client_order_ref`.
    pub client_order_ref: Option<String>,
    /// `carrier_tracking_ref` of the return picking (needs the `delivery` module).
    pub return_tracking: Option<String>,
    /// `carrier_tracking_ref` of the original delivery (needs the `delivery` module).
    pub delivery_tracking: Option<String>,
}

/// An open return made by [`add_return`]: the done delivery it returns and the return picking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReturn {
    pub delivery: DoneDelivery,
    pub picking_id: i64,
    pub picking_name: String,
}

fn location(id: i64, name: &str, parent: Option<i64>, usage: &str, barcode: Option<&str>) -> Location {
    Location {
        id,
        name: name.to_owned(),
        parent_id: parent,
        usage: usage.to_owned(),
        barcode: barcode.map(str::to_owned),
        return_location: false,
        scrap_location: false,
        active: true,
        company_id: (parent.is_some() && !matches!(usage, "customer" | "supplier")).then_some(1),
        create_date: 0,
        write_date: 0,
    }
}

fn partner(id: i64, name: &str, phone: Option<&str>, is_company: bool) -> Partner {
    Partner {
        id,
        name: name.to_owned(),
        email: None,
        phone: phone.map(str::to_owned),
        mobile: None,
        reference: None,
        street: None,
        city: None,
        zip: None,
        is_company,
        parent_id: None,
        active: true,
        create_date: 0,
        write_date: 0,
    }
}

/// A warehouse operation type as Odoo 17 creates it: Receipts have no default source (the
/// partner's vendor location is used) and Delivery Orders no default destination (transcript 22
/// reads `default_location_dest_id: false`; the partner's customer location is used); receipts
/// create lots, the others use existing ones.
#[allow(clippy::too_many_arguments)]
fn picking_type(
    id: i64,
    name: &str,
    code: &str,
    seq: &str,
    next: u32,
    src: Option<i64>,
    dest: Option<i64>,
    return_type: Option<i64>,
) -> PickingType {
    PickingType {
        id,
        name: name.to_owned(),
        code: code.to_owned(),
        sequence_code: seq.to_owned(),
        prefix: format!("WH/{seq}/"),
        next_number: next,
        sequence: id,
        default_location_src_id: src,
        default_location_dest_id: dest,
        warehouse_id: Some(1),
        return_picking_type_id: return_type,
        default_location_return_id: None,
        create_backorder: "ask".to_owned(),
        use_create_lots: code == "incoming",
        use_existing_lots: code != "incoming",
        active: true,
        write_date: 0,
    }
}

/// Well-known `res.groups` ids. Internal User (1) and Inventory Administrator (38) are the ids
/// of the lab server (transcript 26 looks them up by external id); the others only need to be
/// stable. Their names are the `category/name` AccessError messages list.
pub mod groups {
    /// `base.group_user`, User types/Internal User.
    pub const INTERNAL_USER: i64 = 1;
    /// `base.group_system`, Administration/Settings.
    pub const SETTINGS: i64 = 2;
    /// `base.group_erp_manager`, Administration/Access Rights.
    pub const ACCESS_RIGHTS: i64 = 3;
    /// `base.group_portal`, User types/Portal.
    pub const PORTAL: i64 = 10;
    /// `account.group_account_invoice`, Invoicing/Billing.
    pub const BILLING: i64 = 20;
    /// `account.group_account_manager`, Invoicing/Billing Administrator.
    pub const BILLING_ADMIN: i64 = 21;
    /// `account.group_account_readonly`, Technical/Show Accounting Features - Readonly.
    pub const ACCOUNTING_READONLY: i64 = 22;
    /// `sales_team.group_sale_salesman`, Sales/User: Own Documents Only.
    pub const SALES_OWN: i64 = 30;
    /// `sales_team.group_sale_salesman_all_leads`, Sales/User: All Documents.
    pub const SALES_ALL: i64 = 31;
    /// `sales_team.group_sale_manager`, Sales/Administrator.
    pub const SALES_ADMIN: i64 = 32;
    /// `purchase.group_purchase_user`, Purchase/User.
    pub const PURCHASE_USER: i64 = 33;
    /// `purchase.group_purchase_manager`, Purchase/Administrator.
    pub const PURCHASE_ADMIN: i64 = 34;
    /// `stock.group_stock_user`, Inventory/User.
    pub const STOCK_USER: i64 = 37;
    /// `stock.group_stock_manager`, Inventory/Administrator.
    pub const STOCK_MANAGER: i64 = 38;

    /// One seeded group: id, module, xml name, category, name, implied groups.
    pub(crate) type Seeded = (
        i64,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [i64],
    );

    /// Every seeded group.
    pub(crate) const ALL: &[Seeded] = &[
        (INTERNAL_USER, "base", "group_user", "User types", "Internal User", &[]),
        (
            SETTINGS,
            "base",
            "group_system",
            "Administration",
            "Settings",
            &[ACCESS_RIGHTS],
        ),
        (
            ACCESS_RIGHTS,
            "base",
            "group_erp_manager",
            "Administration",
            "Access Rights",
            &[],
        ),
        (PORTAL, "base", "group_portal", "User types", "Portal", &[]),
        (BILLING, "account", "group_account_invoice", "Invoicing", "Billing", &[]),
        (
            BILLING_ADMIN,
            "account",
            "group_account_manager",
            "Invoicing",
            "Billing Administrator",
            &[BILLING],
        ),
        (
            ACCOUNTING_READONLY,
            "account",
            "group_account_readonly",
            "Technical",
            "Show Accounting Features - Readonly",
            &[],
        ),
        (
            SALES_OWN,
            "sales_team",
            "group_sale_salesman",
            "Sales",
            "User: Own Documents Only",
            &[],
        ),
        (
            SALES_ALL,
            "sales_team",
            "group_sale_salesman_all_leads",
            "Sales",
            "User: All Documents",
            &[SALES_OWN],
        ),
        (
            SALES_ADMIN,
            "sales_team",
            "group_sale_manager",
            "Sales",
            "Administrator",
            &[SALES_ALL],
        ),
        (
            PURCHASE_USER,
            "purchase",
            "group_purchase_user",
            "Purchase",
            "User",
            &[],
        ),
        (
            PURCHASE_ADMIN,
            "purchase",
            "group_purchase_manager",
            "Purchase",
            "Administrator",
            &[PURCHASE_USER],
        ),
        (STOCK_USER, "stock", "group_stock_user", "Inventory", "User", &[]),
        (
            STOCK_MANAGER,
            "stock",
            "group_stock_manager",
            "Inventory",
            "Administrator",
            &[STOCK_USER],
        ),
    ];

    /// The groups that may read journal entries (`account.move`), in the order Odoo lists them in
    /// the AccessError of transcript 25: a user with none of them cannot change a done move of a
    /// storable product, because `stock_account` revalues it.
    pub const READ_JOURNAL_ENTRIES: &[i64] = &[
        BILLING,
        BILLING_ADMIN,
        PURCHASE_USER,
        SALES_OWN,
        ACCOUNTING_READONLY,
        PORTAL,
    ];
}

/// A user to add with [`add_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub login: String,
    pub password: String,
    /// The email of the user's partner. Without one, anything that posts a chatter message as
    /// this user (`create_returns`, making a backorder) is a UserError.
    pub email: Option<String>,
    /// `res.groups` ids (see [`groups`]); implied groups follow.
    pub groups: Vec<i64>,
    /// An API key (JSON-2 bearer; also accepted as the JSON-RPC password).
    pub api_key: Option<String>,
}

impl NewUser {
    /// An internal user with Inventory Administrator rights and nothing else — in particular no
    /// accounting rights — like the lab's `returns-edge` user: password = login, email
    /// `<login>@example.com`.
    pub fn inventory_manager(login: &str, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            login: login.to_owned(),
            password: login.to_owned(),
            email: Some(format!("{login}@example.com")),
            groups: vec![groups::INTERNAL_USER, groups::STOCK_MANAGER],
            api_key: None,
        }
    }

    /// The same user without an email (transcript 26's `returns-noemail`).
    pub fn without_email(self) -> Self {
        Self { email: None, ..self }
    }

    /// The same user with accounting rights too (Invoicing/Billing), so that it may change done
    /// moves as the admin can.
    pub fn with_accounting(mut self) -> Self {
        self.groups.push(groups::BILLING);
        self
    }

    /// The same user with an API key.
    pub fn with_api_key(self, key: &str) -> Self {
        Self {
            api_key: Some(key.to_owned()),
            ..self
        }
    }
}

/// Adds a user (and its partner); returns the uid.
pub fn add_user(db: &mut Database, user: &NewUser) -> i64 {
    let now = db.now;
    let partner_id = db.partners.insert_with(|id| Partner {
        id,
        email: user.email.clone(),
        create_date: now,
        write_date: now,
        ..partner(id, &user.name, None, false)
    });
    db.users.insert_with(|id| User {
        id,
        name: user.name.clone(),
        login: user.login.clone(),
        password: user.password.clone(),
        api_keys: user.api_key.iter().cloned().collect(),
        partner_id,
        tz: "Europe/Brussels".into(),
        lang: "en_US".into(),
        groups: user.groups.clone(),
        active: true,
        write_date: now,
    })
}

fn product(id: i64, name: &str, code: &str, tracking: &str, weight: f64) -> Product {
    Product {
        id,
        name: name.to_owned(),
        default_code: Some(code.to_owned()),
        barcode: None,
        tracking: tracking.to_owned(),
        detailed_type: "product".to_owned(),
        weight,
        list_price: 100.0,
        uom_id: 1,
        active: true,
        create_date: 0,
        write_date: 0,
    }
}

/// Builds the database of `seed`, with the given credentials for `admin`.
pub fn build(seed: Seed, password: &str, api_key: &str, now: i64, sms_confirmation: bool) -> (Database, SeedIds) {
    let mut db = Database {
        delivery_module: false,
        now,
        uid: 2,
        company: Company {
            id: 1,
            name: "My Company (San Francisco)".into(),
            partner_id: 1,
            stock_move_sms_validation: sms_confirmation,
            has_received_warning_stock_sms: false,
            write_date: now,
        },
        warehouse: Warehouse {
            id: 1,
            name: "YourCompany".into(),
            code: "WH".into(),
            view_location_id: 7,
            lot_stock_id: 8,
            in_type_id: 1,
            out_type_id: 2,
            int_type_id: 5,
        },
        users: Table::starting_at(7),
        groups: Table::starting_at(50),
        partners: Table::starting_at(60),
        locations: Table::starting_at(34),
        picking_types: Table::starting_at(10),
        products: Table::starting_at(50),
        lots: Table::starting_at(5),
        quants: Table::starting_at(3),
        sale_orders: Table::starting_at(25),
        sale_lines: Table::starting_at(51),
        sale_sequence: 25,
        pickings: Table::starting_at(26),
        moves: Table::starting_at(48),
        move_lines: Table::starting_at(39),
        scraps: Table::starting_at(2),
        scrap_sequence: 1,
        return_wizards: Table::default(),
        return_lines: Table::default(),
        backorder_wizards: Table::default(),
        backorder_lines: Table::default(),
        sms_wizards: Table::default(),
        scrap_warnings: Table::default(),
        model_data: Table::default(),
        config_params: Table::default(),
        config_settings: Table::default(),
    };
    db.users.insert_at(
        2,
        User {
            id: 2,
            name: "Mitchell Admin".into(),
            login: "admin".into(),
            password: password.into(),
            api_keys: vec![api_key.into()],
            partner_id: 3,
            tz: "Europe/Brussels".into(),
            lang: "en_US".into(),
            // Odoo's admin has every right (and the technical groups these imply).
            groups: groups::ALL
                .iter()
                .map(|g| g.0)
                .filter(|g| *g != groups::PORTAL)
                .collect(),
            active: true,
            write_date: now,
        },
    );
    db.users.insert_at(
        6,
        User {
            id: 6,
            name: "Marc Demo".into(),
            login: "demo".into(),
            password: "demo".into(),
            api_keys: vec![format!("{api_key}-demo")],
            partner_id: 7,
            tz: "Europe/Brussels".into(),
            lang: "en_US".into(),
            // Marc Demo: an internal user with the demo data's user rights, no administration.
            groups: vec![
                groups::INTERNAL_USER,
                groups::STOCK_USER,
                groups::SALES_OWN,
                groups::PURCHASE_USER,
            ],
            active: true,
            write_date: now,
        },
    );
    for p in [
        partner(1, "My Company (San Francisco)", Some("+1 555-555-5556"), true),
        Partner {
            email: Some("admin@yourcompany.example.com".into()),
            ..partner(3, "Mitchell Admin", None, false)
        },
        Partner {
            email: Some("mark.brown23@example.com".into()),
            ..partner(7, "Marc Demo", None, false)
        },
        partner(10, "Deco Addict", Some("(603)-996-3829"), true),
        partner(11, "Gemini Furniture", Some("(941)-284-4875"), true),
        partner(12, "Azure Interior", Some("(870)-931-0505"), true),
    ] {
        db.partners.insert_at(p.id, p);
    }
    for l in [
        location(1, "Physical Locations", None, "view", None),
        location(2, "Partners", None, "view", None),
        location(3, "Virtual Locations", None, "view", None),
        location(4, "Vendors", Some(2), "supplier", None),
        location(5, "Customers", Some(2), "customer", None),
        location(7, "WH", Some(1), "view", None),
        location(8, "Stock", Some(7), "internal", Some("WH-STOCK")),
        location(14, "Inventory adjustment", Some(3), "inventory", None),
        location(15, "Production", Some(3), "production", None),
        Location {
            scrap_location: true,
            ..location(16, "Scrap", Some(3), "inventory", None)
        },
        location(17, "Shelf 2", Some(8), "internal", None),
        location(18, "Shelf 1", Some(8), "internal", None),
    ] {
        db.locations.insert_at(l.id, l);
    }
    // The lab server had issued WH/IN/00001..06 and WH/OUT/00001..11 before the transcripts.
    db.picking_types
        .insert_at(1, picking_type(1, "Receipts", "incoming", "IN", 7, None, Some(8), None));
    db.picking_types.insert_at(
        2,
        picking_type(2, "Delivery Orders", "outgoing", "OUT", 12, Some(8), None, Some(1)),
    );
    db.picking_types.insert_at(
        5,
        picking_type(5, "Internal Transfers", "internal", "INT", 1, Some(8), Some(8), None),
    );
    db.picking_types.next_id = 10;
    for p in [
        product(5, "Four Person Desk", "FURN_8220", "none", 40.0),
        product(17, "Large Cabinet", "E-COM07", "none", 25.0),
        product(18, "Storage Box", "E-COM08", "none", 1.5),
        product(20, "Pedal Bin", "E-COM10", "none", 2.0),
        product(31, "Acoustic Bloc Screens", "FURN_6666", "none", 8.0),
        product(36, "Cable Management Box", "FURN_5555", "lot", 0.4),
        product(40, "Handheld Barcode Scanner", "SCAN-01", "serial", 0.3),
    ] {
        db.products.insert_at(p.id, p);
    }
    for (id, name) in [(2, "LOT-000001"), (3, "CM-BOX-00001"), (4, "CM-BOX-00002")] {
        db.lots.insert_at(
            id,
            Lot {
                id,
                name: name.into(),
                product_id: 36,
                reference: None,
                create_date: 0,
                write_date: 0,
            },
        );
    }
    let quant = |db: &mut Database, product: i64, location: i64, lot: Option<i64>, qty: f64| {
        stock::update_quant(db, product, location, lot, qty);
    };
    quant(&mut db, 17, 8, None, 500.0);
    quant(&mut db, 18, 8, None, 120.0);
    quant(&mut db, 20, 8, None, 60.0);
    quant(&mut db, 31, 8, None, 16.0);
    quant(&mut db, 36, 17, Some(3), 50.0);
    quant(&mut db, 36, 17, Some(4), 40.0);
    for n in 1..=5 {
        let lot = db.lots.insert_with(|id| Lot {
            id,
            name: format!("SN-{n:04}"),
            product_id: 40,
            reference: None,
            create_date: 0,
            write_date: 0,
        });
        quant(&mut db, 40, 8, Some(lot), 1.0);
    }
    for (module, name, model, res_id) in [
        ("base", "main_company", "res.company", 1),
        ("base", "user_admin", "res.users", 2),
        ("base", "user_demo", "res.users", 6),
        ("uom", "product_uom_unit", "uom.uom", 1),
        ("stock", "warehouse0", "stock.warehouse", 1),
        ("stock", "stock_location_suppliers", "stock.location", 4),
        ("stock", "stock_location_customers", "stock.location", 5),
        ("stock", "stock_location_stock", "stock.location", 8),
        ("stock", "stock_location_scrapped", "stock.location", 16),
        ("stock", "picking_type_in", "stock.picking.type", 1),
        ("stock", "picking_type_out", "stock.picking.type", 2),
        ("stock", "picking_type_internal", "stock.picking.type", 5),
    ] {
        db.model_data.insert_with(|id| ModelData {
            id,
            module: module.into(),
            name: name.into(),
            model: model.into(),
            res_id,
            noupdate: true,
        });
    }
    for (id, module, xml_name, category, name, implied) in groups::ALL {
        db.groups.insert_at(
            *id,
            Group {
                id: *id,
                category: (*category).into(),
                name: (*name).into(),
                implied: implied.to_vec(),
            },
        );
        db.model_data.insert_with(|data_id| ModelData {
            id: data_id,
            module: (*module).into(),
            name: (*xml_name).into(),
            model: "res.groups".into(),
            res_id: *id,
            noupdate: true,
        });
    }
    db.groups.next_id = 50;
    // The lab's next external id was 23240 (transcript 10); the seeded ones sit below it.
    db.model_data.next_id = 23240;
    db.config_params.insert_with(|id| ConfigParam {
        id,
        key: "web.base.url".into(),
        value: "http://localhost:8069".into(),
    });
    db.config_params.insert_with(|id| ConfigParam {
        id,
        key: "database.uuid".into(),
        value: "8f1d2c9e-0000-4000-8000-returnsedge00".into(),
    });

    let mut ids = SeedIds {
        company: 1,
        admin_uid: 2,
        demo_uid: 6,
        warehouse: 1,
        vendors_location: 4,
        customers_location: 5,
        warehouse_view_location: 7,
        stock_location: 8,
        inventory_adjustment_location: 14,
        scrap_location: 16,
        shelf1_location: 18,
        shelf2_location: 17,
        returns_location: None,
        quarantine_location: None,
        refurbish_location: None,
        receipts_type: 1,
        delivery_type: 2,
        internal_type: 5,
        large_cabinet: 17,
        storage_box: 18,
        pedal_bin: 20,
        acoustic_screens: 31,
        four_person_desk: 5,
        cable_box: 36,
        scanner: 40,
        deco_addict: 10,
        gemini_furniture: 11,
        azure_interior: 12,
        deliveries: Vec::new(),
    };
    if seed == Seed::Warehouse {
        let returns = Location {
            return_location: true,
            ..location(34, "Returns", Some(7), "internal", Some("WH-RETURNS"))
        };
        db.locations.insert_at(34, returns);
        db.locations.insert_at(
            35,
            location(35, "Quarantine", Some(7), "internal", Some("WH-QUARANTINE")),
        );
        db.locations
            .insert_at(36, location(36, "Refurbish", Some(7), "internal", Some("WH-REFURB")));
        ids.returns_location = Some(34);
        ids.quarantine_location = Some(35);
        ids.refurbish_location = Some(36);
        // The rest of the sink's default disposition targets, which a site creates once like
        // WH/Refurbish (README, "Odoo side, once per site").
        for (name, barcode) in [
            ("Recycle", "WH-RECYCLE"),
            ("Liquidation", "WH-LIQUIDATION"),
            ("Donations", "WH-DONATIONS"),
        ] {
            add_location(&mut db, name, 7, "internal", Some(barcode));
        }
        for (id, barcode) in [
            (5, "4006381333900"),
            (17, "4006381333931"),
            (18, "4006381333948"),
            (20, "4006381333955"),
            (31, "4006381333962"),
            (36, "4006381333979"),
            (40, "4006381333986"),
        ] {
            if let Some(p) = db.products.get_mut(id) {
                p.barcode = Some(barcode.into());
            }
        }
        for lines in [vec![(17, 4.0), (18, 2.0)], vec![(36, 2.0)], vec![(40, 1.0)]] {
            if let Ok(d) = add_delivery(&mut db, 10, &lines) {
                ids.deliveries.push(d);
            }
        }
    }
    (db, ids)
}

/// Adds a product; returns its id.
pub fn add_product(db: &mut Database, p: &NewProduct) -> i64 {
    let now = db.now;
    db.products.insert_with(|id| Product {
        id,
        name: p.name.clone(),
        default_code: p.default_code.clone(),
        barcode: p.barcode.clone(),
        tracking: p.tracking.clone(),
        detailed_type: "product".into(),
        weight: p.weight,
        list_price: 100.0,
        uom_id: 1,
        active: true,
        create_date: now,
        write_date: now,
    })
}

/// Adds a lot (or serial number) of a product; returns its id.
pub fn add_lot(db: &mut Database, product_id: i64, name: &str) -> i64 {
    let now = db.now;
    db.lots.insert_with(|id| Lot {
        id,
        name: name.into(),
        product_id,
        reference: None,
        create_date: now,
        write_date: now,
    })
}

/// Sets the quantity of a product (and lot) in a location; returns the quant id.
pub fn set_quant(db: &mut Database, product_id: i64, location_id: i64, lot_id: Option<i64>, quantity: f64) -> i64 {
    let current = db
        .quants
        .values()
        .find(|q| q.product_id == product_id && q.location_id == location_id && q.lot_id == lot_id)
        .map_or(0.0, |q| q.quantity);
    stock::update_quant(db, product_id, location_id, lot_id, quantity - current);
    db.quants
        .values()
        .find(|q| q.product_id == product_id && q.location_id == location_id && q.lot_id == lot_id)
        .map_or(0, |q| q.id)
}

/// Adds a customer; returns its id.
pub fn add_partner(db: &mut Database, name: &str) -> i64 {
    let now = db.now;
    db.partners.insert_with(|id| Partner {
        id,
        create_date: now,
        write_date: now,
        ..partner(id, name, None, true)
    })
}

/// Adds a location under `parent`; returns its id.
pub fn add_location(db: &mut Database, name: &str, parent: i64, usage: &str, barcode: Option<&str>) -> i64 {
    let now = db.now;
    db.locations.insert_with(|id| Location {
        create_date: now,
        write_date: now,
        ..location(id, name, Some(parent), usage, barcode)
    })
}

/// Makes a confirmed sale order of `lines` (product, quantity) for `partner` and validates its
/// delivery in full (without the SMS question), as if it had shipped before the test.
pub fn add_delivery(db: &mut Database, partner_id: i64, lines: &[(i64, f64)]) -> Result<DoneDelivery, OdooError> {
    let now = db.now;
    let name = format!("S{:05}", db.sale_sequence);
    db.sale_sequence += 1;
    let order = db.sale_orders.insert_with(|id| super::db::SaleOrder {
        id,
        name: name.clone(),
        state: "draft".into(),
        partner_id,
        client_order_ref: None,
        origin: None,
        date_order: now,
        create_date: now,
        write_date: now,
    });
    for (product_id, qty) in lines {
        let line_name = db.product_display_name(*product_id);
        db.sale_lines.insert_with(|id| super::db::SaleLine {
            id,
            order_id: order,
            product_id: *product_id,
            name: line_name,
            product_uom_qty: *qty,
            price_unit: db.products.get(*product_id).map_or(0.0, |p| p.list_price),
            write_date: now,
        });
    }
    let picking = stock::confirm_sale_order(db, order)?
        .ok_or_else(|| OdooError::User("add_delivery: nothing to deliver".into()))?;
    let moves = db.picking_moves(picking);
    for m in &moves {
        let demand = db.moves[m].product_uom_qty;
        if db.move_quantity(*m) + 1e-6 < demand {
            return Err(OdooError::User(format!(
                "add_delivery: not enough {} in stock",
                db.product_display_name(db.moves[m].product_id)
            )));
        }
    }
    let mut ctx = super::fields::Context::new();
    ctx.insert("skip_sms".into(), serde_json::Value::Bool(true));
    let mut env = super::orm::Env {
        db: &mut *db,
        uid: 2,
        ctx,
    };
    stock::button_validate(&mut env, &[picking])?;
    Ok(DoneDelivery {
        sale_order_id: order,
        sale_order_name: name,
        picking_id: picking,
        picking_name: db.pickings[&picking].name.clone(),
        move_ids: moves,
    })
}

/// A sale of `lines` to `partner`, its delivery done, and a return of all of it opened with the
/// return wizard exactly as a user does it over RPC (transcript 04: create with the delivery in
/// the context, then write the return location, then `create_returns`), into `returns_location`
/// when the seed has one. Then the spec's fields are written like a user would.
pub fn add_return(
    db: &mut Database,
    partner_id: i64,
    lines: &[(i64, f64)],
    returns_location: Option<i64>,
    spec: &ReturnSpec,
) -> Result<OpenReturn, OdooError> {
    use serde_json::{json, Map, Value};

    let delivery = add_delivery(db, partner_id, lines)?;
    let admin = 2;
    let call = |db: &mut Database, model: &str, method: &str, args: Value, kwargs: Value| {
        let args = match args {
            Value::Array(items) => items,
            other => vec![other],
        };
        let kwargs: Map<String, Value> = match kwargs {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        super::dispatch::execute(
            db,
            admin,
            super::dispatch::Invocation {
                model: model.to_owned(),
                method: method.to_owned(),
                ids: None,
                args,
                kwargs,
            },
        )
    };
    let picking = delivery.picking_id;
    let context = json!({"active_id": picking, "active_ids": [picking], "active_model": "stock.picking"});
    if let Some(order) = db.sale_orders.get_mut(delivery.sale_order_id) {
        order.client_order_ref.clone_from(&spec.client_order_ref);
    }
    if let Some(tracking) = &spec.delivery_tracking {
        call(
            db,
            "stock.picking",
            "write",
            json!([[picking], {"carrier_tracking_ref": tracking}]),
            json!({}),
        )?;
    }
    let wizard = call(
        db,
        "stock.return.picking",
        "create",
        json!([[{}]]),
        json!({"context": context}),
    )?;
    let wizard = match &wizard {
        Value::Array(ids) => ids.first().and_then(Value::as_i64),
        other => other.as_i64(),
    }
    .ok_or_else(|| OdooError::User(format!("add_return: the wizard create answered {wizard}")))?;
    if let Some(location) = returns_location {
        call(
            db,
            "stock.return.picking",
            "write",
            json!([[wizard], {"location_id": location}]),
            json!({}),
        )?;
    }
    let action = call(
        db,
        "stock.return.picking",
        "create_returns",
        json!([[wizard]]),
        json!({"context": context}),
    )?;
    let returned = action
        .get("res_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| OdooError::User(format!("add_return: create_returns answered {action}")))?;
    let mut vals = Map::new();
    if let Some(rma) = &spec.rma {
        vals.insert("origin".into(), json!(rma));
    }
    if let Some(tracking) = &spec.return_tracking {
        vals.insert("carrier_tracking_ref".into(), json!(tracking));
    }
    if !vals.is_empty() {
        call(
            db,
            "stock.picking",
            "write",
            json!([[returned], Value::Object(vals)]),
            json!({}),
        )?;
    }
    Ok(OpenReturn {
        delivery,
        picking_name: db.pickings[&returned].name.clone(),
        picking_id: returned,
    })
}
