//! The [`Sink`] the dispatcher drives for a refund receiver: one decision per call, the body
//! built from the stored event, the key read once at start and again when a paused sink is
//! probed (so a rotated key file is picked up without a restart).

use std::sync::Mutex;

use super::client::{RefundBody, RefundClient};
use super::config::RefundConfig;
use crate::delivery::{Job, Outcome, Progress, Sink};
use crate::sinks::common::Secret;

/// Forwards refund decisions to the central refund trigger.
#[derive(Debug)]
pub struct RefundSink {
    config: RefundConfig,
    client: RefundClient,
    key: Mutex<Secret>,
}

impl RefundSink {
    pub fn new(config: RefundConfig) -> Result<Self, String> {
        let key = config.read_key()?;
        let client = RefundClient::new(&config)?;
        Ok(RefundSink {
            config,
            client,
            key: Mutex::new(key),
        })
    }

    fn key(&self) -> Secret {
        self.key.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn deliver_one(&self, job: &Job) -> Outcome {
        let Some(body) = RefundBody::new(&job.event, job.case.as_ref()) else {
            // Only refund decisions get entries for this sink; anything else is a store from a
            // future or broken version, and an operator must look.
            return Outcome::reject(format!(
                "event {} is a {}, not a refund decision",
                job.event.id,
                job.event.event.kind()
            ));
        };
        // Invariant: the body is plain data (ids, strings, numbers).
        let bytes = serde_json::to_vec(&body).expect("a refund body serialises to JSON");
        self.client.post(&self.key(), &job.event.id.to_string(), &bytes).await
    }
}

impl Sink for RefundSink {
    async fn deliver(&self, jobs: &mut [Job], _progress: &Progress) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs.iter() {
            outcomes.push(self.deliver_one(job).await);
        }
        outcomes
    }

    async fn probe(&self) -> Result<(), String> {
        let key = self.config.read_key()?;
        *self.key.lock().unwrap_or_else(|p| p.into_inner()) = key;
        Ok(())
    }
}
