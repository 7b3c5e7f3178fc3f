//! Helpers for store-level tests: an ingest path over a temp store with two sinks configured.

use std::path::Path;

use returns_edge::config::SinkConfig;
use returns_edge::domain::*;
use returns_edge::ingest::{Ingest, IngestError, Write};
use returns_edge::sinks::{SinkKind, SinkName};
use returns_edge::store::{Store, StoreOptions};
use returns_edge::tokens::Caller;

pub struct Harness {
    pub ingest: Ingest,
    pub caller: Caller,
}

#[derive(Debug)]
pub struct Ack {
    pub case_id: CaseId,
    pub seq: u64,
    pub replayed: bool,
}

pub fn sinks() -> Vec<SinkConfig> {
    vec![
        SinkConfig {
            name: SinkName::parse("odoo").unwrap(),
            kind: SinkKind::Odoo,
            odoo: None,
            refund: None,
        },
        SinkConfig {
            name: SinkName::parse("nats").unwrap(),
            kind: SinkKind::Nats,
            odoo: None,
            refund: None,
        },
    ]
}

impl Harness {
    pub fn open(dir: &Path) -> Harness {
        let site = SiteId::parse("site-a").unwrap();
        let store = Store::open(
            dir,
            &StoreOptions {
                cache_capacity_bytes: 8 << 20,
                site: Some(site.clone()),
            },
        )
        .expect("open store");
        let ingest = Ingest::new(store, site, Policy::default(), sinks());
        let caller = Caller {
            token: TokenId::parse("t0").unwrap(),
            station: StationId::parse("dock-1").unwrap(),
            role: Role::Admin,
        };
        Harness { ingest, caller }
    }

    pub fn receive(&self, key: &str, label: &str, qty: u32) -> Result<Ack, IngestError> {
        self.run(receive_write(&self.caller, key, label, qty))
    }

    pub fn inspect(&self, key: &str, case: CaseId, line: u16, grade: &str) -> Result<Ack, IngestError> {
        let command = Command::Inspect(Inspect {
            line: LineNo::new(line).unwrap(),
            qty: None,
            grade: Grade::parse(grade).unwrap(),
            conditions: vec![],
            serial: None,
            notes: None,
            corrects: None,
        });
        self.run(write(&self.caller, key, Some(case), command))
    }

    pub fn dispose(&self, key: &str, case: CaseId, line: u16, disposition: &str) -> Result<Ack, IngestError> {
        let command = Command::Dispose(Dispose {
            line: LineNo::new(line).unwrap(),
            qty: None,
            disposition: Some(Disposition::parse(disposition).unwrap()),
        });
        self.run(write(&self.caller, key, Some(case), command))
    }

    pub fn close(&self, key: &str, case: CaseId) -> Result<Ack, IngestError> {
        self.run(write(&self.caller, key, Some(case), Command::Close))
    }

    fn run(&self, write: Write) -> Result<Ack, IngestError> {
        let accepted = self.ingest.execute_blocking(&write)?;
        let body: serde_json::Value = serde_json::from_str(&accepted.body).unwrap();
        Ok(Ack {
            case_id: CaseId::parse(body["case_id"].as_str().unwrap()).unwrap(),
            seq: body["seq"].as_u64().unwrap(),
            replayed: accepted.replayed,
        })
    }
}

pub fn receive_write(caller: &Caller, key: &str, label: &str, qty: u32) -> Write {
    let command = Command::Receive(ReceiveParcel {
        label: Barcode::parse(label).unwrap(),
        weight: None,
        scale: None,
        rma: None,
        lines: vec![NewLine {
            sku: None,
            barcode: None,
            qty: Qty::new(qty).unwrap(),
            serial: None,
        }],
        expected: None,
        expectations_known: false,
        received_at_ms: 0,
    });
    write(caller, key, None, command)
}

pub fn write(caller: &Caller, key: &str, case: Option<CaseId>, command: Command) -> Write {
    // The fingerprint stands for the request body; derive it from the key and command so that a
    // retry of the same write matches and a different write does not.
    Write {
        caller: caller.clone(),
        idempotency_key: key.to_owned(),
        fingerprint: format!("{key}:{case:?}:{command:?}"),
        case,
        command,
    }
}
