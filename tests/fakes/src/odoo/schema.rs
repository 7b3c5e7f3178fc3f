//! The static description of every model the fake knows: its fields (name, type, label, and for
//! relational fields the comodel), its default order, its access rules for non-admin users, and
//! its public methods beyond the ORM ones. Field *values* live in `fields.rs`; this file only
//! says what exists, so that "Invalid field" and "does not exist" errors match Odoo.

/// The type of a field, as `fields_get` reports it, with the comodel of relational fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Integer,
    Float,
    Char,
    Text,
    Html,
    Boolean,
    Selection,
    Datetime,
    Many2one(&'static str),
    One2many(&'static str),
    Many2many(&'static str),
}

impl Ty {
    /// The `type` string of `fields_get`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ty::Integer => "integer",
            Ty::Float => "float",
            Ty::Char => "char",
            Ty::Text => "text",
            Ty::Html => "html",
            Ty::Boolean => "boolean",
            Ty::Selection => "selection",
            Ty::Datetime => "datetime",
            Ty::Many2one(_) => "many2one",
            Ty::One2many(_) => "one2many",
            Ty::Many2many(_) => "many2many",
        }
    }

    /// The comodel of a relational field.
    pub fn comodel(self) -> Option<&'static str> {
        match self {
            Ty::Many2one(m) | Ty::One2many(m) | Ty::Many2many(m) => Some(m),
            _ => None,
        }
    }
}

/// One field, with the attributes `fields_get` describes.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: Ty,
    pub string: &'static str,
    pub readonly: bool,
    /// `required`.
    pub required: bool,
    /// `store`: false for fields Odoo computes on the fly (`qty_available`, `return_count`…).
    pub store: bool,
    /// The `domain` of a relational field as Odoo's source declares it when it is a string
    /// (`fields_get` then shows that text); `None` shows `[]`.
    pub domain: Option<&'static str>,
}

impl FieldDef {
    /// The same field, required.
    const fn required(self) -> Self {
        FieldDef { required: true, ..self }
    }

    /// The same field, computed and not stored.
    const fn computed(self) -> Self {
        FieldDef { store: false, ..self }
    }

    /// The same field with a domain declared as text.
    const fn domain(self, domain: &'static str) -> Self {
        FieldDef {
            domain: Some(domain),
            ..self
        }
    }
}

/// Who may do what: the groups named in AccessError messages for non-admin users.
#[derive(Debug, Clone, Copy)]
pub struct Acl {
    /// Group required to read, when reading is restricted.
    pub read: Option<&'static str>,
    /// Group required to create, write and unlink.
    pub write: Option<&'static str>,
}

/// One model.
#[derive(Debug, Clone, Copy)]
pub struct ModelDef {
    pub name: &'static str,
    /// `_description`, used in AccessError and NOT NULL messages.
    pub description: &'static str,
    /// The Python class name, used in TypeError messages.
    pub class: &'static str,
    /// `_order`.
    pub order: &'static str,
    pub fields: &'static [FieldDef],
    /// Public methods beyond the ORM ones.
    pub methods: &'static [&'static str],
    pub acl: Acl,
    /// Whether an `active` field filters searches by default.
    pub has_active: bool,
}

impl ModelDef {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn f(name: &'static str, ty: Ty, string: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        string,
        readonly: false,
        required: false,
        store: true,
        domain: None,
    }
}

const fn ro(name: &'static str, ty: Ty, string: &'static str) -> FieldDef {
    FieldDef {
        readonly: true,
        ..f(name, ty, string)
    }
}

use Ty::*;

const OPEN: Acl = Acl {
    read: None,
    write: None,
};
const INVENTORY_ADMIN: Acl = Acl {
    read: None,
    write: Some("Inventory/Administrator"),
};
const SETTINGS: Acl = Acl {
    read: Some("Administration/Settings"),
    write: Some("Administration/Settings"),
};
const ACCESS_RIGHTS: Acl = Acl {
    read: None,
    write: Some("Administration/Access Rights"),
};

/// The ORM methods every model answers.
pub const ORM_METHODS: &[&str] = &[
    "search",
    "search_read",
    "search_count",
    "read",
    "create",
    "write",
    "unlink",
    "fields_get",
    "name_search",
    "check_access_rights",
    "export_data",
    "default_get",
];

/// Real Odoo methods present on every model that the fake does not emulate: calling one is a
/// `NotImplementedError`, not an `AttributeError`, so a gap of the fake is never mistaken for Odoo.
pub const NOT_EMULATED: &[&str] = &[
    "copy",
    "name_create",
    "read_group",
    "web_read",
    "web_search_read",
    "web_save",
    "onchange",
    "load",
    "exists",
    "toggle_active",
    "action_archive",
    "action_unarchive",
    "message_post",
    "get_metadata",
];

/// Fields that exist only when an Odoo module is installed: (model, field, module). The static
/// schema lists them; [`Database::field_installed`](super::db::Database::field_installed) says
/// whether this database has them, and `dispatch` refuses or drops them like Odoo when not.
pub const MODULE_FIELDS: &[(&str, &str, &str)] = &[("stock.picking", "carrier_tracking_ref", "delivery")];

/// The module that adds `field` to `model`, when it is not part of the base schema.
pub fn module_of(model: &str, field: &str) -> Option<&'static str> {
    MODULE_FIELDS
        .iter()
        .find(|(m, f, _)| *m == model && *f == field)
        .map(|(_, _, module)| *module)
}

/// Every model, by name.
pub fn model(name: &str) -> Option<&'static ModelDef> {
    MODELS.iter().find(|m| m.name == name)
}

/// All models.
pub static MODELS: &[ModelDef] = &[
    ModelDef {
        name: "res.company",
        description: "Companies",
        class: "Company",
        order: "sequence, name",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Company Name"),
            f("partner_id", Many2one("res.partner"), "Partner"),
            ro("display_name", Char, "Display Name"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "res.users",
        description: "User",
        class: "Users",
        order: "name, login",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Name"),
            f("login", Char, "Login").required(),
            // Write-only: Odoo reads it as "".
            f("password", Char, "Password").computed(),
            f("partner_id", Many2one("res.partner"), "Related Partner").required(),
            // The partner's email (an `_inherits` field).
            f("email", Char, "Email").computed(),
            f("groups_id", Many2many("res.groups"), "Groups"),
            ro("share", Boolean, "Share User"),
            f("company_id", Many2one("res.company"), "Company"),
            f("tz", Selection, "Timezone"),
            f("lang", Selection, "Language"),
            f("active", Boolean, "Active"),
            ro("display_name", Char, "Display Name"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        // Creating and changing users needs Access Rights (but see `dispatch::own_preferences`).
        acl: ACCESS_RIGHTS,
        has_active: true,
    },
    ModelDef {
        name: "res.groups",
        description: "Access Groups",
        class: "Groups",
        order: "name",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Name").required(),
            ro("full_name", Char, "Group Name").computed(),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &[],
        acl: ACCESS_RIGHTS,
        has_active: false,
    },
    ModelDef {
        name: "res.partner",
        description: "Contact",
        class: "Partner",
        order: "complete_name ASC, id DESC",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Name"),
            ro("complete_name", Char, "Complete Name"),
            f("email", Char, "Email"),
            f("phone", Char, "Phone"),
            f("mobile", Char, "Mobile"),
            f("ref", Char, "Reference"),
            f("street", Char, "Street"),
            f("city", Char, "City"),
            f("zip", Char, "Zip"),
            f("is_company", Boolean, "Is a Company"),
            f("parent_id", Many2one("res.partner"), "Related Company"),
            f("company_id", Many2one("res.company"), "Company"),
            f("active", Boolean, "Active"),
            ro("display_name", Char, "Display Name"),
            ro("create_date", Datetime, "Created on"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: true,
    },
    ModelDef {
        name: "res.currency",
        description: "Currency",
        class: "Currency",
        order: "active desc, name",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Currency"),
            f("symbol", Char, "Symbol"),
            f("decimal_places", Integer, "Decimal Places"),
            f("rounding", Float, "Rounding Factor"),
            f("active", Boolean, "Active"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: true,
    },
    ModelDef {
        name: "uom.uom",
        description: "Product Unit of Measure",
        class: "UoM",
        order: "factor DESC, id",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Unit of Measure"),
            f("rounding", Float, "Rounding Precision"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.warehouse",
        description: "Warehouse",
        class: "Warehouse",
        order: "sequence,id",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Warehouse"),
            f("code", Char, "Short Name"),
            f("company_id", Many2one("res.company"), "Company"),
            f("view_location_id", Many2one("stock.location"), "View Location"),
            f("lot_stock_id", Many2one("stock.location"), "Location Stock"),
            f("in_type_id", Many2one("stock.picking.type"), "In Type"),
            f("out_type_id", Many2one("stock.picking.type"), "Out Type"),
            f("int_type_id", Many2one("stock.picking.type"), "Internal Type"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &[],
        acl: INVENTORY_ADMIN,
        has_active: false,
    },
    ModelDef {
        name: "stock.location",
        description: "Inventory Locations",
        class: "Location",
        order: "complete_name, id",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Location Name").required(),
            ro("complete_name", Char, "Full Location Name"),
            f("location_id", Many2one("stock.location"), "Parent Location"),
            ro("child_ids", One2many("stock.location"), "Contains"),
            f("usage", Selection, "Location Type").required(),
            f("barcode", Char, "Barcode"),
            f("return_location", Boolean, "Is a Return Location?"),
            f("scrap_location", Boolean, "Is a Scrap Location?"),
            f("active", Boolean, "Active"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("warehouse_id", Many2one("stock.warehouse"), "Warehouse"),
            ro("display_name", Char, "Display Name"),
            ro("create_date", Datetime, "Created on"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: INVENTORY_ADMIN,
        has_active: true,
    },
    ModelDef {
        name: "stock.picking.type",
        description: "Picking Type",
        class: "PickingType",
        order: "sequence, id",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Operation Type").required(),
            f("code", Selection, "Type of Operation").required(),
            f("sequence_code", Char, "Sequence Prefix").required(),
            f("sequence", Integer, "Sequence"),
            f(
                "default_location_src_id",
                Many2one("stock.location"),
                "Default Source Location",
            ),
            f(
                "default_location_dest_id",
                Many2one("stock.location"),
                "Default Destination Location",
            ),
            f("warehouse_id", Many2one("stock.warehouse"), "Warehouse"),
            f(
                "return_picking_type_id",
                Many2one("stock.picking.type"),
                "Operation Type for Returns",
            ),
            f(
                "default_location_return_id",
                Many2one("stock.location"),
                "Default returns location",
            )
            .domain("[('return_location', '=', True)]"),
            f("create_backorder", Selection, "Create Backorder"),
            f("use_create_lots", Boolean, "Create New Lots/Serial Numbers"),
            f("use_existing_lots", Boolean, "Use Existing Lots/Serial Numbers"),
            f("active", Boolean, "Active"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("display_name", Char, "Display Name"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: INVENTORY_ADMIN,
        has_active: true,
    },
    ModelDef {
        name: "product.product",
        description: "Product Variant",
        class: "ProductProduct",
        order: "priority desc, default_code, name, id",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Name").required(),
            f("default_code", Char, "Internal Reference"),
            f("barcode", Char, "Barcode"),
            f("tracking", Selection, "Tracking"),
            f("detailed_type", Selection, "Product Type"),
            f("type", Selection, "Type"),
            f("weight", Float, "Weight"),
            f("list_price", Float, "Sales Price"),
            f("uom_id", Many2one("uom.uom"), "Unit of Measure"),
            f("uom_po_id", Many2one("uom.uom"), "Purchase Unit of Measure"),
            ro("qty_available", Float, "Quantity On Hand").computed(),
            ro("free_qty", Float, "Free To Use Quantity ").computed(),
            f("active", Boolean, "Active"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("priority", Selection, "Favorite"),
            ro("display_name", Char, "Display Name"),
            ro("create_date", Datetime, "Created on"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: true,
    },
    ModelDef {
        name: "stock.lot",
        description: "Lot/Serial",
        class: "StockLot",
        order: "name, id",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Lot/Serial Number").required(),
            f("product_id", Many2one("product.product"), "Product").required(),
            f("ref", Char, "Internal Reference"),
            ro("product_qty", Float, "On Hand Quantity").computed(),
            ro("quant_ids", One2many("stock.quant"), "Quants"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("display_name", Char, "Display Name"),
            ro("create_date", Datetime, "Created on"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.quant",
        description: "Quants",
        class: "StockQuant",
        order: "id",
        fields: &[
            ro("id", Integer, "ID"),
            f("product_id", Many2one("product.product"), "Product").required(),
            f("location_id", Many2one("stock.location"), "Location").required(),
            f("lot_id", Many2one("stock.lot"), "Lot/Serial Number"),
            ro("quantity", Float, "Quantity"),
            ro("reserved_quantity", Float, "Reserved Quantity"),
            ro("available_quantity", Float, "Available Quantity").computed(),
            f("inventory_quantity", Float, "Counted Quantity"),
            f("inventory_quantity_set", Boolean, "Inventory Quantity Set"),
            f("inventory_quantity_auto_apply", Float, "Inventoried Quantity").computed(),
            ro("inventory_diff_quantity", Float, "Difference"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("in_date", Datetime, "Incoming Date"),
            ro("display_name", Char, "Display Name"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &["action_apply_inventory"],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "sale.order",
        description: "Sales Order",
        class: "SaleOrder",
        order: "date_order desc, id desc",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Order Reference").required(),
            ro("state", Selection, "Status"),
            f("partner_id", Many2one("res.partner"), "Customer").required(),
            f("client_order_ref", Char, "Customer Reference"),
            f("origin", Char, "Source Document"),
            ro("currency_id", Many2one("res.currency"), "Currency"),
            f("date_order", Datetime, "Order Date"),
            f("order_line", One2many("sale.order.line"), "Order Lines"),
            ro("picking_ids", One2many("stock.picking"), "Transfers"),
            ro("delivery_count", Integer, "Delivery Orders").computed(),
            ro("delivery_status", Selection, "Delivery Status"),
            f("company_id", Many2one("res.company"), "Company"),
            f("warehouse_id", Many2one("stock.warehouse"), "Warehouse"),
            ro("display_name", Char, "Display Name"),
            ro("create_date", Datetime, "Created on"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &["action_confirm"],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "sale.order.line",
        description: "Sales Order Line",
        class: "SaleOrderLine",
        order: "order_id, sequence, id",
        fields: &[
            ro("id", Integer, "ID"),
            f("order_id", Many2one("sale.order"), "Order Reference"),
            f("product_id", Many2one("product.product"), "Product"),
            f("name", Text, "Description"),
            f("product_uom_qty", Float, "Quantity"),
            f("price_unit", Float, "Unit Price"),
            ro("currency_id", Many2one("res.currency"), "Currency"),
            ro("qty_delivered", Float, "Delivery Quantity"),
            f("product_uom", Many2one("uom.uom"), "Unit of Measure"),
            ro("move_ids", One2many("stock.move"), "Stock Moves"),
            ro("state", Selection, "Order Status"),
            ro("display_name", Char, "Display Name"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.picking",
        description: "Transfer",
        class: "Picking",
        order: "priority desc, scheduled_date asc, id desc",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Reference"),
            f("origin", Char, "Source Document"),
            f("note", Html, "Notes"),
            f("partner_id", Many2one("res.partner"), "Contact"),
            f("picking_type_id", Many2one("stock.picking.type"), "Operation Type").required(),
            ro("picking_type_code", Selection, "Type of Operation").computed(),
            f("location_id", Many2one("stock.location"), "Source Location").required(),
            f("location_dest_id", Many2one("stock.location"), "Destination Location").required(),
            ro("state", Selection, "Status"),
            f("move_ids", One2many("stock.move"), "Stock Moves"),
            f(
                "move_ids_without_package",
                One2many("stock.move"),
                "Stock moves not in package",
            ),
            f("move_line_ids", One2many("stock.move.line"), "Operations"),
            f("backorder_id", Many2one("stock.picking"), "Back Order of"),
            ro("backorder_ids", One2many("stock.picking"), "Back Orders"),
            f("return_id", Many2one("stock.picking"), "Return of"),
            ro("return_ids", One2many("stock.picking"), "Returns"),
            ro("return_count", Integer, "# Returns").computed(),
            f("scheduled_date", Datetime, "Scheduled Date"),
            ro("date_deadline", Datetime, "Deadline"),
            ro("date_done", Datetime, "Date of Transfer"),
            f("priority", Selection, "Priority"),
            f("move_type", Selection, "Shipping Policy"),
            ro("sale_id", Many2one("sale.order"), "Sales Order"),
            f("user_id", Many2one("res.users"), "Responsible"),
            // Only with Odoo's `delivery` module: see `module_of`.
            f("carrier_tracking_ref", Char, "Tracking Reference"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("is_locked", Boolean, "Is Locked"),
            ro("display_name", Char, "Display Name"),
            ro("create_uid", Many2one("res.users"), "Created by"),
            ro("create_date", Datetime, "Created on"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[
            "action_confirm",
            "action_assign",
            "button_validate",
            "action_cancel",
            "do_unreserve",
        ],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.move",
        description: "Stock Move",
        class: "StockMove",
        order: "sequence, id",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Description").required(),
            ro("reference", Char, "Reference"),
            f("origin", Char, "Source Document"),
            f("description_picking", Text, "Description of Picking"),
            f("product_id", Many2one("product.product"), "Product").required(),
            f("product_uom_qty", Float, "Demand").required(),
            ro("product_qty", Float, "Real Quantity"),
            f("quantity", Float, "Quantity"),
            f("product_uom", Many2one("uom.uom"), "UoM"),
            f("picked", Boolean, "Picked"),
            ro("state", Selection, "Status"),
            f("location_id", Many2one("stock.location"), "Source Location"),
            f("location_dest_id", Many2one("stock.location"), "Destination Location"),
            f("picking_id", Many2one("stock.picking"), "Transfer"),
            f("picking_type_id", Many2one("stock.picking.type"), "Operation Type"),
            f("partner_id", Many2one("res.partner"), "Destination Address "),
            f("origin_returned_move_id", Many2one("stock.move"), "Origin return move"),
            ro("returned_move_ids", One2many("stock.move"), "All returned moves"),
            f("move_orig_ids", Many2many("stock.move"), "Original Move"),
            f("move_dest_ids", Many2many("stock.move"), "Destination Moves"),
            f("to_refund", Boolean, "Update quantities on SO/PO"),
            f("sale_line_id", Many2one("sale.order.line"), "Sale Line"),
            f("move_line_ids", One2many("stock.move.line"), "Move Lines"),
            ro("lot_ids", Many2many("stock.lot"), "Serial Numbers").computed(),
            ro("scrapped", Boolean, "Scrapped"),
            ro("scrap_id", Many2one("stock.scrap"), "Scrap operation"),
            f("is_inventory", Boolean, "Inventory"),
            f("sequence", Integer, "Sequence"),
            f("procure_method", Selection, "Supply Method"),
            f("date", Datetime, "Date Scheduled"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("display_name", Char, "Display Name"),
            ro("create_date", Datetime, "Created on"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.move.line",
        description: "Product Moves (Stock Move Line)",
        class: "StockMoveLine",
        order: "result_package_id desc, id",
        fields: &[
            ro("id", Integer, "ID"),
            f("move_id", Many2one("stock.move"), "Stock Operation"),
            f("picking_id", Many2one("stock.picking"), "Transfer"),
            f("product_id", Many2one("product.product"), "Product"),
            f("quantity", Float, "Quantity"),
            f("picked", Boolean, "Picked"),
            f("location_id", Many2one("stock.location"), "From"),
            f("location_dest_id", Many2one("stock.location"), "To"),
            f("lot_id", Many2one("stock.lot"), "Lot/Serial Number"),
            f("lot_name", Char, "Lot/Serial Number Name"),
            f("product_uom_id", Many2one("uom.uom"), "Unit of Measure"),
            ro("state", Selection, "Status"),
            ro("reference", Char, "Reference"),
            f("date", Datetime, "Date"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("display_name", Char, "Display Name"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.scrap",
        description: "Scrap",
        class: "StockScrap",
        order: "id desc",
        fields: &[
            ro("id", Integer, "ID"),
            f("name", Char, "Reference"),
            f("origin", Char, "Source Document"),
            f("product_id", Many2one("product.product"), "Product"),
            f("product_uom_id", Many2one("uom.uom"), "Unit of Measure"),
            f("scrap_qty", Float, "Quantity"),
            f("location_id", Many2one("stock.location"), "Source Location"),
            f("scrap_location_id", Many2one("stock.location"), "Scrap Location"),
            f("lot_id", Many2one("stock.lot"), "Lot/Serial"),
            f("picking_id", Many2one("stock.picking"), "Picking"),
            ro("state", Selection, "Status"),
            ro("date_done", Datetime, "Date"),
            ro("move_ids", One2many("stock.move"), "Scrap Move"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("display_name", Char, "Display Name"),
            ro("create_date", Datetime, "Created on"),
            ro("write_date", Datetime, "Last Updated on"),
        ],
        methods: &["action_validate", "do_scrap"],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.return.picking",
        description: "Return Picking",
        class: "ReturnPicking",
        order: "id",
        fields: &[
            ro("id", Integer, "ID"),
            f("picking_id", Many2one("stock.picking"), "Picking"),
            f("product_return_moves", One2many("stock.return.picking.line"), "Moves"),
            f("location_id", Many2one("stock.location"), "Return Location").domain(
                "['|', ('id', '=', original_location_id), '|', '&', ('return_location', '=', True), ('company_id', '=', \
                 False), '&', ('return_location', '=', True), ('company_id', '=', company_id)]",
            ),
            f("original_location_id", Many2one("stock.location"), "Original Location"),
            f("parent_location_id", Many2one("stock.location"), "Parent Location"),
            f("move_dest_exists", Boolean, "Chained Move Exists"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &["create_returns"],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.return.picking.line",
        description: "Return Picking Line",
        class: "ReturnPickingLine",
        order: "id",
        fields: &[
            ro("id", Integer, "ID"),
            f("wizard_id", Many2one("stock.return.picking"), "Wizard"),
            f("product_id", Many2one("product.product"), "Product"),
            f("quantity", Float, "Quantity"),
            f("uom_id", Many2one("uom.uom"), "Unit of Measure"),
            f("move_id", Many2one("stock.move"), "Move"),
            f("to_refund", Boolean, "Update quantities on SO/PO"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.backorder.confirmation",
        description: "Backorder Confirmation",
        class: "StockBackorderConfirmation",
        order: "id",
        fields: &[
            ro("id", Integer, "ID"),
            f("pick_ids", Many2many("stock.picking"), "Pick"),
            f("show_transfers", Boolean, "Show Transfers"),
            f(
                "backorder_confirmation_line_ids",
                One2many("stock.backorder.confirmation.line"),
                "Backorder Confirmation Lines",
            ),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &["process", "process_cancel_backorder"],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.backorder.confirmation.line",
        description: "Backorder Confirmation Line",
        class: "StockBackorderConfirmationLine",
        order: "id",
        fields: &[
            ro("id", Integer, "ID"),
            f(
                "backorder_confirmation_id",
                Many2one("stock.backorder.confirmation"),
                "Immediate Transfer",
            ),
            f("picking_id", Many2one("stock.picking"), "Transfer"),
            f("to_backorder", Boolean, "To Backorder"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &[],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "confirm.stock.sms",
        description: "Confirm Stock SMS",
        class: "ConfirmStockSms",
        order: "id",
        fields: &[
            ro("id", Integer, "ID"),
            f("pick_ids", Many2many("stock.picking"), "Pick"),
            f("company_id", Many2one("res.company"), "Company"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &["send_sms", "dont_send_sms"],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "stock.warn.insufficient.qty.scrap",
        description: "Warn Insufficient Scrap Quantity",
        class: "StockWarnInsufficientQtyScrap",
        order: "id",
        fields: &[
            ro("id", Integer, "ID"),
            f("product_id", Many2one("product.product"), "Product"),
            f("location_id", Many2one("stock.location"), "Location"),
            f("scrap_id", Many2one("stock.scrap"), "Scrap"),
            f("quantity", Float, "Quantity"),
            f("product_uom_name", Char, "Unit of Measure"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &["action_done", "action_cancel"],
        acl: OPEN,
        has_active: false,
    },
    ModelDef {
        name: "ir.model.data",
        description: "Model Data",
        class: "IrModelData",
        order: "module, model, name",
        fields: &[
            ro("id", Integer, "ID"),
            f("module", Char, "Module"),
            f("name", Char, "External Identifier"),
            ro("complete_name", Char, "Complete ID").computed(),
            f("model", Char, "Model Name"),
            f("res_id", Integer, "Record ID"),
            f("noupdate", Boolean, "Non Updatable"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &["check_object_reference"],
        acl: ACCESS_RIGHTS,
        has_active: false,
    },
    ModelDef {
        name: "ir.config_parameter",
        description: "System Parameter",
        class: "IrConfigParameter",
        order: "key",
        fields: &[
            ro("id", Integer, "ID"),
            f("key", Char, "Key"),
            f("value", Text, "Value"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &[],
        acl: SETTINGS,
        has_active: false,
    },
    ModelDef {
        name: "res.config.settings",
        description: "Config Settings",
        class: "ResConfigSettings",
        order: "id",
        fields: &[
            ro("id", Integer, "ID"),
            f("group_stock_multi_locations", Boolean, "Storage Locations"),
            ro("display_name", Char, "Display Name"),
        ],
        methods: &["execute"],
        acl: SETTINGS,
        has_active: false,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relational_field_points_at_a_known_model() {
        for m in MODELS {
            for fd in m.fields {
                if let Some(co) = fd.ty.comodel() {
                    assert!(model(co).is_some(), "{}.{} -> {co}", m.name, fd.name);
                }
            }
            assert!(
                m.field("id").is_some() && m.field("display_name").is_some(),
                "{}",
                m.name
            );
        }
    }
}
