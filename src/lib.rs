//! The `speedlead` binary's library: configuration, the Kafka and Redis adapters, the HTTP surface,
//! and the wiring that runs the actors of `speedlead-actors` on them.

pub mod bench;
pub mod bench_rep;
pub mod bench_routing;
pub mod capture;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod enrich;
pub mod error;
pub mod eval;
pub mod handoff;
pub mod http;
pub mod infra;
pub mod kafka;
pub mod notify;
pub mod pipeline;
pub mod providers;
pub mod routing_reload;
pub mod sample;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod webhooks;

pub use error::Error;
