//! The mixed workload: stations working cases through receipt (with and without an expected
//! return, sometimes weighed empty), inspections, supervisor corrections, flag clearances,
//! dispositions and closing — and the ledger of every request and what the edge answered.
//!
//! An expected return may come as 2–3 parcels (issue 12): each parcel is a case of its own, and
//! they are posted back to back, by the station that took the first one or by whichever stations
//! plan next, so that the edge holds several receipts of one RMA at once and must book them in
//! order. Parcels of serial-tracked products list one line per unit, sometimes with the serial.
//!
//! A request whose answer was never read (the server was killed, the client gave up early on
//! purpose) stays *pending* on its case: the case waits, and after the restart the same request
//! is sent again with the same Idempotency-Key until it gets a definitive answer. So every
//! acknowledged request is known, and every case's next step is decided from real answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::edge::station;

/// One receipt line as a station scans it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParcelLine {
    pub sku: String,
    pub qty: u32,
    /// The serial read off the unit (serial-tracked products, one unit per line).
    pub serial: Option<String>,
}

/// One parcel of an open return Odoo expects: scanning `label` finds it in the edge's RMA cache.
#[derive(Debug, Clone)]
pub struct Expected {
    pub label: String,
    /// What this parcel holds: all of the return, or its share of it.
    pub lines: Vec<ParcelLine>,
}

/// Expected returns waiting for a station, and parcels that must be posted next.
#[derive(Debug, Default)]
pub struct Pool {
    /// One entry per return: its parcels, in the order they are posted.
    returns: VecDeque<Vec<Expected>>,
    /// Parcels of a return whose first parcel was just taken: the next station to plan posts one,
    /// so the parcels of one return reach the edge back to back.
    next: VecDeque<Expected>,
}

impl Pool {
    /// Returns waiting (a return of several parcels counts once).
    pub fn len(&self) -> usize {
        self.returns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.returns.is_empty()
    }

    /// Queues returns, each as its parcels.
    pub fn extend(&mut self, returns: impl IntoIterator<Item = Vec<Expected>>) {
        self.returns
            .extend(returns.into_iter().filter(|parcels| !parcels.is_empty()));
    }
}

/// SKUs the unexpected parcels contain (seeded in the fake Odoo with stock).
pub const SKUS: [&str; 3] = ["E-COM07", "E-COM08", "E-COM10"];
const GRADES: [&str; 5] = ["A", "B", "C", "D", "F"];
const DISPOSITIONS: [&str; 4] = ["restock", "refurbish", "quarantine", "scrap"];

/// One request, as sent (and re-sent) byte for byte.
#[derive(Debug, Clone)]
pub struct Request {
    pub key: String,
    pub path: String,
    pub body: Value,
}

/// An acknowledged write.
#[derive(Debug, Clone)]
pub struct Acked {
    pub key: String,
    pub event_id: String,
    pub case_id: String,
    pub path: String,
}

/// What every station did, shared by all of them.
#[derive(Debug, Default)]
pub struct Ledger {
    pub sent: u64,
    pub acked: Vec<Acked>,
    pub duplicates: u64,
    pub abandoned: u64,
    pub resent: u64,
    /// Requests left without an answer, by why (transport error, 503, 507, 429).
    pub unanswered: std::collections::BTreeMap<&'static str, u64>,
    /// Broken promises seen by the workload itself (a duplicate answered differently, a refusal).
    pub violations: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Receive,
    Inspect(usize),
    Correct,
    ClearFlags,
    Dispose(usize),
    Close,
    Done,
}

/// One case a station works, and where it stands.
#[derive(Debug)]
struct Script {
    label: String,
    lines: Vec<ParcelLine>,
    /// A later parcel of a return this station took: its receipt goes before anything else.
    urgent: bool,
    weight_g: Option<u32>,
    correct: bool,
    case_id: Option<String>,
    step: Step,
    first_inspection: Option<String>,
    open_flags: Vec<String>,
    /// Sent, answer not read: re-sent as is until answered.
    pending: Option<Request>,
}

/// A station's cases; lives across kills (the tasks working them do not).
#[derive(Debug)]
pub struct Station {
    pub index: usize,
    pub token: String,
    scripts: Vec<Script>,
    rng: StdRng,
    next: u64,
}

pub type Shared<T> = Arc<Mutex<T>>;

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Station {
    pub fn new(index: usize, token: String, seed: u64) -> Self {
        Station {
            index,
            token,
            scripts: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            next: 0,
        }
    }

    /// Requests sent whose answer was never read.
    pub fn pending(&self) -> usize {
        self.scripts.iter().filter(|s| s.pending.is_some()).count()
    }

    /// Cases not finished.
    pub fn open_cases(&self) -> usize {
        self.scripts.iter().filter(|s| s.step != Step::Done).count()
    }
}

enum Answer {
    Definitive(u16, Value),
    /// No answer to trust: why (`transport`, `503`, `507`, `429`).
    Unknown(&'static str),
}

async fn send(client: &reqwest::Client, base: &str, token: &str, request: &Request, timeout: Duration) -> Answer {
    let sent = client
        .post(format!("{base}{}", request.path))
        .bearer_auth(token)
        .header("Idempotency-Key", &request.key)
        .json(&request.body)
        .timeout(timeout)
        .send()
        .await;
    let Ok(response) = sent else {
        return Answer::Unknown("transport");
    };
    let status = response.status().as_u16();
    // 503 (shutting down, store cannot sync), 507 (disk full: nothing stored) and 429 promise
    // nothing either way: retry later with the same key, as a station does.
    if status == 503 {
        return Answer::Unknown("503");
    }
    if status == 507 {
        return Answer::Unknown("507");
    }
    if status == 429 {
        return Answer::Unknown("429");
    }
    match response.bytes().await {
        Ok(bytes) => Answer::Definitive(status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
        Err(_) => Answer::Unknown("transport"),
    }
}

/// Works one station until the task is aborted (the kill) or `stop` is set.
pub async fn run_station(
    station: Shared<Station>,
    ledger: Shared<Ledger>,
    pool: Shared<Pool>,
    base: String,
    resend_only: bool,
    think: Duration,
) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(2)
        .build()
        .expect("an HTTP client");
    // First, settle what the last cycle left unanswered: same keys, same bodies.
    let pending: Vec<(usize, Request)> = {
        let s = lock(&station);
        s.scripts
            .iter()
            .enumerate()
            .filter_map(|(i, sc)| sc.pending.clone().map(|r| (i, r)))
            .collect()
    };
    let token = lock(&station).token.clone();
    for (i, request) in pending {
        match send(&client, &base, &token, &request, Duration::from_secs(10)).await {
            Answer::Definitive(status, body) => {
                lock(&ledger).resent += 1;
                let mut s = lock(&station);
                apply_answer(&mut s.scripts[i], &request, status, &body, &ledger);
            }
            Answer::Unknown(why) => {
                *lock(&ledger).unanswered.entry(why).or_default() += 1;
                return;
            }
        }
    }
    if resend_only {
        return;
    }
    loop {
        if !think.is_zero() {
            tokio::time::sleep(think).await;
        }
        let Some((i, request, abandon, duplicate)) = plan(&station, &pool) else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        lock(&ledger).sent += 1;
        // Now and then the client gives up before reading the answer, as a station with a flaky
        // link does; the request stays pending and is re-sent after the next restart.
        let timeout = if abandon {
            Duration::from_millis(1)
        } else {
            Duration::from_secs(10)
        };
        match send(&client, &base, &token, &request, timeout).await {
            Answer::Unknown(why) => {
                if abandon {
                    lock(&ledger).abandoned += 1;
                } else {
                    *lock(&ledger).unanswered.entry(why).or_default() += 1;
                }
                // Leave it pending; this case waits for the next cycle's resend. A station whose
                // server is gone backs off instead of spinning through new cases.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Answer::Definitive(status, body) => {
                if duplicate && (200..300).contains(&status) {
                    lock(&ledger).duplicates += 1;
                    if let Answer::Definitive(again, again_body) =
                        send(&client, &base, &token, &request, Duration::from_secs(10)).await
                    {
                        if again != status || again_body != body {
                            lock(&ledger).violations.push(format!(
                                "a duplicate of {} ({}) was answered {again} {again_body} instead of {status} {body}",
                                request.key, request.path
                            ));
                        }
                    }
                }
                let mut s = lock(&station);
                apply_answer(&mut s.scripts[i], &request, status, &body, &ledger);
            }
        }
    }
}

/// Picks the next request: a waiting parcel of a return already begun, an urgent receipt, a
/// step of a case that is not waiting for an answer, or a new case. Marks it pending before it
/// is sent, so a kill mid-flight leaves it to be re-sent.
fn plan(station: &Shared<Station>, pool: &Shared<Pool>) -> Option<(usize, Request, bool, bool)> {
    let mut s = lock(station);
    let s = &mut *s;
    let ready: Vec<usize> = (0..s.scripts.len())
        .filter(|&i| s.scripts[i].pending.is_none() && s.scripts[i].step != Step::Done)
        .collect();
    let urgent = ready.iter().copied().find(|&i| s.scripts[i].urgent);
    let sibling = lock(pool).next.pop_front();
    let index = if let Some(parcel) = sibling {
        s.scripts.push(expected_script(&mut s.rng, parcel, false));
        s.scripts.len() - 1
    } else if let Some(i) = urgent {
        i
    } else if ready.is_empty() || (s.open_cases() < 3 && s.rng.gen_bool(0.3)) {
        new_scripts(s, pool)
    } else {
        ready[s.rng.gen_range(0..ready.len())]
    };
    s.next += 1;
    let key = format!("st{}-{}-{}", s.index, s.next, s.rng.gen::<u32>());
    let request = next_request(&mut s.rng, &s.scripts[index], key, s.index)?;
    let abandon = s.rng.gen_bool(0.02);
    let duplicate = s.rng.gen_bool(0.05);
    s.scripts[index].pending = Some(request.clone());
    Some((index, request, abandon, duplicate))
}

/// Starts a new case: an expected return's first parcel (three times in four, while the pool
/// has one) or an unexpected parcel. The later parcels of a return are received right after:
/// half the time by this station, else by whichever station plans next. Returns the index of
/// the script to work now.
fn new_scripts(s: &mut Station, pool: &Shared<Pool>) -> usize {
    let n = s.next;
    s.next += 1;
    let parcels = if s.rng.gen_bool(0.75) {
        lock(pool).returns.pop_front()
    } else {
        None
    };
    let Some(mut parcels) = parcels.filter(|p| !p.is_empty()) else {
        let count = s.rng.gen_range(1..=2);
        let lines = (0..count)
            .map(|_| ParcelLine {
                sku: SKUS[s.rng.gen_range(0..SKUS.len())].to_owned(),
                qty: s.rng.gen_range(1..=3),
                serial: None,
            })
            .collect();
        s.scripts
            .push(Script::new(format!("PARCEL-{}-{n}", s.index), lines, None, &mut s.rng));
        return s.scripts.len() - 1;
    };
    let rest = parcels.split_off(1);
    let first = parcels.remove(0);
    s.scripts.push(expected_script(&mut s.rng, first, false));
    let index = s.scripts.len() - 1;
    if s.rng.gen_bool(0.5) {
        for parcel in rest {
            s.scripts.push(expected_script(&mut s.rng, parcel, true));
        }
    } else {
        lock(pool).next.extend(rest);
    }
    index
}

fn expected_script(rng: &mut StdRng, parcel: Expected, urgent: bool) -> Script {
    // An empty box now and then: weight_mismatch, a supervisor clears it.
    let weight = rng.gen_bool(0.1).then_some(0);
    let mut script = Script::new(parcel.label, parcel.lines, weight, rng);
    script.urgent = urgent;
    script
}

impl Script {
    fn new(label: String, lines: Vec<ParcelLine>, weight_g: Option<u32>, rng: &mut StdRng) -> Script {
        Script {
            label,
            lines,
            urgent: false,
            weight_g,
            correct: rng.gen_bool(0.15),
            case_id: None,
            step: Step::Receive,
            first_inspection: None,
            open_flags: Vec::new(),
            pending: None,
        }
    }
}

fn next_request(rng: &mut StdRng, script: &Script, key: String, station_index: usize) -> Option<Request> {
    let station = station(station_index);
    let case = script.case_id.clone().unwrap_or_default();
    let (path, body) = match script.step {
        Step::Receive => {
            let lines: Vec<Value> = script
                .lines
                .iter()
                .map(|l| {
                    let mut line = json!({"sku": l.sku, "qty": l.qty});
                    if let Some(serial) = &l.serial {
                        line["serial"] = serial.as_str().into();
                    }
                    line
                })
                .collect();
            let mut body = json!({"station": station, "label": script.label, "lines": lines});
            if let Some(g) = script.weight_g {
                body["weight_g"] = g.into();
            }
            ("/v1/parcels".to_owned(), body)
        }
        Step::Inspect(line) => (
            format!("/v1/cases/{case}/inspections"),
            json!({"station": station, "line": line, "grade": GRADES[rng.gen_range(0..GRADES.len())]}),
        ),
        Step::Correct => (
            format!("/v1/cases/{case}/inspections"),
            json!({"station": station, "line": 1, "grade": GRADES[rng.gen_range(0..GRADES.len())],
                   "corrects": script.first_inspection}),
        ),
        Step::ClearFlags => (
            format!("/v1/cases/{case}/flag-clearances"),
            json!({"station": station, "flag": script.open_flags.first()?, "note": "campaign: checked"}),
        ),
        Step::Dispose(line) => (
            format!("/v1/cases/{case}/dispositions"),
            json!({"station": station, "line": line,
                   "disposition": DISPOSITIONS[rng.gen_range(0..DISPOSITIONS.len())]}),
        ),
        Step::Close => (format!("/v1/cases/{case}/close"), json!({"station": station})),
        Step::Done => return None,
    };
    Some(Request { key, path, body })
}

/// Moves the script on after a definitive answer.
fn apply_answer(script: &mut Script, request: &Request, status: u16, body: &Value, ledger: &Shared<Ledger>) {
    script.pending = None;
    script.urgent = false;
    if !(200..300).contains(&status) {
        lock(ledger).violations.push(format!(
            "{} {} (key {}) was refused with {status}: {body}",
            request.path, request.body, request.key
        ));
        // The case cannot go on sensibly; stop working it (the checks still cover its events).
        script.step = Step::Done;
        return;
    }
    let text = |field: &str| body[field].as_str().unwrap_or_default().to_owned();
    lock(ledger).acked.push(Acked {
        key: request.key.clone(),
        event_id: text("event_id"),
        case_id: text("case_id"),
        path: request.path.clone(),
    });
    script.open_flags = body["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let lines = script.lines.len();
    script.step = match script.step {
        Step::Receive => {
            script.case_id = Some(text("case_id"));
            Step::Inspect(1)
        }
        Step::Inspect(line) => {
            if line == 1 {
                script.first_inspection = Some(text("event_id"));
            }
            if line < lines {
                Step::Inspect(line + 1)
            } else if script.correct {
                Step::Correct
            } else {
                Step::ClearFlags
            }
        }
        Step::Correct => Step::ClearFlags,
        Step::ClearFlags => Step::ClearFlags,
        Step::Dispose(line) if line < lines => Step::Dispose(line + 1),
        Step::Dispose(_) => Step::Close,
        Step::Close | Step::Done => Step::Done,
    };
    if script.step == Step::ClearFlags && script.open_flags.is_empty() {
        script.step = Step::Dispose(1);
    }
}

/// Drops finished cases so a long run's memory stays flat.
pub fn forget_finished(station: &Shared<Station>) {
    lock(station)
        .scripts
        .retain(|s| s.step != Step::Done || s.pending.is_some());
}
