//! A small JSON-RPC client for tests: `execute_kw` as the admin (or another user) of a fake Odoo, answering the
//! `result` or the error's `data` (name, message…), so tests read like the calls they make.

use std::time::Duration;

use returns_edge_fakes::odoo::FakeOdoo;
use serde_json::{json, Value};

/// An `execute_kw` caller.
pub struct Rpc {
    pub client: reqwest::Client,
    pub url: String,
    pub db: String,
    pub uid: i64,
    pub password: String,
}

impl Rpc {
    /// The admin of `odoo`.
    pub fn new(odoo: &FakeOdoo) -> Rpc {
        Rpc {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            url: odoo.url(),
            db: odoo.db().to_owned(),
            uid: odoo.uid(),
            password: odoo.password(),
        }
    }

    /// Another user of `odoo` (uid and password), e.g. one made with `FakeOdoo::add_user`.
    pub fn as_user(odoo: &FakeOdoo, uid: i64, password: &str) -> Rpc {
        Rpc {
            uid,
            password: password.to_owned(),
            ..Rpc::new(odoo)
        }
    }

    /// The same caller with a client timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Rpc {
        self.client = reqwest::Client::builder().timeout(timeout).build().expect("client");
        self
    }

    /// Sends a raw JSON-RPC body.
    pub async fn send(&self, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(format!("{}/jsonrpc", self.url))
            .json(body)
            .send()
            .await
    }

    /// `execute_kw`: the result, or the error's `data`; a transport failure is a `reqwest::Error`.
    pub async fn try_call(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> reqwest::Result<Result<Value, Value>> {
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
            "service": "object", "method": "execute_kw",
            "args": [self.db, self.uid, self.password, model, method, args, kwargs]}});
        let answer: Value = self.send(&body).await?.error_for_status()?.json().await?;
        Ok(match answer.get("error") {
            Some(error) => Err(error["data"].clone()),
            None => Ok(answer["result"].clone()),
        })
    }

    /// `execute_kw` that must succeed.
    pub async fn call(&self, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
        match self.try_call(model, method, args, kwargs).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => panic!("{model}.{method}: {error}"),
            Err(e) => panic!("{model}.{method}: transport: {e}"),
        }
    }

    /// `execute_kw` that must fail with an Odoo error; answers its `data`.
    pub async fn fail(&self, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
        match self.try_call(model, method, args, kwargs).await {
            Ok(Err(error)) => error,
            Ok(Ok(result)) => panic!("{model}.{method} succeeded: {result}"),
            Err(e) => panic!("{model}.{method}: transport: {e}"),
        }
    }

    /// `common.<method>`.
    pub async fn common(&self, method: &str, args: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1,
            "params": {"service": "common", "method": method, "args": args}});
        self.send(&body).await.expect("send").json().await.expect("json")
    }
}
