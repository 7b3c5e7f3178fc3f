//! The Odoo sink: receipts and dispositions become stock operations in Odoo, exactly once.
//!
//! Files: `config.rs` (settings, secret), `rpc.rs` (client over JSON-RPC or JSON-2, error
//! classification), `mapping.rs` (locations, picking types and products resolved by name and
//! cached), `sink.rs` (the step machines). The approach is DESIGN.md §6: every record we create
//! carries `RE/<site>/<event id>` in `origin`; every step reads before it writes; the step reached
//! and the ids learnt are persisted in the outbox entry before the next call.

pub mod config;
mod mapping;
pub mod rpc;
mod sink;

pub use config::{OdooConfig, OdooRef, Protocol, ScrapInsufficient, Secret};
pub use sink::OdooSink;
