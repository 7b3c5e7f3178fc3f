//! The HTTP plumbing both fakes share: an accept loop on 127.0.0.1 port 0 that can stop
//! listening (connections refused) and listen again on the same port, one hyper connection per
//! socket, and a per-connection handle a handler uses to close the socket without answering
//! (an answer lost after the effect happened). Routes and behaviour belong to the fakes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use axum::{Extension, Router};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// The handle of a connection, put into each request so that a handler can cut it.
#[derive(Debug, Clone)]
pub struct ConnectionKill(Arc<Notify>);

/// The running accept loop.
#[derive(Debug)]
pub struct Listener {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    reachable: watch::Sender<bool>,
    listening: watch::Receiver<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Listener {
    /// Binds 127.0.0.1:0 and serves `router` until shut down.
    pub async fn start(router: Router) -> std::io::Result<Listener> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (reachable, reachable_rx) = watch::channel(true);
        let (listening_tx, listening) = watch::channel(true);
        let task = tokio::spawn(accept_loop(
            listener,
            addr,
            router,
            shutdown_rx,
            reachable_rx,
            listening_tx,
        ));
        Ok(Listener {
            addr,
            shutdown,
            reachable,
            listening,
            task: Some(task),
        })
    }

    /// Stops listening (connections are refused, open ones closed) or listens again, and waits
    /// until that is in effect.
    pub async fn set_reachable(&mut self, reachable: bool) {
        self.reachable.send_replace(reachable);
        while *self.listening.borrow_and_update() != reachable {
            if self.listening.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    mut reachable: watch::Receiver<bool>,
    listening: watch::Sender<bool>,
) {
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        if !*reachable.borrow_and_update() {
            // Refuse: no listening socket, and the open connections go too.
            listener = None;
            connections.abort_all();
            listening.send_replace(false);
            tokio::select! {
                r = shutdown.changed() => if r.is_err() { break },
                r = reachable.changed() => if r.is_err() { break },
            }
            continue;
        }
        let Some(current) = listener.as_ref() else {
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    listening.send_replace(true);
                }
                Err(error) => {
                    tracing::warn!(%addr, %error, "Fake Odoo could not listen again; retrying.");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            continue;
        };
        tokio::select! {
            accepted = current.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(serve_connection(stream, router.clone(), shutdown.clone()));
                }
            }
            r = shutdown.changed() => if r.is_err() { break },
            r = reachable.changed() => if r.is_err() { break },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn serve_connection(stream: TcpStream, router: Router, mut shutdown: watch::Receiver<bool>) {
    let kill = Arc::new(Notify::new());
    let handle = ConnectionKill(kill.clone());
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(handle.clone());
        router.clone().oneshot(request.map(Body::new))
    });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    // Dropping the connection future closes the socket: no answer is ever written.
    tokio::select! {
        _ = connection => {}
        _ = kill.notified() => {}
        _ = shutdown.changed() => {}
    }
}

/// Closes the connection of the request being handled without answering, and never returns.
pub async fn cut_connection(kill: Option<Extension<ConnectionKill>>) -> Response {
    if let Some(Extension(ConnectionKill(kill))) = kill {
        kill.notify_one();
    }
    std::future::pending::<Response>().await
}
