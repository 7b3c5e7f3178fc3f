//! One sink's dispatcher: the schedule of pending entries, the delivery tasks, and the outcome
//! bookkeeping. See the module docs of `delivery` for the rules it enforces.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::retry::Schedule;
use super::{Job, Outcome, Progress, RetryScope, Sink};
use crate::domain::CaseId;
use crate::store::{OutboxEntry, Store, StoreError};

/// Tuning of a dispatcher.
#[derive(Debug, Clone)]
pub struct DispatcherOptions {
    /// Deliveries (or batches) running at once, for different cases.
    pub concurrency: usize,
    pub retry: Schedule,
    pub probe: Schedule,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        DispatcherOptions {
            concurrency: 4,
            retry: Schedule::ENTRY,
            probe: Schedule::PROBE,
        }
    }
}

/// What operators see of a sink (besides the counts kept in the store).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkStatus {
    /// Why the sink is paused, and since when (Unix ms).
    pub paused: Option<(String, u64)>,
    pub in_flight: usize,
    pub last_error: Option<String>,
    pub delivered: u64,
    pub retried: u64,
    pub rejected: u64,
}

/// Handle to a running dispatcher.
#[derive(Debug, Clone)]
pub struct SinkHandle {
    pub name: String,
    status: Arc<Mutex<SinkStatus>>,
    control: mpsc::UnboundedSender<Control>,
}

impl SinkHandle {
    pub fn status(&self) -> SinkStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Rebuilds the schedule from the store (after a dead letter was replayed or discarded).
    pub fn reload(&self) {
        let _ = self.control.send(Control::Reload);
    }

    /// Stops scheduling, lets running deliveries finish their current call, then ends.
    pub fn shutdown(&self) {
        let _ = self.control.send(Control::Shutdown);
    }
}

#[derive(Debug)]
enum Control {
    Reload,
    Shutdown,
}

/// Starts the dispatcher of `sink` named `name`. It runs until shut down.
pub fn spawn<S: Sink>(
    name: String,
    sink: S,
    store: Store,
    options: DispatcherOptions,
) -> (SinkHandle, tokio::task::JoinHandle<()>) {
    let (control, control_rx) = mpsc::unbounded_channel();
    let status = Arc::new(Mutex::new(SinkStatus::default()));
    let handle = SinkHandle {
        name: name.clone(),
        status: status.clone(),
        control,
    };
    let dispatcher = Dispatcher::new(name, sink, store, options, status);
    let task = tokio::spawn(dispatcher.run(control_rx));
    (handle, task)
}

struct Dispatcher<S> {
    name: String,
    sink: Arc<S>,
    store: Store,
    progress: Progress,
    permits: Arc<Semaphore>,
    options: DispatcherOptions,
    status: Arc<Mutex<SinkStatus>>,
    queue: Queue,
    clock: Clock,
}

/// The in-memory schedule. The store is the truth; this is rebuilt from it at will.
///
/// An entry is eligible (in `ready`) when it is the oldest pending entry of its case and, if it
/// has an order key, the oldest pending entry of that key; and neither its case nor its key is
/// blocked by a dead letter, nor its case in flight.
#[derive(Default)]
struct Queue {
    /// Pending entries by sequence number, with their order key.
    entries: HashMap<u64, (OutboxEntry, Option<String>)>,
    /// Each case's pending sequence numbers, oldest first.
    by_case: HashMap<CaseId, VecDeque<u64>>,
    /// Each order key's pending sequence numbers, oldest first.
    by_key: HashMap<String, VecDeque<u64>>,
    /// Eligible entries by due time (Unix ms) then sequence. The due time of a key always
    /// equals its entry's `next_attempt_at_ms`, so an entry is removed by its exact key.
    ready: BTreeSet<(u64, u64)>,
    in_flight: HashSet<CaseId>,
    /// Cases with a dead letter: their later entries wait for the operator.
    blocked: HashSet<CaseId>,
    /// Order keys with a dead letter: their later entries (of any case) wait too.
    blocked_keys: HashSet<String>,
    loaded_up_to: u64,
}

impl Queue {
    fn add(&mut self, entry: OutboxEntry, key: Option<String>) {
        let seq = entry.seq;
        self.by_case.entry(entry.case_id).or_default().push_back(seq);
        if let Some(key) = &key {
            self.by_key.entry(key.clone()).or_default().push_back(seq);
        }
        self.entries.insert(seq, (entry, key));
        self.make_ready_if_eligible(seq);
    }

    fn eligible(&self, seq: u64) -> bool {
        let Some((entry, key)) = self.entries.get(&seq) else {
            return false;
        };
        let case = entry.case_id;
        let case_head = self.by_case.get(&case).and_then(VecDeque::front) == Some(&seq);
        let key_ok = match key {
            None => true,
            Some(key) => {
                !self.blocked_keys.contains(key) && self.by_key.get(key).and_then(VecDeque::front) == Some(&seq)
            }
        };
        case_head && key_ok && !self.blocked.contains(&case) && !self.in_flight.contains(&case)
    }

    fn make_ready_if_eligible(&mut self, seq: u64) {
        if self.eligible(seq) {
            let due = self.entries.get(&seq).map_or(0, |(e, _)| e.next_attempt_at_ms);
            self.ready.insert((due, seq));
        }
    }

    /// Removes the finished entry from its case and key and makes their next entries eligible.
    /// A rejected entry first blocks its case and key (`blocked`), so nothing behind it starts.
    fn pop_head(&mut self, case: CaseId, seq: u64) {
        let key = self.entries.remove(&seq).and_then(|(_, key)| key);
        let mut next = Vec::new();
        if let Some(queue) = self.by_case.get_mut(&case) {
            queue.retain(|s| *s != seq);
            match queue.front() {
                Some(head) => next.push(*head),
                None => {
                    self.by_case.remove(&case);
                }
            }
        }
        if let Some(key) = key {
            if let Some(queue) = self.by_key.get_mut(&key) {
                queue.retain(|s| *s != seq);
                match queue.front() {
                    Some(head) => next.push(*head),
                    None => {
                        self.by_key.remove(&key);
                    }
                }
            }
        }
        for head in next {
            self.make_ready_if_eligible(head);
        }
    }

    /// Blocks the case and the order key of a dead-lettered entry.
    fn block(&mut self, case: CaseId, seq: u64) {
        self.blocked.insert(case);
        if let Some(key) = self.entries.get(&seq).and_then(|(_, key)| key.clone()) {
            self.blocked_keys.insert(key);
        }
    }

    fn make_all_due(&mut self, now_ms: u64) {
        let heads: Vec<(u64, u64)> = self.ready.iter().copied().collect();
        self.ready.clear();
        for (_, seq) in heads {
            if let Some((entry, _)) = self.entries.get_mut(&seq) {
                entry.next_attempt_at_ms = now_ms;
            }
            self.ready.insert((now_ms, seq));
        }
    }
}

/// What a finished delivery task reports back, after persisting it.
struct Completion {
    entry: OutboxEntry,
    outcome: Outcome,
}

impl<S: Sink> Dispatcher<S> {
    fn new(name: String, sink: S, store: Store, options: DispatcherOptions, status: Arc<Mutex<SinkStatus>>) -> Self {
        Dispatcher {
            progress: Progress::new(store.clone(), name.clone()),
            name,
            sink: Arc::new(sink),
            store,
            permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
            options,
            status,
            queue: Queue::default(),
            clock: Clock::new(),
        }
    }

    async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) {
        let mut durable = self.store.watch_durable();
        let mut tasks: JoinSet<Vec<Completion>> = JoinSet::new();
        let mut probe_attempt = 0u32;
        let mut next_probe = Instant::now();
        if let Err(e) = self.reload() {
            tracing::error!(sink = %self.name, error = %e, "Cannot load the outbox; will retry on the next event.");
        }
        loop {
            let paused = self.status.lock().map(|s| s.paused.is_some()).unwrap_or(false);
            if !paused {
                self.spawn_due(&mut tasks);
            }
            let wake_at = if paused {
                Some(next_probe)
            } else if self.permits.available_permits() == 0 {
                // Due entries wait for a running delivery to finish, not for a timer.
                None
            } else {
                self.queue.ready.first().map(|(due, _)| self.clock.instant_at(*due))
            };
            tokio::select! {
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    match done {
                        Ok(completions) => {
                            for c in completions {
                                self.account(c, &mut next_probe, &mut probe_attempt);
                            }
                        }
                        Err(e) => {
                            tracing::error!(sink = %self.name, error = %e, "Delivery task failed; reloading the outbox.");
                            let _ = self.reload();
                        }
                    }
                }
                changed = durable.changed() => {
                    if changed.is_err() {
                        break; // the store is gone
                    }
                    let up_to = *durable.borrow_and_update();
                    if let Err(e) = self.load_new(up_to) {
                        tracing::error!(sink = %self.name, error = %e, "Cannot read new outbox entries.");
                    }
                }
                message = control.recv() => match message {
                    Some(Control::Reload) => {
                        if let Err(e) = self.reload() {
                            tracing::error!(sink = %self.name, error = %e, "Cannot reload the outbox.");
                        }
                    }
                    Some(Control::Shutdown) | None => break,
                },
                _ = sleep_until(wake_at), if wake_at.is_some() => {
                    if paused {
                        self.probe(&mut next_probe, &mut probe_attempt).await;
                    }
                }
            }
        }
        // Let running deliveries finish their current remote call and record it.
        while let Some(done) = tasks.join_next().await {
            if let Ok(completions) = done {
                for c in completions {
                    self.account(c, &mut next_probe, &mut probe_attempt);
                }
            }
        }
        tracing::info!(sink = %self.name, "Dispatcher stopped.");
    }

    fn reload(&mut self) -> Result<(), StoreError> {
        let in_flight = std::mem::take(&mut self.queue.in_flight);
        self.queue = Queue {
            in_flight,
            ..Queue::default()
        };
        for (_, letter) in self.store.dead_letters(Some(&self.name))? {
            self.queue.blocked.insert(letter.entry.case_id);
            if let Some(key) = self.order_key(letter.entry.seq) {
                self.queue.blocked_keys.insert(key);
            }
        }
        let up_to = self.store.durable_seq();
        self.load_new(up_to)
    }

    fn load_new(&mut self, up_to: u64) -> Result<(), StoreError> {
        if up_to <= self.queue.loaded_up_to {
            return Ok(());
        }
        for entry in self.store.pending(&self.name, self.queue.loaded_up_to, up_to)? {
            if !self.queue.entries.contains_key(&entry.seq) {
                let key = self.order_key(entry.seq);
                self.queue.add(entry, key);
            }
        }
        self.queue.loaded_up_to = up_to;
        Ok(())
    }

    /// The sink's order key for the event at `seq` (`None` for sinks without cross-case order).
    /// An event that cannot be read gets no key here; loading its job fails the same way and
    /// keeps it out of the way, so it cannot overtake anything either.
    fn order_key(&self, seq: u64) -> Option<String> {
        if !S::ORDERED {
            return None;
        }
        match self.store.event(seq) {
            Ok(Some(event)) => self.sink.order_key(&event),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(sink = %self.name, seq, error = %e, "Cannot read the event of an outbox entry.");
                None
            }
        }
    }

    /// Starts deliveries for every due head while permits last, batching where the sink allows.
    fn spawn_due(&mut self, tasks: &mut JoinSet<Vec<Completion>>) {
        let now = self.clock.now_ms();
        while self.permits.available_permits() > 0 {
            let due: Vec<(u64, u64)> = self
                .queue
                .ready
                .iter()
                .take_while(|(at, _)| *at <= now)
                .copied()
                .take(self.sink.max_batch().max(1) * 8)
                .collect();
            if due.is_empty() {
                return;
            }
            let Some(batch) = self.take_batch(&due) else { return };
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                return;
            };
            let (sink, progress, store, name) = (
                self.sink.clone(),
                self.progress.clone(),
                self.store.clone(),
                self.name.clone(),
            );
            let (clock, retry) = (self.clock, self.options.retry);
            if let Ok(mut status) = self.status.lock() {
                status.in_flight = self.queue.in_flight.len();
            }
            tasks.spawn(async move {
                let _permit = permit;
                run_batch(sink, progress, store, name, batch, clock, retry).await
            });
        }
    }

    /// Takes the first due head and up to `max_batch - 1` other due heads with the same batch
    /// key out of the ready set, marking their cases in flight.
    fn take_batch(&mut self, due: &[(u64, u64)]) -> Option<Vec<Job>> {
        let mut batch: Vec<Job> = Vec::new();
        let mut key: Option<Option<String>> = None;
        for &(due_at, seq) in due {
            let Some(entry) = self.queue.entries.get(&seq).map(|(e, _)| e.clone()) else {
                continue;
            };
            let job = match self.load_job(entry) {
                Ok(job) => job,
                Err(e) => {
                    // Keep it pending but out of the way for a while, rather than spinning on it.
                    tracing::error!(sink = %self.name, seq, error = %e, "Cannot load the event of an outbox entry.");
                    let later = self.clock.now_ms() + 5_000;
                    self.queue.ready.remove(&(due_at, seq));
                    self.queue.ready.insert((later, seq));
                    if let Some((entry, _)) = self.queue.entries.get_mut(&seq) {
                        entry.next_attempt_at_ms = later;
                    }
                    continue;
                }
            };
            let job_key = self.sink.batch_key(&job);
            match &key {
                None => key = Some(job_key),
                Some(k) if k.is_some() && *k == job_key => {}
                Some(_) => continue,
            }
            self.queue.ready.remove(&(due_at, seq));
            self.queue.in_flight.insert(job.entry.case_id);
            batch.push(job);
            if key.as_ref().is_some_and(Option::is_none) || batch.len() >= self.sink.max_batch().max(1) {
                break;
            }
        }
        (!batch.is_empty()).then_some(batch)
    }

    fn load_job(&self, entry: OutboxEntry) -> Result<Job, StoreError> {
        let event = self.store.event(entry.seq)?.ok_or_else(|| StoreError::Decode {
            tree: "events",
            source: crate::store::DecodeError::Malformed {
                name: "event",
                reason: format!("outbox entry {} has no event", entry.seq),
            },
        })?;
        let case = self.store.case(entry.case_id)?;
        Ok(Job { entry, event, case })
    }

    /// Updates the schedule and status after a persisted outcome.
    fn account(&mut self, completion: Completion, next_probe: &mut Instant, probe_attempt: &mut u32) {
        let Completion { entry, outcome } = completion;
        let (seq, case) = (entry.seq, entry.case_id);
        self.queue.in_flight.remove(&case);
        // The dead letter is visible in the store before this completion is accounted, so an
        // operator may already have replayed or discarded it, and the reload that followed saw
        // the case in flight. Blocking the case now would strand the replayed entry: when the
        // letter is gone, the store is the truth and the schedule is rebuilt from it.
        let letter_gone = matches!(outcome, Outcome::Reject { .. })
            && matches!(self.store.dead_letter_record(&self.name, seq), Ok(None));
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Outcome::Delivered | Outcome::Settled { .. } => {
                status.delivered += 1;
                self.queue.pop_head(case, seq);
            }
            Outcome::Reject { reason } => {
                status.rejected += 1;
                status.last_error = Some(reason);
                if !letter_gone {
                    self.queue.block(case, seq);
                    self.queue.pop_head(case, seq);
                }
            }
            Outcome::Retry { reason, scope, .. } => {
                status.retried += 1;
                status.last_error = Some(reason.clone());
                match self.queue.entries.get_mut(&seq) {
                    Some((pending, _)) => {
                        *pending = entry;
                        self.queue.make_ready_if_eligible(seq);
                    }
                    None => {
                        let key = self.order_key(seq);
                        self.queue.add(entry, key);
                    }
                }
                if scope == RetryScope::Sink && status.paused.is_none() {
                    tracing::warn!(sink = %self.name, reason = %reason, "Sink paused; probing until it works again.");
                    status.paused = Some((reason, self.clock.now_ms()));
                    *probe_attempt = 0;
                    *next_probe = Instant::now() + self.options.probe.delay(1);
                }
            }
        }
        status.in_flight = self.queue.in_flight.len();
        drop(status);
        if letter_gone {
            if let Err(e) = self.reload() {
                tracing::error!(sink = %self.name, error = %e, "Cannot reload the outbox.");
            }
        }
    }

    async fn probe(&mut self, next_probe: &mut Instant, probe_attempt: &mut u32) {
        match self.sink.probe().await {
            Ok(()) => {
                tracing::info!(sink = %self.name, "Sink probe succeeded; resuming deliveries.");
                if let Ok(mut status) = self.status.lock() {
                    status.paused = None;
                }
                *probe_attempt = 0;
                // Entries backed off during the outage; the sink is back, so all are due now.
                self.queue.make_all_due(self.clock.now_ms());
            }
            Err(reason) => {
                *probe_attempt += 1;
                *next_probe = Instant::now() + self.options.probe.delay(*probe_attempt + 1);
                // The pause keeps the reason that caused it; the probe's answer is the latest error.
                if let Ok(mut status) = self.status.lock() {
                    status.last_error = Some(format!("probe: {reason}"));
                }
            }
        }
    }
}

/// Runs one delivery call for a batch and persists each job's outcome.
async fn run_batch<S: Sink>(
    sink: Arc<S>,
    progress: Progress,
    store: Store,
    name: String,
    mut jobs: Vec<Job>,
    clock: Clock,
    retry: Schedule,
) -> Vec<Completion> {
    let outcomes = sink.deliver(&mut jobs, &progress).await;
    let mut completions = Vec::with_capacity(jobs.len());
    let mut outcomes = outcomes.into_iter();
    for job in jobs {
        let outcome = outcomes
            .next()
            .unwrap_or_else(|| Outcome::retry("the sink gave no outcome for this entry"));
        let mut entry = job.entry;
        let now = clock.now_ms();
        let persisted = match &outcome {
            Outcome::Delivered => store.settle_delivered(&name, &entry, now),
            Outcome::Settled { note } => {
                tracing::info!(sink = %name, seq = entry.seq, note = %note, "Settled without a remote effect.");
                store.settle_delivered_noted(&name, &entry, now, Some(note))
            }
            Outcome::Reject { reason } => {
                tracing::warn!(sink = %name, seq = entry.seq, reason = %reason, "Delivery rejected; dead-lettered.");
                store.dead_letter(&name, &entry, reason, now)
            }
            Outcome::Retry { reason, after, .. } => {
                entry.attempts = entry.attempts.saturating_add(1);
                let delay = after.unwrap_or_else(|| retry.delay(entry.attempts));
                entry.next_attempt_at_ms = now + delay.as_millis() as u64;
                entry.last_error = Some(reason.clone());
                tracing::debug!(sink = %name, seq = entry.seq, attempts = entry.attempts, reason = %reason, "Delivery will be retried.");
                store.update_pending(&name, &entry)
            }
        };
        let outcome = match persisted {
            Ok(()) => outcome,
            // The outcome is not recorded; the schedule retries and the sink's read-before-write
            // finds whatever effect was made.
            Err(e) => {
                tracing::error!(sink = %name, seq = entry.seq, error = %e, "Cannot record a delivery outcome.");
                entry.next_attempt_at_ms = now + 1_000;
                Outcome::retry(format!("store error: {e}"))
            }
        };
        completions.push(Completion { entry, outcome });
    }
    if let Err(e) = store.durable().await {
        tracing::error!(sink = %name, error = %e, "Cannot make delivery outcomes durable.");
    }
    completions
}

/// Wall-clock milliseconds derived from tokio's clock, so that tests with paused time see
/// retries come due as time is advanced.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall_at_start: u64,
    start: Instant,
}

impl Clock {
    fn new() -> Self {
        Clock {
            wall_at_start: crate::ingest::now_ms(),
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.wall_at_start + self.start.elapsed().as_millis() as u64
    }

    fn instant_at(&self, at_ms: u64) -> Instant {
        let now = self.now_ms();
        Instant::now() + Duration::from_millis(at_ms.saturating_sub(now))
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    //! Interleavings the running dispatcher cannot be made to hit on demand, stepped by hand.

    use super::super::tests::{admin, bare_receipt, temp_ingest};
    use super::*;
    use crate::ingest::Write;

    /// The steps below never call the sink.
    struct Unused;

    impl Sink for Unused {
        async fn deliver(&self, _jobs: &mut [Job], _progress: &Progress) -> Vec<Outcome> {
            unreachable!("these tests account outcomes by hand")
        }

        async fn probe(&self) -> Result<(), String> {
            Ok(())
        }
    }

    /// Orders entries by their label across cases, like the Odoo sink orders an RMA's receipts.
    struct ByLabel;

    impl Sink for ByLabel {
        const ORDERED: bool = true;

        fn order_key(&self, event: &crate::store::EventRecord) -> Option<String> {
            match &event.event {
                crate::domain::CaseEvent::ParcelReceived { label, .. } => Some(label.to_string()),
                _ => None,
            }
        }

        async fn deliver(&self, _jobs: &mut [Job], _progress: &Progress) -> Vec<Outcome> {
            unreachable!("these tests account outcomes by hand")
        }

        async fn probe(&self) -> Result<(), String> {
            Ok(())
        }
    }

    fn ready_seqs<S: Sink>(dispatcher: &Dispatcher<S>) -> Vec<u64> {
        let mut seqs: Vec<u64> = dispatcher.queue.ready.iter().map(|(_, seq)| *seq).collect();
        seqs.sort_unstable();
        seqs
    }

    #[tokio::test]
    async fn entries_with_one_order_key_go_one_at_a_time_across_cases_and_a_dead_letter_holds_the_rest() {
        let (_dir, ingest) = temp_ingest();
        let store = ingest.store().clone();
        for (n, label) in ["RMA-7", "RMA-7", "OTHER", "RMA-7"].into_iter().enumerate() {
            let crate::domain::Command::Receive(mut receipt) = bare_receipt() else {
                unreachable!()
            };
            receipt.label = crate::domain::Barcode::parse(label).unwrap();
            let write = Write {
                caller: admin(),
                idempotency_key: format!("k{n}"),
                fingerprint: format!("f{n}"),
                case: None,
                command: crate::domain::Command::Receive(receipt),
            };
            ingest.execute(write).await.unwrap();
        }
        store.durable().await.unwrap();
        let status = Arc::new(Mutex::new(SinkStatus::default()));
        let mut dispatcher = Dispatcher::new(
            "test".into(),
            ByLabel,
            store.clone(),
            DispatcherOptions::default(),
            status,
        );
        dispatcher.reload().unwrap();
        assert_eq!(
            ready_seqs(&dispatcher),
            vec![1, 3],
            "the later RMA-7 receipts wait, OTHER does not"
        );

        // In flight, then retried: still the only RMA-7 entry that may run.
        let first = dispatcher.take_batch(&[(0, 1)]).unwrap().remove(0).entry;
        let retry = Completion {
            entry: first.clone(),
            outcome: Outcome::retry("later"),
        };
        dispatcher.account(retry, &mut Instant::now(), &mut 0);
        assert_eq!(ready_seqs(&dispatcher), vec![1, 3]);

        // Dead-lettered: the key stays blocked, in memory and after a reload from the store.
        let first = dispatcher
            .take_batch(&[(first.next_attempt_at_ms, 1)])
            .unwrap()
            .remove(0)
            .entry;
        store.dead_letter("test", &first, "refused", 0).unwrap();
        let rejected = Completion {
            entry: first.clone(),
            outcome: Outcome::reject("refused"),
        };
        dispatcher.account(rejected, &mut Instant::now(), &mut 0);
        assert_eq!(ready_seqs(&dispatcher), vec![3]);
        dispatcher.reload().unwrap();
        assert_eq!(ready_seqs(&dispatcher), vec![3], "the order survives a reload");

        // Replayed: it goes first again; once delivered, the next one of its key is due.
        assert!(store.replay_dead_letter("test", 1).unwrap());
        dispatcher.reload().unwrap();
        assert_eq!(ready_seqs(&dispatcher), vec![1, 3]);
        let first = dispatcher.take_batch(&[(0, 1)]).unwrap().remove(0).entry;
        let delivered = Completion {
            entry: first,
            outcome: Outcome::Delivered,
        };
        dispatcher.account(delivered, &mut Instant::now(), &mut 0);
        assert_eq!(ready_seqs(&dispatcher), vec![2, 3]);
    }

    /// Regression: the delivery task records the dead letter (visible at once) and only then
    /// reports back. An operator who replayed it in between, followed by a reload, saw the case
    /// in flight; the late rejection then blocked the case and dropped the replayed entry from
    /// the schedule until the next restart.
    #[tokio::test]
    async fn a_dead_letter_replayed_before_its_rejection_is_accounted_stays_scheduled() {
        let (_dir, ingest) = temp_ingest();
        let store = ingest.store().clone();
        let write = Write {
            caller: admin(),
            idempotency_key: "k1".into(),
            fingerprint: "f1".into(),
            case: None,
            command: bare_receipt(),
        };
        ingest.execute(write).await.unwrap();

        let status = Arc::new(Mutex::new(SinkStatus::default()));
        let mut dispatcher = Dispatcher::new(
            "test".into(),
            Unused,
            store.clone(),
            DispatcherOptions::default(),
            status,
        );
        dispatcher.reload().unwrap();
        let due: Vec<(u64, u64)> = dispatcher.queue.ready.iter().copied().collect();
        let entry = dispatcher.take_batch(&due).unwrap().remove(0).entry;
        let (seq, case) = (entry.seq, entry.case_id);

        store.dead_letter("test", &entry, "422: refused", 0).unwrap();
        assert!(store.replay_dead_letter("test", seq).unwrap());
        dispatcher.reload().unwrap();
        let completion = Completion {
            entry,
            outcome: Outcome::reject("422: refused"),
        };
        dispatcher.account(completion, &mut Instant::now(), &mut 0);

        assert!(!dispatcher.queue.blocked.contains(&case), "the case stayed blocked");
        assert!(
            dispatcher.queue.ready.iter().any(|(_, s)| *s == seq),
            "the replayed entry is not scheduled"
        );
    }
}
