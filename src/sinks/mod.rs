//! Sinks: where recorded events are forwarded (Odoo, the central refund trigger, later NATS).
//!
//! This module owns the sink vocabulary shared by config, ingest and the store: a sink's name,
//! its kind, and which events each kind wants an outbox entry for. The delivery engine and the
//! sink clients live in their own folders (one per sink, same file set) when they land.

use serde::{Deserialize, Serialize};

use crate::domain::EventKind;

pub mod common;
pub mod odoo;
pub mod refund;

/// A configured sink's name: 1–32 of `[a-z0-9_-]`, unique per site. It is part of outbox keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SinkName(String);

impl SinkName {
    pub const EXPECTED: &'static str = "a sink name of 1 to 32 characters from a-z, 0-9, `_` and `-`";

    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(SinkName(s.to_owned()))
        } else {
            Err(Self::EXPECTED.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SinkName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        SinkName::parse(&s)
    }
}

impl From<SinkName> for String {
    fn from(name: SinkName) -> String {
        name.0
    }
}

impl std::fmt::Display for SinkName {
    /// Pads like a `str`, so `{:<16}` lines up tables (`outbox status`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

/// The kinds of sink returns-edge can forward to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Odoo stock operations: return receipts and disposition moves.
    Odoo,
    /// The central refund trigger: refund decisions only.
    Refund,
    /// A NATS JetStream subject: every event (replication, analytics).
    Nats,
}

impl SinkKind {
    /// Whether an event of this kind needs delivering to a sink of this kind. Decided at write
    /// time: the outbox entry is created in the event's own transaction or never.
    pub fn wants(self, event: EventKind) -> bool {
        match self {
            SinkKind::Odoo => matches!(event, EventKind::ParcelReceived | EventKind::ItemDisposed),
            SinkKind::Refund => event == EventKind::RefundDecided,
            SinkKind::Nats => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_wants_receipts_and_dispositions_only() {
        assert!(SinkKind::Odoo.wants(EventKind::ParcelReceived));
        assert!(SinkKind::Odoo.wants(EventKind::ItemDisposed));
        assert!(!SinkKind::Odoo.wants(EventKind::ItemInspected));
        assert!(!SinkKind::Odoo.wants(EventKind::CaseClosed));
        assert!(!SinkKind::Odoo.wants(EventKind::RefundDecided));
    }

    #[test]
    fn the_refund_sink_wants_refund_decisions_only() {
        for kind in EventKind::ALL {
            assert_eq!(
                SinkKind::Refund.wants(*kind),
                *kind == EventKind::RefundDecided,
                "{kind}"
            );
        }
    }

    #[test]
    fn sink_names_pad_in_tables() {
        assert_eq!(format!("[{:<6}]", SinkName::parse("odoo").unwrap()), "[odoo  ]");
    }

    #[test]
    fn sink_names_are_checked() {
        assert!(SinkName::parse("odoo-main_1").is_ok());
        for bad in ["", "Odoo", "a b", "x\0y", &"a".repeat(33)] {
            assert!(SinkName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
