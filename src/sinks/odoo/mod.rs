//! The Odoo sink: receipts and dispositions become stock operations in Odoo, exactly once.
//!
//! Files: `config.rs` (settings, secret), `rpc.rs` (client over JSON-RPC or JSON-2, error
//! classification), `mapping.rs` (locations, picking types and products resolved by name and
//! cached), `sink.rs` (the sink type, routing, planning), and one file per step machine:
//! `rma.rs`, `transfer.rs`, `scrap.rs`; `landed.rs` (where a receipt put its units, for the
//! case's dispositions); and `sync.rs`, which reads the open returns for the RMA
//! cache (read only, no outbox). The approach is docs/architecture.md#exactly-once-to-odoo: every record we create
//! carries `RE/<site>/<event id>` in `origin`; every step reads before it writes; the step reached
//! and the ids learnt are persisted in the outbox entry before the next call.

/// Keys of the remote ids kept in an outbox entry's `refs`.
const PICKING: &str = "picking";
const SCRAP: &str = "scrap";

/// Unwraps an Odoo result or returns its classified outcome from the enclosing step.
macro_rules! odoo {
    ($call:expr) => {
        match $call {
            Ok(value) => value,
            Err(e) => return e.outcome(),
        }
    };
}

pub mod config;
mod landed;
mod mapping;
mod rma;
pub mod rpc;
mod scrap;
mod sink;
pub mod sync;
mod transfer;

pub use config::{OdooConfig, OdooRef, Protocol, ScrapInsufficient, Secret};
pub use sink::OdooSink;
pub use sync::{Fetched, RmaSource, SyncMode};
