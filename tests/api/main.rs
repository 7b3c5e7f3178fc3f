//! HTTP API integration tests (docs/architecture.md#http-contract): the real server on a loopback
//! port with a temp store, driven over the socket with reqwest. Each test states one promise of the API in its name.

mod authorization;
mod corrections;
mod helpers;
mod idempotency;
mod ratelimit;
mod reads;
mod roles;
mod validation;
mod writes;
