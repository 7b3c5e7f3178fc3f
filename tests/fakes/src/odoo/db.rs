//! The fake's whole database: one typed table per model, the per-model id sequences (like
//! PostgreSQL sequences: ids are never reused), the document-name sequences, the users and the
//! transaction clock. `Database` is `Clone` so that a failed call can be rolled back by restoring
//! a copy — one call, one transaction, as in Odoo. Records are public so that tests can inspect
//! them through `FakeOdoo::inspect`; they are changed only through the model code.

use imbl::OrdMap;

/// Seconds since the Unix epoch, UTC: the resolution Odoo shows on the wire.
pub type Timestamp = i64;

/// A table: rows by id, and the next id its sequence will hand out. The rows are a persistent
/// map (shared structure): every state-changing call keeps a copy of the whole database to roll
/// back to, and with a plain `BTreeMap` that copy cost grew with everything the fake had ever
/// stored, so a benchmark drain measured the fake's copying rather than the edge.
#[derive(Debug, Clone)]
pub struct Table<T: Clone> {
    pub rows: OrdMap<i64, T>,
    pub next_id: i64,
}

impl<T: Clone> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: OrdMap::new(),
            next_id: 1,
        }
    }
}

impl<T: Clone> Table<T> {
    /// A table whose sequence starts at `next_id` (so seeded ids can match the transcripts).
    pub fn starting_at(next_id: i64) -> Self {
        Self {
            rows: OrdMap::new(),
            next_id,
        }
    }

    /// Inserts the row built for the next id and returns that id.
    pub fn insert_with(&mut self, build: impl FnOnce(i64) -> T) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.rows.insert(id, build(id));
        id
    }

    /// Inserts a row under a chosen id (seeding), moving the sequence past it.
    pub fn insert_at(&mut self, id: i64, row: T) {
        self.next_id = self.next_id.max(id + 1);
        self.rows.insert(id, row);
    }

    pub fn get(&self, id: i64) -> Option<&T> {
        self.rows.get(&id)
    }

    pub fn get_mut(&mut self, id: i64) -> Option<&mut T> {
        self.rows.get_mut(&id)
    }

    pub fn contains(&self, id: i64) -> bool {
        self.rows.contains_key(&id)
    }

    pub fn ids(&self) -> Vec<i64> {
        self.rows.keys().copied().collect()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.rows.values()
    }

    /// Keeps only the rows `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let doomed: Vec<i64> = self
            .rows
            .iter()
            .filter(|(_, row)| !keep(row))
            .map(|(id, _)| *id)
            .collect();
        for id in doomed {
            self.rows.remove(&id);
        }
    }

    /// Changes every row `pick` accepts with `change`.
    pub fn update_where(&mut self, mut pick: impl FnMut(&T) -> bool, mut change: impl FnMut(&mut T)) {
        let ids: Vec<i64> = self
            .rows
            .iter()
            .filter(|(_, row)| pick(row))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(row) = self.rows.get_mut(&id) {
                change(row);
            }
        }
    }
}

/// Indexing is for ids the model code has just looked up or checked: a missing one is a bug of
/// the fake, not of the caller, hence the panic.
impl<T: Clone> std::ops::Index<&i64> for Table<T> {
    type Output = T;

    fn index(&self, id: &i64) -> &T {
        match self.rows.get(id) {
            Some(row) => row,
            None => panic!("fake Odoo invariant broken: record {id} is gone"),
        }
    }
}

/// The company (one: multi-company is out of scope).
#[derive(Debug, Clone)]
pub struct Company {
    pub id: i64,
    pub name: String,
    pub partner_id: i64,
    /// `stock_sms`: whether validating a delivery may ask about SMS at all.
    pub stock_move_sms_validation: bool,
    /// `stock_sms`: set once the SMS question has been answered; the wizard never shows again.
    pub has_received_warning_stock_sms: bool,
    pub write_date: Timestamp,
}

/// A login. Its email is its partner's (`res.users.email` is a field of the partner in Odoo).
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub login: String,
    pub password: String,
    /// API keys (JSON-2 bearer, and accepted as password by JSON-RPC as in Odoo 14+).
    pub api_keys: Vec<String>,
    pub partner_id: i64,
    pub tz: String,
    pub lang: String,
    /// The `res.groups` given (`groups_id`); the groups they imply are added when rights are
    /// checked ([`Database::user_groups`]).
    pub groups: Vec<i64>,
    pub active: bool,
    pub write_date: Timestamp,
}

/// `res.groups`: a right. AccessError messages name groups as `category/name`.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: i64,
    /// The application category, e.g. `Inventory`.
    pub category: String,
    /// e.g. `Administrator`.
    pub name: String,
    /// The groups this one implies (`implied_ids`): an Inventory Administrator is an Inventory User.
    pub implied: Vec<i64>,
}

impl Group {
    /// `Inventory/Administrator`, as AccessError messages write it.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.category, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub reference: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub is_company: bool,
    pub parent_id: Option<i64>,
    pub active: bool,
    pub create_date: Timestamp,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Warehouse {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub view_location_id: i64,
    pub lot_stock_id: i64,
    pub in_type_id: i64,
    pub out_type_id: i64,
    pub int_type_id: i64,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    /// `view`, `internal`, `customer`, `supplier`, `inventory`, `production`, `transit`.
    pub usage: String,
    pub barcode: Option<String>,
    pub return_location: bool,
    pub scrap_location: bool,
    pub active: bool,
    pub company_id: Option<i64>,
    pub create_date: Timestamp,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct PickingType {
    pub id: i64,
    pub name: String,
    /// `incoming`, `outgoing`, `internal`.
    pub code: String,
    pub sequence_code: String,
    /// The document name prefix, e.g. `WH/IN/`.
    pub prefix: String,
    /// The next number of the type's sequence (5 digits on the wire).
    pub next_number: u32,
    pub sequence: i64,
    pub default_location_src_id: Option<i64>,
    pub default_location_dest_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub return_picking_type_id: Option<i64>,
    /// `default_location_return_id`: where the return wizard sends returns of pickings of this
    /// type, before any other rule (none on the demo types).
    pub default_location_return_id: Option<i64>,
    /// `ask`, `always`, `never`.
    pub create_backorder: String,
    pub use_create_lots: bool,
    pub use_existing_lots: bool,
    pub active: bool,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub default_code: Option<String>,
    pub barcode: Option<String>,
    /// `none`, `lot`, `serial`.
    pub tracking: String,
    /// `product` (storable), `consu`, `service`.
    pub detailed_type: String,
    pub weight: f64,
    pub list_price: f64,
    pub uom_id: i64,
    pub active: bool,
    pub create_date: Timestamp,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Lot {
    pub id: i64,
    pub name: String,
    pub product_id: i64,
    pub reference: Option<String>,
    pub create_date: Timestamp,
    pub write_date: Timestamp,
}

/// Stock of one product (and lot) in one location. Reserved quantities are not stored: they are
/// the open move lines taking from this quant, so they can never disagree with the moves.
/// Quants exist in every location (customers and inventory-loss quants go up and down with the
/// moves) and are never deleted: an emptied quant stays with quantity 0, as in the transcripts.
#[derive(Debug, Clone)]
pub struct Quant {
    pub id: i64,
    pub product_id: i64,
    pub location_id: i64,
    pub lot_id: Option<i64>,
    pub quantity: f64,
    /// The counted quantity of an inventory adjustment (`inventory_quantity`), applied by
    /// `action_apply_inventory` when `inventory_quantity_set`.
    pub inventory_quantity: f64,
    pub inventory_quantity_set: bool,
    pub in_date: Timestamp,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct SaleOrder {
    pub id: i64,
    pub name: String,
    /// `draft`, `sale`, `cancel`.
    pub state: String,
    pub partner_id: i64,
    pub client_order_ref: Option<String>,
    pub origin: Option<String>,
    pub date_order: Timestamp,
    pub create_date: Timestamp,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct SaleLine {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub name: String,
    pub product_uom_qty: f64,
    /// Unit price as sold, in the order's currency (`price_unit`).
    pub price_unit: f64,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Picking {
    pub id: i64,
    pub name: String,
    pub origin: Option<String>,
    pub note: Option<String>,
    pub partner_id: Option<i64>,
    pub picking_type_id: i64,
    pub location_id: i64,
    pub location_dest_id: i64,
    /// `draft`, `waiting`, `confirmed`, `assigned`, `done`, `cancel`; recomputed from the moves.
    pub state: String,
    pub backorder_id: Option<i64>,
    pub return_id: Option<i64>,
    pub sale_id: Option<i64>,
    pub scheduled_date: Timestamp,
    pub date_done: Option<Timestamp>,
    pub priority: String,
    pub move_type: String,
    pub user_id: Option<i64>,
    /// The user whose call created the picking (`create_uid`).
    pub create_uid: i64,
    /// `carrier_tracking_ref`: a field of Odoo's `delivery` module (see [`Database::delivery_module`]).
    pub carrier_tracking_ref: Option<String>,
    pub create_date: Timestamp,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Move {
    pub id: i64,
    pub name: String,
    pub origin: Option<String>,
    pub description_picking: Option<String>,
    pub product_id: i64,
    /// The demand.
    pub product_uom_qty: f64,
    pub product_uom: i64,
    pub picked: bool,
    /// `draft`, `waiting`, `confirmed`, `partially_available`, `assigned`, `done`, `cancel`.
    pub state: String,
    pub location_id: i64,
    pub location_dest_id: i64,
    pub picking_id: Option<i64>,
    pub picking_type_id: Option<i64>,
    pub partner_id: Option<i64>,
    pub origin_returned_move_id: Option<i64>,
    /// The many2many `move_orig_ids`; `move_dest_ids` is its reverse.
    pub move_orig_ids: Vec<i64>,
    pub to_refund: bool,
    pub sale_line_id: Option<i64>,
    pub scrapped: bool,
    pub scrap_id: Option<i64>,
    /// A move of an inventory adjustment (`is_inventory`).
    pub is_inventory: bool,
    pub sequence: i64,
    pub procure_method: String,
    pub date: Timestamp,
    pub create_date: Timestamp,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct MoveLine {
    pub id: i64,
    pub move_id: Option<i64>,
    pub picking_id: Option<i64>,
    pub product_id: i64,
    /// Reserved, then done, quantity (Odoo 17 has one field for both).
    pub quantity: f64,
    pub picked: bool,
    pub location_id: i64,
    pub location_dest_id: i64,
    pub lot_id: Option<i64>,
    pub lot_name: Option<String>,
    pub date: Timestamp,
    pub write_date: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Scrap {
    pub id: i64,
    /// `New` until validated, then `SP/xxxxx`.
    pub name: String,
    pub origin: Option<String>,
    pub product_id: i64,
    pub product_uom_id: i64,
    pub scrap_qty: f64,
    pub location_id: i64,
    pub scrap_location_id: i64,
    pub lot_id: Option<i64>,
    pub picking_id: Option<i64>,
    /// `draft`, `done`.
    pub state: String,
    pub date_done: Option<Timestamp>,
    pub create_date: Timestamp,
    pub write_date: Timestamp,
}

/// `stock.return.picking`.
#[derive(Debug, Clone)]
pub struct ReturnWizard {
    pub id: i64,
    pub picking_id: Option<i64>,
    pub location_id: Option<i64>,
    pub original_location_id: Option<i64>,
    pub parent_location_id: Option<i64>,
    pub move_dest_exists: bool,
}

/// `stock.return.picking.line`.
#[derive(Debug, Clone)]
pub struct ReturnLine {
    pub id: i64,
    pub wizard_id: i64,
    pub product_id: i64,
    pub quantity: f64,
    pub uom_id: i64,
    pub move_id: Option<i64>,
    pub to_refund: bool,
}

/// `stock.backorder.confirmation`.
#[derive(Debug, Clone)]
pub struct BackorderWizard {
    pub id: i64,
    pub pick_ids: Vec<i64>,
    pub show_transfers: bool,
}

/// `stock.backorder.confirmation.line`.
#[derive(Debug, Clone)]
pub struct BackorderLine {
    pub id: i64,
    pub wizard_id: i64,
    pub picking_id: i64,
    pub to_backorder: bool,
}

/// `confirm.stock.sms`.
#[derive(Debug, Clone)]
pub struct SmsWizard {
    pub id: i64,
    pub pick_ids: Vec<i64>,
}

/// `stock.warn.insufficient.qty.scrap`.
#[derive(Debug, Clone)]
pub struct ScrapWarning {
    pub id: i64,
    pub scrap_id: i64,
    pub product_id: Option<i64>,
    pub location_id: Option<i64>,
    pub quantity: f64,
    pub product_uom_name: Option<String>,
}

/// `ir.model.data`: external ids.
#[derive(Debug, Clone)]
pub struct ModelData {
    pub id: i64,
    pub module: String,
    pub name: String,
    pub model: String,
    pub res_id: i64,
    pub noupdate: bool,
}

/// `ir.config_parameter`.
#[derive(Debug, Clone)]
pub struct ConfigParam {
    pub id: i64,
    pub key: String,
    pub value: String,
}

/// `res.config.settings` (a transient record; `execute` applies it).
#[derive(Debug, Clone)]
pub struct ConfigSettings {
    pub id: i64,
    pub group_stock_multi_locations: bool,
}

/// Everything the fake Odoo holds.
#[derive(Debug, Clone)]
pub struct Database {
    /// The time of the current transaction; see [`Database::begin`].
    pub now: Timestamp,
    /// The user of the current call: the `create_uid` of what it creates and the author of the
    /// chatter messages it posts. Set by `dispatch::execute` for every call.
    pub uid: i64,
    /// Whether Odoo's `delivery` module is installed: it adds `carrier_tracking_ref` (and the
    /// carriers) to `stock.picking`. Without it, naming that field is an "Invalid field" error.
    pub delivery_module: bool,
    pub company: Company,
    pub warehouse: Warehouse,
    pub users: Table<User>,
    pub groups: Table<Group>,
    pub partners: Table<Partner>,
    pub locations: Table<Location>,
    pub picking_types: Table<PickingType>,
    pub products: Table<Product>,
    pub lots: Table<Lot>,
    pub quants: Table<Quant>,
    pub sale_orders: Table<SaleOrder>,
    pub sale_lines: Table<SaleLine>,
    /// Next number of the `S%05d` sale order sequence.
    pub sale_sequence: u32,
    pub pickings: Table<Picking>,
    pub moves: Table<Move>,
    pub move_lines: Table<MoveLine>,
    pub scraps: Table<Scrap>,
    /// Next number of the `SP/%05d` scrap sequence.
    pub scrap_sequence: u32,
    pub return_wizards: Table<ReturnWizard>,
    pub return_lines: Table<ReturnLine>,
    pub backorder_wizards: Table<BackorderWizard>,
    pub backorder_lines: Table<BackorderLine>,
    pub sms_wizards: Table<SmsWizard>,
    pub scrap_warnings: Table<ScrapWarning>,
    pub model_data: Table<ModelData>,
    pub config_params: Table<ConfigParam>,
    pub config_settings: Table<ConfigSettings>,
}

impl Database {
    /// Starts a state-changing transaction: its time is the wall clock, but always at least one
    /// second after the previous transaction, so `write_date` moves forward on every write even
    /// though the wire shows whole seconds (see the README of this crate for the real-Odoo trap).
    pub fn begin(&mut self, wall_now: Timestamp) {
        self.now = wall_now.max(self.now + 1);
    }

    /// After a failed call is rolled back to `self`, keeps what the failed attempt took from the
    /// sequences: PostgreSQL sequences are not transactional, so in Odoo a rolled-back create
    /// still uses up its record id, and a document number taken from an `ir.sequence` (standard
    /// implementation: WH/IN/…, S…, SP/…) is gone too (transcript 26: the failed
    /// `create_returns` used up a picking id and WH/IN/00013).
    pub fn keep_sequences_of(&mut self, failed: &Database) {
        macro_rules! keep {
            ($($table:ident),*) => {$(
                self.$table.next_id = self.$table.next_id.max(failed.$table.next_id);
            )*};
        }
        keep!(
            users,
            groups,
            partners,
            locations,
            picking_types,
            products,
            lots,
            quants,
            sale_orders,
            sale_lines,
            pickings,
            moves,
            move_lines,
            scraps,
            return_wizards,
            return_lines,
            backorder_wizards,
            backorder_lines,
            sms_wizards,
            scrap_warnings,
            model_data,
            config_params,
            config_settings
        );
        self.sale_sequence = self.sale_sequence.max(failed.sale_sequence);
        self.scrap_sequence = self.scrap_sequence.max(failed.scrap_sequence);
        for failed_type in failed.picking_types.values() {
            if let Some(t) = self.picking_types.get_mut(failed_type.id) {
                t.next_number = t.next_number.max(failed_type.next_number);
            }
        }
    }

    /// The groups of a user, with the groups they imply (transitively).
    pub fn user_groups(&self, uid: i64) -> Vec<i64> {
        let mut out: Vec<i64> = self.users.get(uid).map(|u| u.groups.clone()).unwrap_or_default();
        let mut i = 0;
        while i < out.len() {
            if let Some(g) = self.groups.get(out[i]) {
                for implied in &g.implied {
                    if !out.contains(implied) {
                        out.push(*implied);
                    }
                }
            }
            i += 1;
        }
        out
    }

    /// Whether a user has the group called `full_name` (`Inventory/Administrator`), directly or
    /// through an implied group.
    pub fn has_group(&self, uid: i64, full_name: &str) -> bool {
        self.user_groups(uid)
            .iter()
            .filter_map(|g| self.groups.get(*g))
            .any(|g| g.full_name() == full_name)
    }

    /// The email of a user (its partner's), if set.
    pub fn user_email(&self, uid: i64) -> Option<&str> {
        self.users
            .get(uid)
            .and_then(|u| self.partners.get(u.partner_id))
            .and_then(|p| p.email.as_deref())
            .filter(|e| !e.trim().is_empty())
    }

    /// Ids of the records of `model`, ascending; `None` for a model the fake does not know.
    pub fn ids(&self, model: &str) -> Option<Vec<i64>> {
        Some(match model {
            "res.company" => vec![self.company.id],
            "res.users" => self.users.ids(),
            "res.groups" => self.groups.ids(),
            "res.partner" => self.partners.ids(),
            "uom.uom" => vec![1],
            "res.currency" => CURRENCIES.iter().map(|c| c.0).collect(),
            "stock.warehouse" => vec![self.warehouse.id],
            "stock.location" => self.locations.ids(),
            "stock.picking.type" => self.picking_types.ids(),
            "product.product" => self.products.ids(),
            "stock.lot" => self.lots.ids(),
            "stock.quant" => self.quants.ids(),
            "sale.order" => self.sale_orders.ids(),
            "sale.order.line" => self.sale_lines.ids(),
            "stock.picking" => self.pickings.ids(),
            "stock.move" => self.moves.ids(),
            "stock.move.line" => self.move_lines.ids(),
            "stock.scrap" => self.scraps.ids(),
            "stock.return.picking" => self.return_wizards.ids(),
            "stock.return.picking.line" => self.return_lines.ids(),
            "stock.backorder.confirmation" => self.backorder_wizards.ids(),
            "stock.backorder.confirmation.line" => self.backorder_lines.ids(),
            "confirm.stock.sms" => self.sms_wizards.ids(),
            "stock.warn.insufficient.qty.scrap" => self.scrap_warnings.ids(),
            "ir.model.data" => self.model_data.ids(),
            "ir.config_parameter" => self.config_params.ids(),
            "res.config.settings" => self.config_settings.ids(),
            _ => return None,
        })
    }

    /// Whether record `id` of `model` exists.
    pub fn exists(&self, model: &str, id: i64) -> bool {
        match model {
            "res.company" => id == self.company.id,
            "uom.uom" => id == 1,
            "res.currency" => CURRENCIES.iter().any(|c| c.0 == id),
            "stock.warehouse" => id == self.warehouse.id,
            "res.users" => self.users.contains(id),
            "res.groups" => self.groups.contains(id),
            "res.partner" => self.partners.contains(id),
            "stock.location" => self.locations.contains(id),
            "stock.picking.type" => self.picking_types.contains(id),
            "product.product" => self.products.contains(id),
            "stock.lot" => self.lots.contains(id),
            "stock.quant" => self.quants.contains(id),
            "sale.order" => self.sale_orders.contains(id),
            "sale.order.line" => self.sale_lines.contains(id),
            "stock.picking" => self.pickings.contains(id),
            "stock.move" => self.moves.contains(id),
            "stock.move.line" => self.move_lines.contains(id),
            "stock.scrap" => self.scraps.contains(id),
            "stock.return.picking" => self.return_wizards.contains(id),
            "stock.return.picking.line" => self.return_lines.contains(id),
            "stock.backorder.confirmation" => self.backorder_wizards.contains(id),
            "stock.backorder.confirmation.line" => self.backorder_lines.contains(id),
            "confirm.stock.sms" => self.sms_wizards.contains(id),
            "stock.warn.insufficient.qty.scrap" => self.scrap_warnings.contains(id),
            "ir.model.data" => self.model_data.contains(id),
            "ir.config_parameter" => self.config_params.contains(id),
            "res.config.settings" => self.config_settings.contains(id),
            _ => false,
        }
    }

    /// Whether `field` of `model` exists in this database (module fields need their module).
    pub fn field_installed(&self, model: &str, field: &str) -> bool {
        match super::schema::module_of(model, field) {
            Some("delivery") => self.delivery_module,
            Some(_) => false,
            None => true,
        }
    }

    /// The location and all its descendants.
    pub fn location_subtree(&self, root: i64) -> Vec<i64> {
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i];
            out.extend(
                self.locations
                    .values()
                    .filter(|l| l.parent_id == Some(parent))
                    .map(|l| l.id),
            );
            i += 1;
        }
        out
    }

    /// The usage of a location (`""` for an unknown one).
    pub fn usage(&self, location_id: i64) -> &str {
        self.locations.get(location_id).map(|l| l.usage.as_str()).unwrap_or("")
    }

    /// Odoo's `complete_name`: the parent's complete name and this name, except for views,
    /// which show their own name only (so `WH`, `WH/Stock`, `Partners/Customers`).
    pub fn location_complete_name(&self, id: i64) -> String {
        let Some(loc) = self.locations.get(id) else {
            return String::new();
        };
        match loc.parent_id {
            Some(parent) if loc.usage != "view" => format!("{}/{}", self.location_complete_name(parent), loc.name),
            _ => loc.name.clone(),
        }
    }

    /// `[code] name` or `name`.
    pub fn product_display_name(&self, id: i64) -> String {
        match self.products.get(id) {
            Some(Product {
                default_code: Some(code),
                name,
                ..
            }) => format!("[{code}] {name}"),
            Some(p) => p.name.clone(),
            None => String::new(),
        }
    }

    /// The moves of a picking, in `stock.move` order (sequence, id).
    pub fn picking_moves(&self, picking_id: i64) -> Vec<i64> {
        let mut moves: Vec<&Move> = self
            .moves
            .values()
            .filter(|m| m.picking_id == Some(picking_id))
            .collect();
        moves.sort_by_key(|m| (m.sequence, m.id));
        moves.iter().map(|m| m.id).collect()
    }

    /// The move lines of a move.
    pub fn move_lines_of(&self, move_id: i64) -> Vec<i64> {
        self.move_lines
            .values()
            .filter(|l| l.move_id == Some(move_id))
            .map(|l| l.id)
            .collect()
    }

    /// A move's quantity: the sum of its move lines (Odoo 17's computed `quantity`).
    pub fn move_quantity(&self, move_id: i64) -> f64 {
        self.move_lines
            .values()
            .filter(|l| l.move_id == Some(move_id))
            .map(|l| l.quantity)
            .sum()
    }

    /// The reverse of `move_orig_ids`.
    pub fn move_dest_ids(&self, move_id: i64) -> Vec<i64> {
        self.moves
            .values()
            .filter(|m| m.move_orig_ids.contains(&move_id))
            .map(|m| m.id)
            .collect()
    }
}

/// The currencies (`res.currency`): id, ISO code, symbol, decimal places. Fixed, like `uom.uom`:
/// Odoo's base data, of which a fresh database has EUR and USD active.
pub const CURRENCIES: &[(i64, &str, &str, u32)] = &[(1, "EUR", "€", 2), (2, "USD", "$", 2)];

/// The company's currency (USD, as the demo company's), which sale orders are priced in.
pub const COMPANY_CURRENCY: i64 = 2;

/// `YYYY-MM-DD HH:MM:SS` (UTC), Odoo's datetime wire format.
pub fn format_timestamp(t: Timestamp) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The wall clock in whole seconds.
pub fn wall_clock() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_odoo() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(format_timestamp(1_795_703_626), "2026-11-26 14:33:46");
    }
}
