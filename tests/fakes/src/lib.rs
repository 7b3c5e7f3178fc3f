//! Fakes of the services returns-edge talks to, for its tests, benchmarks and fault campaigns:
//!
//! - [`odoo`]: a faithful fake Odoo (JSON-RPC for 16–19, JSON-2 for 19+), rebuilt from the real
//!   Odoo 17 transcripts in `shared/odoo17/`, with scripted faults and a latency model.
//! - [`refund`]: the receiver of the central refund trigger
//!   (docs/architecture.md#refund-trigger-contract): signature check, idempotency keys, scripted
//!   faults.
//!
//! Both bind 127.0.0.1 port 0 and keep their state in memory; they never reach anything else.
//! This crate is test support: it is not part of the returns-edge binary.

mod http;
pub mod odoo;
pub mod refund;

pub use odoo::{CallMatcher, FakeOdoo, FakeOdooOptions, Fault, FaultKind, Latency, OdooVersion, Protocols, Seed};
pub use refund::{FakeRefund, FakeRefundOptions, RefundFault, RefundFaultKind};
