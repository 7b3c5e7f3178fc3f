//! The refund sink: each refund decision becomes one signed `POST <url>/refunds` to the
//! company's central refund trigger, exactly once in effect (docs/architecture.md#refund-trigger-contract).
//!
//! Files: `config.rs` (settings, the HMAC key), `client.rs` (the request: body, signature,
//! classification of the answer), `sink.rs` (the [`Sink`](crate::delivery::Sink) the dispatcher
//! drives).
//!
//! Exactly once rests on the receiver: the `Idempotency-Key` is the decision's event id, fixed
//! when the decision was recorded, and the body is built from that stored event alone, so every
//! retry — after a timeout, a lost answer, a restart — sends the same key with the same bytes,
//! and the receiver recognises the second as the first (409 or its first answer). A changed
//! decision is a new event with a new key naming the old one in `supersedes`.

pub mod client;
pub mod config;
mod sink;

pub use client::{signature, RefundBody};
pub use config::RefundConfig;
pub use sink::RefundSink;
