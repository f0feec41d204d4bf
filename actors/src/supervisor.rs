//! Supervision: `StageSupervisor` owns a stage's partition workers and restarts them with backoff;
//! `RootSupervisor` owns the stage supervisors.
//!
//! ractor reports a panicking child to its supervisor but does not restart it. Restarting here is
//! not enough on its own either: the dead worker's mailbox is gone, so the consumer must first rewind
//! the partition to the first unprocessed offset. The supervisor therefore waits out the backoff and
//! then asks the stage's [`PartitionRestarter`] (the consumer) to rewind and call back with
//! [`StageMsg::StartPartition`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::partition::{PartitionArgs, PartitionMsg, PartitionProgress, PartitionWorker, RetryPolicy};
use crate::ports::{Fatal, OffsetTracker, PartitionRestarter, Publisher};
use crate::stage::Stage;

/// Restart backoff for crashed partition workers.
#[derive(Debug, Clone, Copy)]
pub struct RestartBackoff {
    pub initial: Duration,
    pub max: Duration,
    /// A worker that ran this long since its last crash starts again from `initial`.
    pub reset_after: Duration,
}

impl Default for RestartBackoff {
    fn default() -> Self {
        RestartBackoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            reset_after: Duration::from_secs(60),
        }
    }
}

impl RestartBackoff {
    /// Delay before the `n`th consecutive restart (n counts from 1).
    pub fn delay(&self, n: u32) -> Duration {
        crate::backoff::exponential(self.initial, self.max, n)
    }
}

#[derive(Clone)]
pub struct StageArgs {
    pub stage: Arc<dyn Stage>,
    pub publisher: Arc<dyn Publisher>,
    pub offsets: Arc<dyn OffsetTracker>,
    pub restarter: Arc<dyn PartitionRestarter>,
    pub retry: RetryPolicy,
    pub backoff: RestartBackoff,
}

pub enum StageMsg {
    /// Spawn the worker for a newly assigned (or rewound) partition.
    StartPartition {
        partition: i32,
        progress: Arc<PartitionProgress>,
        reply: RpcReplyPort<ActorRef<PartitionMsg>>,
    },
    /// Let the workers finish what they were handed, then stop them (partition revocation).
    /// Workers still busy after `timeout` are killed; their records are redelivered to the next owner.
    StopPartitions { partitions: Vec<i32>, timeout: Duration, reply: RpcReplyPort<()> },
    /// The backoff of a crashed partition's worker has elapsed.
    RestartDue { partition: i32 },
}

struct Crashes {
    count: u32,
    last: Instant,
}

pub struct StageState {
    args: StageArgs,
    workers: HashMap<i32, ActorRef<PartitionMsg>>,
    partition_of: HashMap<ActorId, i32>,
    crashes: HashMap<i32, Crashes>,
}

pub struct StageSupervisor;

#[ractor::async_trait]
impl Actor for StageSupervisor {
    type Msg = StageMsg;
    type State = StageState;
    type Arguments = StageArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<StageMsg>,
        args: StageArgs,
    ) -> Result<StageState, ActorProcessingErr> {
        Ok(StageState {
            args,
            workers: HashMap::new(),
            partition_of: HashMap::new(),
            crashes: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<StageMsg>,
        message: StageMsg,
        state: &mut StageState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StageMsg::StartPartition { partition, progress, reply } => {
                let args = PartitionArgs {
                    stage: state.args.stage.clone(),
                    publisher: state.args.publisher.clone(),
                    offsets: state.args.offsets.clone(),
                    retry: state.args.retry,
                    progress,
                };
                let (worker, _) =
                    PartitionWorker::spawn_linked(None, PartitionWorker, args, myself.get_cell()).await?;
                state.partition_of.insert(worker.get_id(), partition);
                if let Some(old) = state.workers.insert(partition, worker.clone()) {
                    state.partition_of.remove(&old.get_id());
                    old.kill();
                }
                state.report_partitions();
                let _ = reply.send(worker);
            }
            StageMsg::StopPartitions { partitions, timeout, reply } => {
                let workers: Vec<_> = partitions.iter().filter_map(|p| state.workers.remove(p)).collect();
                for w in &workers {
                    state.partition_of.remove(&w.get_id());
                }
                let drains = workers.iter().map(|w| w.call(PartitionMsg::Drain, Some(timeout)));
                for (worker, drained) in workers.iter().zip(futures::future::join_all(drains).await) {
                    match drained {
                        Ok(ractor::rpc::CallResult::Success(())) => worker.stop(None),
                        _ => worker.kill(),
                    }
                }
                for p in &partitions {
                    state.crashes.remove(p);
                }
                state.report_partitions();
                let _ = reply.send(());
            }
            // A worker already runs there again (the partition was revoked and reassigned meanwhile).
            StageMsg::RestartDue { partition } if state.workers.contains_key(&partition) => {}
            StageMsg::RestartDue { partition } => state.args.restarter.restart(partition),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<StageMsg>,
        event: SupervisionEvent,
        state: &mut StageState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(cell, error) = event else {
            if let SupervisionEvent::ActorTerminated(cell, ..) = event {
                state.partition_of.remove(&cell.get_id());
            }
            return Ok(());
        };
        // A worker we already replaced or stopped: nothing to do.
        let Some(partition) = state.partition_of.remove(&cell.get_id()) else {
            return Ok(());
        };
        if error.downcast_ref::<Fatal>().is_some() {
            // No restart cures it: fail this supervisor so the root stops the process.
            return Err(error);
        }
        state.workers.remove(&partition);
        let stage = state.args.stage.name();
        let backoff = state.args.backoff;
        let crashes = state.crashes.entry(partition).or_insert(Crashes { count: 0, last: Instant::now() });
        if crashes.last.elapsed() > backoff.reset_after {
            crashes.count = 0;
        }
        crashes.count += 1;
        crashes.last = Instant::now();
        let delay = backoff.delay(crashes.count);
        tracing::error!(stage, partition, %error, restart_in_ms = delay.as_millis() as u64, "partition worker failed");
        metrics::counter!("speedlead_actor_restarts_total", "stage" => stage).increment(1);
        state.report_partitions();
        myself.send_after(delay, move || StageMsg::RestartDue { partition });
        Ok(())
    }
}

impl StageState {
    fn report_partitions(&self) {
        metrics::gauge!("speedlead_partitions_assigned", "stage" => self.args.stage.name())
            .set(self.workers.len() as f64);
    }
}

/// Owns the stage supervisors. A failing stage supervisor is a bug, not a transient fault: the root
/// stops, the process exits non-zero, and the orchestrator restarts it from committed offsets.
pub struct RootSupervisor;

pub enum RootMsg {
    StartStage { args: StageArgs, reply: RpcReplyPort<ActorRef<StageMsg>> },
}

#[ractor::async_trait]
impl Actor for RootSupervisor {
    type Msg = RootMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<RootMsg>, _args: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<RootMsg>,
        message: RootMsg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RootMsg::StartStage { args, reply } => {
                let (stage, _) =
                    StageSupervisor::spawn_linked(None, StageSupervisor, args, myself.get_cell()).await?;
                let _ = reply.send(stage);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RootMsg>,
        event: SupervisionEvent,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, error) = event {
            tracing::error!(%error, "stage supervisor failed; stopping so the process restarts from committed offsets");
            myself.stop(Some(format!("stage supervisor failed: {error}")));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
