//! returns-edge: the edge server for warehouse returns, as a library so that the binary, the
//! integration tests and the benchmarks share one implementation.
//!
//! See README.md's Architecture section for the code map and the invariants between modules.

pub mod app;
pub mod bench;
pub mod config;
pub mod delivery;
pub mod devices;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod policy_file;
pub mod rma;
pub mod sinks;
pub mod store;
pub mod tokens;
