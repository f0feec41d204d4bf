//! speedlead's actors and the domain logic they run.
//!
//! - [`partition`]: the actor that runs a stage over one Kafka partition, in order, with retries,
//!   dead-lettering and offset bookkeeping.
//! - [`supervisor`]: stage supervisors that restart crashed partition actors with backoff.
//! - [`intake`], [`router`]: the stages, as plain [`stage::Stage`] objects.
//! - [`ports`], [`store`]: the traits through which all of it reaches Kafka and Redis.
//!
//! Nothing here depends on rdkafka or redis; the `speedlead` binary provides the adapters.

pub mod account;
pub mod ack_token;
pub mod acks;
pub mod backoff;
pub mod codec;
pub mod deadline_queue;
pub mod dedupe;
pub mod dispatch;
#[path = "dispatch_escalate.rs"]
mod dispatch_escalate;
pub mod escalation;
pub mod intake;
pub mod intelligence;
pub mod learner;
pub mod model;
pub mod normalize;
pub mod partition;
pub mod pool;
pub mod ports;
pub mod rep;
pub mod router;
pub mod routing_store;
pub mod rule_match;
pub mod rules;
pub mod rules_config;
pub mod scoring;
pub mod stage;
pub mod store;
pub mod store_contract;
pub mod supervisor;
pub mod telemetry;

#[cfg(test)]
pub(crate) mod routing_testkit;
#[cfg(test)]
pub(crate) mod testkit;
