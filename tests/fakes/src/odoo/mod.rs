//! A faithful fake Odoo for tests, benchmarks and fault campaigns.
//!
//! The ground truth is the set of real Odoo 17 transcripts in `shared/odoo17/`: the fake answers
//! the same wire format (JSON-RPC `/jsonrpc` with HTTP 200 error payloads; JSON-2
//! `/json/2/<model>/<method>` with real status codes), runs the same wizards
//! (`confirm.stock.sms`, `stock.backorder.confirmation`, `stock.return.picking`,
//! `stock.warn.insufficient.qty.scrap`) with the same context rules, and reproduces the same
//! quirks and traps. Ids differ from the transcripts'; shapes, states, actions and errors do not.
//!
//! Layout:
//! - `server`: sockets, routes and the call pipeline (faults, latency, transaction, log).
//! - `dispatch`: one call, whatever the protocol: checks in Odoo's order, then routing.
//! - `orm`: the generic ORM methods and the simple models; `stock`: stock and sale semantics.
//! - `domain`: search domains and orders; `fields`: field values; `schema`: what exists.
//! - `db`: the in-memory database; `seed`: the starting data and seeding helpers.
//! - `error`, `faults`, `latency`: error shapes, scripted faults, the latency model.
//!
//! The fake never touches anything outside its own memory and its loopback socket.

mod db;
mod dispatch;
mod domain;
mod error;
mod faults;
mod fields;
mod latency;
mod orm;
mod schema;
mod seed;
mod server;
mod stock;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

pub use db::{
    format_timestamp, BackorderWizard, Company, Database, Group, Location, Lot, ModelData, Move, MoveLine, Partner,
    Picking, PickingType, Product, Quant, ReturnLine, ReturnWizard, SaleLine, SaleOrder, Scrap, Table, Timestamp, User,
};
pub use error::{ErrorPayload, OdooError};
pub use faults::{CallMatcher, Fault, FaultKind};
pub use latency::Latency;
pub use seed::{groups, DoneDelivery, NewProduct, NewUser, OpenReturn, ReturnSpec, Seed, SeedIds};

use crate::http::Listener;
use server::{lock, Config, Journal, Shared};

/// Where [`FakeOdoo::add_return_to`] sends the returned goods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnTo {
    /// The return wizard's default, as a user who does not touch it gets: the delivery's source
    /// location, WH/Stock (sellable stock), on the demo warehouse.
    WizardDefault,
    /// This location, written on the wizard after creating it (the API way of transcript 04).
    Location(i64),
}

/// The Odoo version the fake claims to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum OdooVersion {
    V16,
    #[default]
    V17,
    V18,
    V19,
}

impl OdooVersion {
    /// The major version number.
    pub fn major(self) -> u32 {
        match self {
            OdooVersion::V16 => 16,
            OdooVersion::V17 => 17,
            OdooVersion::V18 => 18,
            OdooVersion::V19 => 19,
        }
    }

    /// `"17.0"`.
    pub fn serie(self) -> String {
        format!("{}.0", self.major())
    }

    /// The answer of `common.version` and `/web/webclient/version_info`.
    pub fn version_info(self) -> Value {
        json!({
            "server_version": self.serie(),
            "server_version_info": [self.major(), 0, 0, "final", 0, ""],
            "server_serie": self.serie(),
            "protocol_version": 1,
        })
    }
}

/// Which APIs the fake serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocols {
    /// As the claimed version does: JSON-RPC always (deprecated from 19), JSON-2 from 19.
    #[default]
    Auto,
    /// JSON-RPC only.
    JsonRpc,
    /// JSON-2 only (an Odoo 22 without JSON-RPC).
    Json2,
    /// Both, whatever the version.
    Both,
}

/// The protocol a call came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    JsonRpc,
    Json2,
}

/// What happened to the answer of a logged call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Answered normally.
    Answered,
    /// Answered after this extra delay (a `Delay` fault).
    Late(Duration),
    /// The connection was closed without an answer (a `CommitThenDrop` fault).
    Dropped,
}

/// One state-changing call (anything but searches and reads), whatever its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// Order of arrival, from 1.
    pub seq: u64,
    pub protocol: Protocol,
    pub model: String,
    pub method: String,
    /// The records acted on; for `create`, the ids created.
    pub ids: Vec<i64>,
    /// For `create` the values (a dict or a list of dicts), for `write` the values, otherwise
    /// the keyword arguments (context included).
    pub values: Value,
    /// The result, or the error payload that was (or would have been) answered.
    pub response: Result<Value, ErrorPayload>,
    /// Whether the effect is in the database (errors roll back).
    pub committed: bool,
    /// Whether the client got the answer.
    pub delivery: Delivery,
}

/// How to start a fake Odoo.
#[derive(Debug, Clone)]
pub struct FakeOdooOptions {
    pub version: OdooVersion,
    pub protocols: Protocols,
    pub latency: Latency,
    pub seed: Seed,
    /// The database name (`returns_lab` as in the transcripts).
    pub database: String,
    /// The admin user's login.
    pub login: String,
    pub password: String,
    /// The admin user's API key (JSON-2 bearer; also accepted as a JSON-RPC password).
    pub api_key: String,
    /// Whether the first validation of a delivery asks the `confirm.stock.sms` question, as on
    /// the lab server (Odoo's `stock_sms` default).
    pub sms_confirmation: bool,
    /// Whether Odoo's `delivery` module is installed (it adds `stock.picking.carrier_tracking_ref`).
    /// Off by default: the lab server of the transcripts did not have it.
    pub delivery_module: bool,
}

impl Default for FakeOdooOptions {
    fn default() -> Self {
        Self {
            version: OdooVersion::V17,
            protocols: Protocols::Auto,
            latency: Latency::None,
            seed: Seed::Warehouse,
            database: "returns_lab".into(),
            login: "admin".into(),
            password: "admin".into(),
            api_key: "0e6e4a1d9c3b4f5e8a7d6c5b4a39281706f5e4d3".into(),
            sms_confirmation: true,
            delivery_module: false,
        }
    }
}

/// A running fake Odoo on 127.0.0.1. Stops when dropped.
#[derive(Debug)]
pub struct FakeOdoo {
    shared: Arc<Shared>,
    listener: Listener,
    ids: SeedIds,
    login: String,
    api_key: String,
}

impl FakeOdoo {
    /// Starts a fake Odoo on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound (the test cannot run at all then).
    pub async fn start(options: FakeOdooOptions) -> FakeOdoo {
        match Self::try_start(options).await {
            Ok(odoo) => odoo,
            Err(error) => panic!("cannot bind a loopback port for the fake Odoo: {error}"),
        }
    }

    /// Starts a fake Odoo, or says why the port could not be bound.
    pub async fn try_start(options: FakeOdooOptions) -> std::io::Result<FakeOdoo> {
        let (mut db, ids) = seed::build(
            options.seed,
            &options.password,
            &options.api_key,
            db::wall_clock(),
            options.sms_confirmation,
        );
        if let Some(admin) = db.users.get_mut(ids.admin_uid) {
            admin.login.clone_from(&options.login);
        }
        db.delivery_module = options.delivery_module;
        let (json_rpc, json2) = match options.protocols {
            Protocols::Auto => (true, options.version >= OdooVersion::V19),
            Protocols::JsonRpc => (true, false),
            Protocols::Json2 => (false, true),
            Protocols::Both => (true, true),
        };
        let shared = Arc::new(Shared {
            db: Mutex::new(db),
            config: Config {
                version: options.version,
                json_rpc,
                json2,
                database: options.database.clone(),
                latency: options.latency,
            },
            faults: Mutex::default(),
            journal: Mutex::new(Journal::default()),
            down: AtomicBool::new(false),
            seq: AtomicU64::new(0),
        });
        let listener = Listener::start(server::router(shared.clone())).await?;
        Ok(FakeOdoo {
            shared,
            listener,
            ids,
            login: options.login,
            api_key: options.api_key,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.listener.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.addr
    }

    /// The database name.
    pub fn db(&self) -> &str {
        &self.shared.config.database
    }

    /// The admin login.
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The admin password now in force.
    pub fn password(&self) -> String {
        lock(&self.shared.db)
            .users
            .get(self.ids.admin_uid)
            .map(|u| u.password.clone())
            .unwrap_or_default()
    }

    /// The admin API key given at start.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The admin uid (2).
    pub fn uid(&self) -> i64 {
        self.ids.admin_uid
    }

    pub fn version(&self) -> OdooVersion {
        self.shared.config.version
    }

    /// Ids of the seeded data.
    pub fn ids(&self) -> &SeedIds {
        &self.ids
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(self) {
        self.listener.shutdown().await;
    }

    // ---- faults ----

    /// Arms a scripted fault.
    pub fn inject(&self, fault: Fault<'_>) {
        lock(&self.shared.faults).inject(fault);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Faults still armed.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).pending()
    }

    /// While down, every request is answered `502 Bad Gateway` (the reverse proxy in front of
    /// a stopped Odoo); nothing is counted or changed.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::Relaxed);
    }

    /// While unreachable the port is closed: connections are refused and open ones are cut.
    /// Returns once that is in effect.
    pub async fn set_unreachable(&mut self, unreachable: bool) {
        self.listener.set_reachable(!unreachable).await;
    }

    /// Changes the admin password (calls with the old one get AccessDenied; `login` answers
    /// `false`).
    pub fn set_password(&self, password: &str) {
        if let Some(admin) = lock(&self.shared.db).users.get_mut(self.ids.admin_uid) {
            admin.password = password.to_owned();
        }
    }

    /// Replaces the admin API keys (an empty string revokes them all).
    pub fn set_api_key(&self, key: &str) {
        if let Some(admin) = lock(&self.shared.db).users.get_mut(self.ids.admin_uid) {
            admin.api_keys = if key.is_empty() {
                Vec::new()
            } else {
                vec![key.to_owned()]
            };
        }
    }

    // ---- counters and the mutation log ----

    /// Calls of `method` on `model` so far (service calls: model `"common"`).
    pub fn calls(&self, model: &str, method: &str) -> usize {
        lock(&self.shared.journal)
            .counts
            .get(&(model.to_owned(), method.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Calls per (model, method).
    pub fn call_counts(&self) -> BTreeMap<(String, String), usize> {
        lock(&self.shared.journal).counts.clone()
    }

    /// All calls so far.
    pub fn total_calls(&self) -> usize {
        lock(&self.shared.journal).counts.values().sum()
    }

    /// Every state-changing call, in order.
    pub fn mutations(&self) -> Vec<Mutation> {
        lock(&self.shared.journal).mutations.clone()
    }

    /// The state-changing calls whose effect is in the database.
    pub fn committed(&self) -> Vec<Mutation> {
        self.mutations().into_iter().filter(|m| m.committed).collect()
    }

    // ---- state ----

    /// Looks at the whole database.
    pub fn inspect<R>(&self, f: impl FnOnce(&Database) -> R) -> R {
        f(&lock(&self.shared.db))
    }

    /// Changes the database directly (seeding beyond the helpers below).
    pub fn modify<R>(&self, f: impl FnOnce(&mut Database) -> R) -> R {
        f(&mut lock(&self.shared.db))
    }

    pub fn pickings(&self) -> Vec<Picking> {
        self.inspect(|db| db.pickings.values().cloned().collect())
    }

    /// The picking called `name` (e.g. `WH/IN/00007`).
    pub fn picking_by_name(&self, name: &str) -> Option<Picking> {
        self.inspect(|db| db.pickings.values().find(|p| p.name == name).cloned())
    }

    pub fn moves(&self) -> Vec<Move> {
        self.inspect(|db| db.moves.values().cloned().collect())
    }

    /// A move's quantity (the sum of its move lines, as Odoo 17 computes it).
    pub fn move_quantity(&self, move_id: i64) -> f64 {
        self.inspect(|db| db.move_quantity(move_id))
    }

    pub fn move_lines(&self) -> Vec<MoveLine> {
        self.inspect(|db| db.move_lines.values().cloned().collect())
    }

    pub fn scraps(&self) -> Vec<Scrap> {
        self.inspect(|db| db.scraps.values().cloned().collect())
    }

    pub fn quants(&self) -> Vec<Quant> {
        self.inspect(|db| db.quants.values().cloned().collect())
    }

    /// The quant of (product, location, lot) — exactly that lot, `None` for the lot-less one — if
    /// there is one (emptied quants stay, at 0).
    pub fn quant_row(&self, product_id: i64, location_id: i64, lot_id: Option<i64>) -> Option<Quant> {
        self.inspect(|db| {
            db.quants
                .values()
                .find(|q| q.product_id == product_id && q.location_id == location_id && q.lot_id == lot_id)
                .cloned()
        })
    }

    /// On-hand quantity of (product, location, lot) — exactly that lot; 0 without a quant.
    pub fn quant_of(&self, product_id: i64, location_id: i64, lot_id: Option<i64>) -> f64 {
        self.quant_row(product_id, location_id, lot_id)
            .map_or(0.0, |q| q.quantity)
    }

    /// What open move lines reserve of (product, location, lot), as `stock.quant.reserved_quantity`
    /// reads.
    pub fn reserved_of(&self, product_id: i64, location_id: i64, lot_id: Option<i64>) -> f64 {
        self.inspect(|db| {
            db.quants
                .values()
                .find(|q| q.product_id == product_id && q.location_id == location_id && q.lot_id == lot_id)
                .map_or(0.0, |q| fields::reserved_quantity(db, q.id))
        })
    }

    /// The quants of a product in exactly that location: (lot, quantity, reserved), in quant order.
    pub fn quants_at(&self, product_id: i64, location_id: i64) -> Vec<(Option<i64>, f64, f64)> {
        self.inspect(|db| {
            db.quants
                .values()
                .filter(|q| q.product_id == product_id && q.location_id == location_id)
                .map(|q| (q.lot_id, q.quantity, fields::reserved_quantity(db, q.id)))
                .collect()
        })
    }

    /// On-hand quantity of a product in exactly that location (all lots).
    pub fn quant(&self, product_id: i64, location_id: i64) -> f64 {
        self.inspect(|db| {
            db.quants
                .values()
                .filter(|q| q.product_id == product_id && q.location_id == location_id)
                .map(|q| q.quantity)
                .sum()
        })
    }

    pub fn lots(&self) -> Vec<Lot> {
        self.inspect(|db| db.lots.values().cloned().collect())
    }

    pub fn model_data(&self) -> Vec<ModelData> {
        self.inspect(|db| db.model_data.values().cloned().collect())
    }

    // ---- seeding ----

    /// Adds a storable product; returns its id.
    pub fn add_product(&self, product: NewProduct) -> i64 {
        self.modify(|db| seed::add_product(db, &product))
    }

    /// Adds a lot or serial number; returns its id.
    pub fn add_lot(&self, product_id: i64, name: &str) -> i64 {
        self.modify(|db| seed::add_lot(db, product_id, name))
    }

    /// Adds serial numbers of a (serial-tracked) product, one unit of each in `location_id`;
    /// returns the lot ids, in the order given.
    pub fn add_serials(&self, product_id: i64, location_id: i64, serials: &[&str]) -> Vec<i64> {
        self.modify(|db| {
            serials
                .iter()
                .map(|name| {
                    let lot = seed::add_lot(db, product_id, name);
                    seed::set_quant(db, product_id, location_id, Some(lot), 1.0);
                    lot
                })
                .collect()
        })
    }

    /// Adds a user (see [`NewUser`]: e.g. `NewUser::inventory_manager("returns-edge", "Returns
    /// Edge")`, an Inventory Administrator without accounting rights, `.without_email()`);
    /// returns the uid. Log in with its login and password.
    pub fn add_user(&self, user: &NewUser) -> i64 {
        self.modify(|db| seed::add_user(db, user))
    }

    /// Sets (or, with `None`, removes) the email of a user (on its partner, as in Odoo).
    pub fn set_user_email(&self, uid: i64, email: Option<&str>) {
        self.modify(|db| {
            let partner = db.users.get(uid).map(|u| u.partner_id);
            if let Some(p) = partner.and_then(|p| db.partners.get_mut(p)) {
                p.email = email.map(str::to_owned);
            }
        });
    }

    /// Sets the on-hand quantity of a product (and lot) in a location; returns the quant id.
    pub fn set_quant(&self, product_id: i64, location_id: i64, lot_id: Option<i64>, quantity: f64) -> i64 {
        self.modify(|db| seed::set_quant(db, product_id, location_id, lot_id, quantity))
    }

    /// Adds a customer; returns its id.
    pub fn add_partner(&self, name: &str) -> i64 {
        self.modify(|db| seed::add_partner(db, name))
    }

    /// Adds a location under `parent` with `usage` (`internal`, `customer`…); returns its id.
    pub fn add_location(&self, name: &str, parent: i64, usage: &str, barcode: Option<&str>) -> i64 {
        self.modify(|db| seed::add_location(db, name, parent, usage, barcode))
    }

    /// A sale of `lines` (product id, quantity) to `partner`, its delivery done, and an open
    /// return of all of it made with the return wizard (into WH/Returns when the seed has it),
    /// tagged as `spec` says. One transaction: on error nothing is left behind.
    pub fn add_return(
        &self,
        partner_id: i64,
        lines: &[(i64, f64)],
        spec: &ReturnSpec,
    ) -> Result<OpenReturn, OdooError> {
        let (returns, admin) = (self.ids.returns_location, self.ids.admin_uid);
        self.modify(|db| {
            let backup = db.clone();
            db.begin(db::wall_clock());
            // The seeding is the admin's doing (creator, chatter author).
            db.uid = admin;
            let result = seed::add_return(db, partner_id, lines, returns, spec);
            if result.is_err() {
                let failed = std::mem::replace(db, backup);
                db.keep_sequences_of(&failed);
            }
            result
        })
    }

    /// The same as [`FakeOdoo::add_return`], with the return sent where `to` says: left at the
    /// wizard's default, the goods of a delivery come back into WH/Stock, not WH/Returns.
    pub fn add_return_to(
        &self,
        partner_id: i64,
        lines: &[(i64, f64)],
        spec: &ReturnSpec,
        to: ReturnTo,
    ) -> Result<OpenReturn, OdooError> {
        let location = match to {
            ReturnTo::WizardDefault => None,
            ReturnTo::Location(id) => Some(id),
        };
        let admin = self.ids.admin_uid;
        self.modify(|db| {
            let backup = db.clone();
            db.begin(db::wall_clock());
            // The seeding is the admin's doing (creator, chatter author).
            db.uid = admin;
            let result = seed::add_return(db, partner_id, lines, location, spec);
            if result.is_err() {
                let failed = std::mem::replace(db, backup);
                db.keep_sequences_of(&failed);
            }
            result
        })
    }

    /// A sale order for `partner` of `lines` (product id, quantity) whose delivery is done, so
    /// that it can be returned. Fails when WH/Stock lacks the goods.
    pub fn add_delivery(&self, partner_id: i64, lines: &[(i64, f64)]) -> Result<DoneDelivery, OdooError> {
        let admin = self.ids.admin_uid;
        self.modify(|db| {
            let backup = db.clone();
            db.begin(db::wall_clock());
            // The seeding is the admin's doing (creator, chatter author).
            db.uid = admin;
            let result = seed::add_delivery(db, partner_id, lines);
            if result.is_err() {
                let failed = std::mem::replace(db, backup);
                db.keep_sequences_of(&failed);
            }
            result
        })
    }
}
