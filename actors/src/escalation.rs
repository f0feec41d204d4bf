//! Escalation timers: one [`EscalationTimer`] actor per routing domain holds the domain's pending SLA
//! deadlines in a [`DeadlineQueue`] and, when one comes due, asks the [`Escalate`] logic (the
//! dispatcher) to move the lead on. [`EscalationTimers`] supervises them, one per configured domain.
//!
//! Redis is the source of truth (`sla:{domain}`): a timer loads every pending deadline when it
//! starts (so a restarted process re-arms what its predecessor left), sweeps for deadlines other
//! instances armed, and the escalation itself is one atomic store write that only succeeds while the
//! attempt is still current and unacknowledged. So a deadline that fires in two processes, or after
//! the rep accepted, changes nothing, and the in-memory queue never needs to be exactly right: an
//! ack does not have to reach the timer before the deadline, it only has to reach the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use dashmap::DashMap;
use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::deadline_queue::DeadlineQueue;
use crate::stage::StageError;
use crate::store::Store;

/// What happens when a deadline comes due; implemented by the dispatcher.
#[async_trait]
pub trait Escalate: Send + Sync + 'static {
    /// The lead's deadline `due_ms` passed. Returns the deadline to arm next, if the lead still has
    /// one (it was reassigned with a fresh SLA, or its deadline had moved).
    async fn deadline_due(&self, domain: &str, lead_id: &str, due_ms: i64)
        -> Result<Option<i64>, StageError>;

    /// Offers leads waiting in the domain's overflow queues to reps who have freed up.
    async fn offer_overflow(&self, domain: &str) -> Result<(), StageError>;
}

/// Where the router reports deadlines it armed in the store, so the local timer fires them on the
/// dot instead of at the next sweep.
pub trait DeadlineSink: Send + Sync + 'static {
    fn arm(&self, domain: &str, lead_id: &str, due_ms: i64);
    fn cancel(&self, domain: &str, lead_id: &str);
}

/// A sink for processes (and tests) without timers: sweeps find the deadlines instead.
pub struct NoTimers;

impl DeadlineSink for NoTimers {
    fn arm(&self, _: &str, _: &str, _: i64) {}
    fn cancel(&self, _: &str, _: &str) {}
}

/// Milliseconds since the epoch. Deadlines are wall-clock times (they outlive the process), but
/// tests drive timers with `tokio::time::pause()`, so the timer reads the time through this.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn wall_clock() -> Clock {
    Arc::new(|| Utc::now().timestamp_millis())
}

/// Wall-clock time at creation, advanced by tokio's clock: follows `tokio::time::advance` in
/// paused tests, and is the wall clock otherwise.
pub fn tokio_clock() -> Clock {
    let (start, wall) = (tokio::time::Instant::now(), Utc::now().timestamp_millis());
    Arc::new(move || wall + start.elapsed().as_millis() as i64)
}

/// How often timers look at their queue, the store and the overflow queues.
#[derive(Debug, Clone, Copy)]
pub struct TimerSettings {
    /// Resolution of deadlines: a deadline fires at most this late (plus the escalation's own time).
    pub tick: Duration,
    /// How often the store is swept for deadlines armed elsewhere (another instance, before a
    /// restart): a deadline armed elsewhere fires at most this late.
    pub sweep: Duration,
    /// How often overflow queues are offered to reps who freed up.
    pub overflow: Duration,
    /// Escalations run concurrently per timer, so a burst of due deadlines is not served one by one.
    pub concurrency: usize,
}

impl Default for TimerSettings {
    fn default() -> Self {
        TimerSettings {
            tick: Duration::from_millis(100),
            sweep: Duration::from_millis(500),
            overflow: Duration::from_secs(1),
            concurrency: 32,
        }
    }
}

pub enum TimerMsg {
    Arm {
        lead_id: String,
        due_ms: i64,
    },
    Cancel {
        lead_id: String,
    },
    Tick,
    /// How many deadlines are queued (for tests and the benchmark).
    Pending(RpcReplyPort<usize>),
}

pub struct EscalationTimer;

pub struct TimerArgs {
    pub domain: String,
    pub store: Arc<dyn Store>,
    pub escalator: Arc<dyn Escalate>,
    pub settings: TimerSettings,
    pub clock: Clock,
}

pub struct TimerState {
    args: TimerArgs,
    queue: DeadlineQueue,
    last_sweep_ms: i64,
    last_overflow_ms: i64,
}

#[ractor::async_trait]
impl Actor for EscalationTimer {
    type Msg = TimerMsg;
    type State = TimerState;
    type Arguments = TimerArgs;

    /// Re-arms everything pending in the store: this is how deadlines survive a restart.
    async fn pre_start(
        &self,
        myself: ActorRef<TimerMsg>,
        args: TimerArgs,
    ) -> Result<TimerState, ActorProcessingErr> {
        let mut queue = DeadlineQueue::default();
        for (lead, due) in args.store.deadlines(&args.domain, None, usize::MAX).await? {
            queue.arm(&lead, due);
        }
        tracing::info!(domain = %args.domain, pending = queue.len(), "escalation timer armed");
        myself.send_interval(args.settings.tick, || TimerMsg::Tick);
        let now = (args.clock)();
        Ok(TimerState { args, queue, last_sweep_ms: now, last_overflow_ms: now })
    }

    async fn handle(
        &self,
        _myself: ActorRef<TimerMsg>,
        message: TimerMsg,
        state: &mut TimerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TimerMsg::Arm { lead_id, due_ms } => state.queue.arm(&lead_id, due_ms),
            TimerMsg::Cancel { lead_id } => {
                state.queue.cancel(&lead_id);
            }
            TimerMsg::Pending(reply) => {
                let _ = reply.send(state.queue.len());
            }
            TimerMsg::Tick => state.tick().await,
        }
        Ok(())
    }
}

impl TimerState {
    async fn tick(&mut self) {
        let now = (self.args.clock)();
        let settings = self.args.settings;
        if now - self.last_sweep_ms >= settings.sweep.as_millis() as i64 {
            self.last_sweep_ms = now;
            self.sweep(now).await;
        }
        let due = self.queue.pop_due(now);
        if !due.is_empty() {
            self.fire(due, now).await;
        }
        if now - self.last_overflow_ms >= settings.overflow.as_millis() as i64 {
            self.last_overflow_ms = now;
            if let Err(error) = self.args.escalator.offer_overflow(&self.args.domain).await {
                tracing::warn!(domain = %self.args.domain, %error, "offering overflow failed; next round retries");
            }
        }
        metrics::gauge!("speedlead_sla_deadlines_pending", "domain" => self.args.domain.clone())
            .set(self.queue.len() as f64);
    }

    /// Picks up deadlines armed in the store by someone else that come due before the next sweep.
    async fn sweep(&mut self, now: i64) {
        let horizon = now + 2 * self.args.settings.sweep.as_millis() as i64;
        match self.args.store.deadlines(&self.args.domain, Some(horizon), 10_000).await {
            Ok(pending) => {
                for (lead, due) in pending {
                    self.queue.arm(&lead, due);
                }
            }
            Err(error) => tracing::warn!(domain = %self.args.domain, %error, "deadline sweep failed"),
        }
    }

    async fn fire(&mut self, due: Vec<(String, i64)>, now: i64) {
        let domain = self.args.domain.as_str();
        let escalator = &self.args.escalator;
        let results: Vec<_> = futures::stream::iter(due)
            .map(|(lead, due_ms)| async move {
                let late = (now - due_ms).max(0) as f64 / 1000.0;
                metrics::histogram!("speedlead_escalation_lateness_seconds").record(late);
                let result = escalator.deadline_due(domain, &lead, due_ms).await;
                (lead, result)
            })
            .buffer_unordered(self.args.settings.concurrency.max(1))
            .collect()
            .await;
        for (lead, result) in results {
            match result {
                Ok(Some(next)) => self.queue.arm(&lead, next),
                Ok(None) => {}
                Err(error) => {
                    // The store or broker is down: try again shortly rather than drop the deadline.
                    tracing::warn!(domain, lead_id = %lead, %error, "escalation failed; retrying in 1 s");
                    metrics::counter!("speedlead_escalation_failures_total").increment(1);
                    self.queue.arm(&lead, (self.args.clock)() + 1000);
                }
            }
        }
    }
}

/// Supervises one [`EscalationTimer`] per domain and routes arms and cancels to them. A timer that
/// fails (its store was down when it started) is started again a second later; it reloads the
/// domain's deadlines from the store, so nothing armed meanwhile is lost.
pub struct EscalationTimers {
    timers: Arc<DashMap<String, ActorRef<TimerMsg>>>,
    supervisor: ActorRef<TimersMsg>,
}

impl EscalationTimers {
    /// Starts a timer for each of `domains`.
    pub async fn start(
        domains: Vec<String>,
        store: Arc<dyn Store>,
        escalator: Arc<dyn Escalate>,
        settings: TimerSettings,
        clock: Clock,
    ) -> Result<Self, ActorProcessingErr> {
        let timers = Arc::new(DashMap::new());
        let args = SupervisorArgs { store, escalator, settings, clock, timers: timers.clone() };
        let (supervisor, _) = Actor::spawn(None, TimerSupervisor, args).await?;
        for domain in domains {
            supervisor.send_message(TimersMsg::Start(domain))?;
        }
        Ok(EscalationTimers { timers, supervisor })
    }

    /// Makes sure every one of `domains` has a timer (after a routing reload added one).
    pub fn ensure(&self, domains: impl IntoIterator<Item = String>) {
        for domain in domains {
            if !self.timers.contains_key(&domain) {
                let _ = self.supervisor.send_message(TimersMsg::Start(domain));
            }
        }
    }

    /// Deadlines queued in a domain's timer, `None` when it has no running timer.
    pub async fn pending(&self, domain: &str) -> Option<usize> {
        let timer = self.timers.get(domain)?.clone();
        ractor::call!(timer, TimerMsg::Pending).ok()
    }

    /// Stops every timer and waits until they are gone, so nothing they hold (the dispatcher's
    /// producer) outlives the broker connection they use.
    pub async fn stop(&self) {
        let _ = self.supervisor.stop_and_wait(None, Some(Duration::from_secs(5))).await;
    }
}

impl DeadlineSink for EscalationTimers {
    fn arm(&self, domain: &str, lead_id: &str, due_ms: i64) {
        if let Some(timer) = self.timers.get(domain) {
            let _ = timer.send_message(TimerMsg::Arm { lead_id: lead_id.to_string(), due_ms });
        }
    }

    fn cancel(&self, domain: &str, lead_id: &str) {
        if let Some(timer) = self.timers.get(domain) {
            let _ = timer.send_message(TimerMsg::Cancel { lead_id: lead_id.to_string() });
        }
    }
}

pub enum TimersMsg {
    Start(String),
}

struct TimerSupervisor;

struct SupervisorArgs {
    store: Arc<dyn Store>,
    escalator: Arc<dyn Escalate>,
    settings: TimerSettings,
    clock: Clock,
    timers: Arc<DashMap<String, ActorRef<TimerMsg>>>,
}

struct SupervisorState {
    args: SupervisorArgs,
    domain_of: HashMap<ractor::ActorId, String>,
}

#[ractor::async_trait]
impl Actor for TimerSupervisor {
    type Msg = TimersMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _: ActorRef<TimersMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState { args, domain_of: HashMap::new() })
    }

    async fn handle(
        &self,
        myself: ActorRef<TimersMsg>,
        message: TimersMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let TimersMsg::Start(domain) = message;
        if state.args.timers.contains_key(&domain) {
            return Ok(());
        }
        let args = TimerArgs {
            domain: domain.clone(),
            store: state.args.store.clone(),
            escalator: state.args.escalator.clone(),
            settings: state.args.settings,
            clock: state.args.clock.clone(),
        };
        match EscalationTimer::spawn_linked(None, EscalationTimer, args, myself.get_cell()).await {
            Ok((timer, _)) => {
                state.domain_of.insert(timer.get_id(), domain.clone());
                state.args.timers.insert(domain, timer);
            }
            Err(error) => {
                tracing::error!(%domain, %error, "escalation timer did not start; retrying in 1 s");
                myself.send_after(Duration::from_secs(1), move || TimersMsg::Start(domain));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<TimersMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason.unwrap_or_default()),
            _ => return Ok(()),
        };
        if let Some(domain) = state.domain_of.remove(&cell.get_id()) {
            state.args.timers.remove(&domain);
            tracing::error!(%domain, %why, "escalation timer stopped; restarting in 1 s");
            metrics::counter!("speedlead_actor_restarts_total", "stage" => "escalation").increment(1);
            myself.send_after(Duration::from_secs(1), move || TimersMsg::Start(domain));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "escalation_tests.rs"]
mod tests;
