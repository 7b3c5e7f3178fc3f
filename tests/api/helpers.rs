//! `spawn_app()`: the real `App` on a loopback port with a temp store, station tokens in every role,
//! and a `TestApp` with one method per endpoint plus the store probes used by "nothing stored" checks.

use std::net::SocketAddr;

use reqwest::header::HeaderMap;
use reqwest::Method;
use returns_edge::app::App;
use returns_edge::config::{Config, FlagOverrides, SinkConfig};
use returns_edge::domain::{Role, StationId, TokenId};
use returns_edge::sinks::{SinkKind, SinkName};
use returns_edge::store::Store;
use returns_edge::tokens;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The station every role token belongs to.
pub const STATION: &str = "dock-1";
/// The station of the one extra token (role admin, so only the station can be at fault).
pub const OTHER_STATION: &str = "dock-2";
/// The one sink configured; it wants receipts and dispositions.
pub const SINK: &str = "odoo";

/// A running server and what a test needs to talk to it and look into its store.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    /// A clone of the server's store, taken before `run`, for "nothing stored" checks.
    pub store: Store,
    /// dock-1 tokens in `Role::ALL` order.
    tokens: Vec<(Role, IssuedToken)>,
    /// The dock-2 token (role admin).
    pub other_station_token: String,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
struct IssuedToken {
    bearer: String,
    id: TokenId,
}

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The store's entry counts and last sequence number at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSnapshot {
    pub tree_sizes: Vec<(&'static str, usize)>,
    pub last_seq: u64,
}

/// The five write routes, for table-driven tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteRoute {
    Parcel,
    Inspection,
    Disposition,
    FlagClearance,
    Close,
}

impl WriteRoute {
    pub const ALL: [WriteRoute; 5] = [
        WriteRoute::Parcel,
        WriteRoute::Inspection,
        WriteRoute::Disposition,
        WriteRoute::FlagClearance,
        WriteRoute::Close,
    ];

    pub fn path(self, case: &str) -> String {
        match self {
            WriteRoute::Parcel => "/v1/parcels".to_owned(),
            WriteRoute::Inspection => format!("/v1/cases/{case}/inspections"),
            WriteRoute::Disposition => format!("/v1/cases/{case}/dispositions"),
            WriteRoute::FlagClearance => format!("/v1/cases/{case}/flag-clearances"),
            WriteRoute::Close => format!("/v1/cases/{case}/close"),
        }
    }

    /// A body this route accepts for a case prepared by [`TestApp::case_ready_for`], as `station`.
    pub fn valid_body(self, station: &str) -> Value {
        let body = match self {
            WriteRoute::Parcel => parcel_body("1Z999AA10123456784", 1),
            WriteRoute::Inspection => inspection_body(1, "B"),
            WriteRoute::Disposition => disposition_body(1, "restock"),
            WriteRoute::FlagClearance => clearance_body("wrong_item"),
            WriteRoute::Close => close_body(),
        };
        with_station(body, station)
    }
}

/// Starts the real server on 127.0.0.1:0 with a fresh store, one `odoo` sink and station tokens.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with the configuration adjusted first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = Config::load(None, [], &FlagOverrides::default()).expect("the embedded defaults load");
    adjust(&mut config);
    config.server.listen = "127.0.0.1:0".parse().expect("a socket address");
    config.store.data_dir = dir.path().join("store");
    // An Odoo nobody answers at: the WAN is down, entries wait in the outbox as `pending`.
    let secret = dir.path().join("odoo-secret");
    std::fs::write(&secret, "unused").expect("write the secret file");
    let odoo = format!(
        "url = \"http://127.0.0.1:1\"\ndatabase = \"db\"\nlogin = \"edge\"\nsecret_file = \"{}\"\n",
        secret.display()
    );
    config.sinks.push(SinkConfig {
        name: SinkName::parse(SINK).expect("a sink name"),
        kind: SinkKind::Odoo,
        odoo: Some(toml::from_str(&odoo).expect("an odoo sink config")),
        refund: None,
    });

    let app = App::build(&config).await.expect("the app builds");
    let addr = app.local_addr();
    let store = app.store().clone();
    let (tokens, other_station_token) = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let issue = |station: &str, role: Role| {
                let station = StationId::parse(station).expect("a station id");
                let new = tokens::create(&store, station, role, 1).expect("a token is stored");
                IssuedToken {
                    bearer: new.token,
                    id: new.record.id,
                }
            };
            let tokens: Vec<_> = Role::ALL.iter().map(|&role| (role, issue(STATION, role))).collect();
            (tokens, issue(OTHER_STATION, Role::Admin).bearer)
        })
        .await
        .expect("token creation does not panic")
    };

    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        // A dropped sender (the test ended) also stops the server.
        let _ = stop.await;
    }));
    let client = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    TestApp {
        addr,
        store,
        tokens,
        other_station_token,
        client,
        shutdown: Some(shutdown),
        server: Some(server),
        _dir: dir,
    }
}

impl TestApp {
    /// The dock-1 bearer token of `role`.
    pub fn token(&self, role: Role) -> &str {
        &self.issued(role).bearer
    }

    /// Revokes the dock-1 token of `role` directly in the store.
    pub fn revoke(&self, role: Role) {
        assert!(
            self.store.revoke_token(&self.issued(role).id, 2).expect("revoke"),
            "the token existed"
        );
    }

    fn issued(&self, role: Role) -> &IssuedToken {
        &self
            .tokens
            .iter()
            .find(|(r, _)| *r == role)
            .expect("a token per role")
            .1
    }

    pub fn snapshot(&self) -> StoreSnapshot {
        StoreSnapshot {
            tree_sizes: self.store.tree_sizes(),
            last_seq: self.store.last_seq(),
        }
    }

    #[track_caller]
    pub fn assert_nothing_stored_since(&self, before: &StoreSnapshot) {
        assert_eq!(&self.snapshot(), before, "a refused request must store nothing");
    }

    /// Stops the server gracefully and waits until the store is flushed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task does not panic")
                .expect("the server stops cleanly");
        }
    }

    // ---- one method per endpoint -------------------------------------------------------------

    pub async fn post_parcel(&self, token: &str, key: &str, body: &Value) -> Answer {
        self.post(WriteRoute::Parcel, token, "", key, body).await
    }

    pub async fn post_inspection(&self, token: &str, case: &str, key: &str, body: &Value) -> Answer {
        self.post(WriteRoute::Inspection, token, case, key, body).await
    }

    pub async fn post_disposition(&self, token: &str, case: &str, key: &str, body: &Value) -> Answer {
        self.post(WriteRoute::Disposition, token, case, key, body).await
    }

    pub async fn post_flag_clearance(&self, token: &str, case: &str, key: &str, body: &Value) -> Answer {
        self.post(WriteRoute::FlagClearance, token, case, key, body).await
    }

    pub async fn post_close(&self, token: &str, case: &str, key: &str, body: &Value) -> Answer {
        self.post(WriteRoute::Close, token, case, key, body).await
    }

    pub async fn get_case(&self, token: &str, case: &str) -> Answer {
        self.get_with(token, &format!("/v1/cases/{case}")).await
    }

    /// `query` is the query string without `?`, e.g. `state=received&limit=2`.
    pub async fn list_cases(&self, token: &str, query: &str) -> Answer {
        self.get_with(token, &format!("/v1/cases?{query}")).await
    }

    /// `query` is the query string without `?`, e.g. `after=3&limit=2`.
    pub async fn list_events(&self, token: &str, query: &str) -> Answer {
        self.get_with(token, &format!("/v1/events?{query}")).await
    }

    /// A GET without a token.
    pub async fn get(&self, path: &str) -> Answer {
        self.raw(Method::GET, path, &[], Vec::new()).await
    }

    /// Any request, exactly as given: nothing is added but what `headers` says.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.addr))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("the whole answer arrives").to_vec();
        Answer { status, headers, body }
    }

    /// Like [`TestApp::raw`], for any route: an event stream's body is not read (it never ends),
    /// its answer has the status and headers only.
    pub async fn any_route(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.addr))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let streaming = headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body = if streaming {
            Vec::new()
        } else {
            response.bytes().await.expect("the whole answer arrives").to_vec()
        };
        Answer { status, headers, body }
    }

    /// A write to `route` as the station client sends it: bearer token, key, JSON body.
    pub async fn post(&self, route: WriteRoute, token: &str, case: &str, key: &str, body: &Value) -> Answer {
        self.post_bytes(route, token, case, key, serde_json::to_vec(body).expect("JSON"))
            .await
    }

    /// A write with a body of exact bytes (key order, whitespace, malformed JSON).
    pub async fn post_bytes(&self, route: WriteRoute, token: &str, case: &str, key: &str, body: Vec<u8>) -> Answer {
        let bearer = format!("Bearer {token}");
        let headers = [
            ("authorization", bearer.as_str()),
            ("idempotency-key", key),
            ("content-type", "application/json"),
        ];
        self.raw(Method::POST, &route.path(case), &headers, body).await
    }

    async fn get_with(&self, token: &str, path: &str) -> Answer {
        let bearer = format!("Bearer {token}");
        self.raw(Method::GET, path, &[("authorization", &bearer)], Vec::new())
            .await
    }

    // ---- cases in a given state, made through the API -----------------------------------------

    /// A case with one line of `qty` units, received by the receiver.
    pub async fn received_case(&self, qty: u32) -> String {
        let answer = self
            .post_parcel(self.token(Role::Receiver), &fresh_key(), &parcel_body("LBL-1", qty))
            .await;
        answer.assert_created()["case_id"]
            .as_str()
            .expect("case_id is a string")
            .to_owned()
    }

    /// A one-unit case whose unit is inspected (grade B) by the inspector; returns (case, event).
    pub async fn inspected_case(&self) -> (String, String) {
        let case = self.received_case(1).await;
        let answer = self
            .post_inspection(
                self.token(Role::Inspector),
                &case,
                &fresh_key(),
                &inspection_body(1, "B"),
            )
            .await;
        let event = answer.assert_created()["event_id"]
            .as_str()
            .expect("event_id is a string")
            .to_owned();
        (case, event)
    }

    /// A one-unit case flagged `wrong_item` by its inspection.
    pub async fn flagged_case(&self) -> String {
        let case = self.received_case(1).await;
        let body = with(inspection_body(1, "D"), "conditions", json!(["wrong_item"]));
        let answer = self
            .post_inspection(self.token(Role::Inspector), &case, &fresh_key(), &body)
            .await;
        assert_eq!(answer.assert_created()["state"], "flagged");
        case
    }

    /// A one-unit case whose unit is disposed (restock).
    pub async fn disposed_case(&self) -> String {
        let (case, _) = self.inspected_case().await;
        let answer = self
            .post_disposition(
                self.token(Role::Inspector),
                &case,
                &fresh_key(),
                &disposition_body(1, "restock"),
            )
            .await;
        assert_eq!(answer.assert_created()["state"], "disposed");
        case
    }

    /// A case on which `route`'s [`WriteRoute::valid_body`] is accepted (empty for receipts).
    pub async fn case_ready_for(&self, route: WriteRoute) -> String {
        match route {
            WriteRoute::Parcel => String::new(),
            WriteRoute::Inspection => self.received_case(1).await,
            WriteRoute::Disposition => self.inspected_case().await.0,
            WriteRoute::FlagClearance => self.flagged_case().await,
            WriteRoute::Close => self.disposed_case().await,
        }
    }
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("an ASCII header"))
    }

    /// Whether the server marked this as the replay of an earlier answer.
    pub fn replayed(&self) -> bool {
        self.header("idempotent-replayed") == Some("true")
    }

    /// Asserts a JSON 200 and returns the body.
    #[track_caller]
    pub fn assert_ok(&self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()
    }

    /// Asserts a JSON 201 (a first answer, not a replay) and returns the body.
    #[track_caller]
    pub fn assert_created(&self) -> Value {
        assert_eq!(self.status, 201, "expected 201, got {}: {}", self.status, self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert!(!self.replayed(), "a first answer is not marked as replayed");
        self.json()
    }

    /// Asserts an RFC 9457 problem with this status naming `field` (or naming none) and returns it.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, field: Option<&str>) -> Value {
        assert_eq!(
            self.status,
            status,
            "expected {status}, got {}: {}",
            self.status,
            self.text()
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let problem = self.json();
        assert_eq!(problem["status"], status, "{problem}");
        let type_uri = problem["type"].as_str().unwrap_or_default();
        assert!(type_uri.starts_with("urn:returns-edge:problem:"), "{problem}");
        assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "{problem}");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{problem}");
        assert_eq!(problem["field"].as_str(), field, "{problem}");
        problem
    }
}

/// A new Idempotency-Key.
pub fn fresh_key() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A receipt at dock-1 with one line of `qty` units.
pub fn parcel_body(label: &str, qty: u32) -> Value {
    json!({ "station": STATION, "label": label, "weight_g": 1250, "lines": [{ "sku": "SKU-1", "qty": qty }] })
}

pub fn inspection_body(line: u16, grade: &str) -> Value {
    json!({ "station": STATION, "line": line, "grade": grade })
}

pub fn disposition_body(line: u16, disposition: &str) -> Value {
    json!({ "station": STATION, "line": line, "disposition": disposition })
}

pub fn clearance_body(flag: &str) -> Value {
    json!({ "station": STATION, "flag": flag })
}

pub fn close_body() -> Value {
    json!({ "station": STATION })
}

/// `body` with `field` set to `value`.
pub fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

/// `body` sent by `station`.
pub fn with_station(body: Value, station: &str) -> Value {
    with(body, "station", json!(station))
}
