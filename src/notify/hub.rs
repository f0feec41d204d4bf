//! The notification hub: for each assignment, walks the rep's plan of channels.
//!
//! Per notice, one task: step 1 at once; each later step at its time (`after_secs` after the
//! assignment) unless the lead was accepted, escalated or closed by then; a step that fails for
//! good (provider refusal, retries used up, opted-out number, quiet hours) starts the next one at
//! once while nothing has reached the rep. Retries (5xx, 429, timeouts) back off exponentially, no
//! sooner than the provider's Retry-After. When no step reached the rep, the assignment goes to
//! `leads.dlq`. None of this holds up routing or escalation: the notice runs on its own task, and
//! the escalation timer moves an unaccepted lead whatever the channels did.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use speedlead_actors::backoff::exponential;
use speedlead_actors::partition::dead_letter;
use speedlead_actors::ports::{Publisher, Record};
use speedlead_actors::rules::SharedRouting;
use speedlead_actors::stage::StageError;
use speedlead_actors::store::Store;
use speedlead_actors::telemetry::observe_segment;
use tokio::sync::oneshot;

use super::queue::{ChannelQueue, SendJob};
use super::settings::{NotifySettings, RepChannels, Step};
use super::{Channel, ChannelKind, Notice, SendError, Sent};

/// How long an opted-out number stays opted out without a START.
pub const OPT_OUT_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

pub struct NotificationHub {
    queues: HashMap<ChannelKind, ChannelQueue>,
    reps: HashMap<String, RepChannels>,
    settings: NotifySettings,
    store: Arc<dyn Store>,
    publisher: Arc<dyn Publisher>,
    routing: SharedRouting,
}

/// The store key of an opted-out phone number.
pub fn opt_out_key(phone: &str) -> String {
    format!("optout:sms:{phone}")
}

impl NotificationHub {
    pub fn new(
        settings: &NotifySettings,
        channels: Vec<Arc<dyn Channel>>,
        store: Arc<dyn Store>,
        publisher: Arc<dyn Publisher>,
        routing: SharedRouting,
    ) -> Arc<Self> {
        let queues = channels
            .into_iter()
            .map(|channel| {
                let kind = channel.kind();
                let limit = settings.rate_limits.get(&kind).copied();
                (kind, ChannelQueue::start(channel, limit, settings.max_in_flight))
            })
            .collect();
        Arc::new(NotificationHub {
            queues,
            reps: settings.reps.iter().map(|r| (r.id.clone(), r.clone())).collect(),
            settings: settings.clone(),
            store,
            publisher,
            routing,
        })
    }

    /// No channel is configured: nothing to do for any assignment.
    pub fn is_idle(&self) -> bool {
        self.queues.is_empty()
    }

    pub fn hot_score(&self) -> u8 {
        self.settings.hot_score
    }

    /// The rep's name from the routing configuration, for templates.
    pub fn rep_name(&self, rep: &str) -> Option<String> {
        self.routing.load().rep(rep).and_then(|p| p.name.clone())
    }

    /// The rep's steps this process can carry out: a configured channel and an address for it.
    pub fn plan_for(&self, rep: &str) -> Vec<(Step, String)> {
        let Some(channels) = self.reps.get(rep) else { return Vec::new() };
        let plan = channels.plan.as_ref().unwrap_or(&self.settings.default_plan);
        plan.iter()
            .filter(|step| self.queues.contains_key(&step.channel))
            .filter_map(|step| Some((*step, channels.address(step.channel)?.to_string())))
            .collect()
    }

    /// Starts notifying along `steps` (the rep's [`Self::plan_for`]); returns at once. `source` is
    /// the assignment as consumed, dead-lettered if no step reaches the rep.
    pub fn submit(
        self: &Arc<Self>,
        notice: Notice,
        steps: Vec<(Step, String)>,
        assigned_at: DateTime<Utc>,
        source: Record,
    ) {
        let hub = self.clone();
        tokio::spawn(async move { hub.deliver(Arc::new(notice), steps, assigned_at, source).await });
    }

    async fn deliver(
        &self,
        notice: Arc<Notice>,
        steps: Vec<(Step, String)>,
        assigned_at: DateTime<Utc>,
        source: Record,
    ) {
        let mut delivered = false;
        let mut failures = Vec::new();
        for (i, (step, to)) in steps.into_iter().enumerate() {
            let label = step.channel.as_str();
            // A fallback (nothing has reached the rep yet and the step before failed) goes now.
            let fallback = !delivered && i > 0;
            if step.after_secs > 0 && !fallback {
                let due = assigned_at + chrono::Duration::seconds(step.after_secs as i64);
                if let Ok(wait) = (due - Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
            }
            if i > 0 && !self.still_open(&notice).await {
                count(label, "not_needed");
                return;
            }
            if let Some(skip) = self.skip_reason(step.channel, &notice, &to).await {
                count(label, skip);
                failures.push(format!("{label}: skipped ({skip})"));
                continue;
            }
            match self.send_with_retries(step.channel, &notice, &to).await {
                Ok(_) => {
                    count(label, "sent");
                    if !delivered {
                        let now = Utc::now();
                        observe_segment("assigned_to_notified", Some(assigned_at), now);
                        observe_segment("captured_to_notified", notice.lead.captured_at, now);
                    }
                    delivered = true;
                }
                Err(error) => {
                    count(label, error.outcome());
                    tracing::warn!(lead_id = %notice.lead_id, channel = label, %error, "notification step failed");
                    if let (SendError::OptedOut { .. }, ChannelKind::Sms) = (&error, step.channel) {
                        let _ = self.store.remember(&opt_out_key(&to), "1", OPT_OUT_TTL).await;
                    }
                    failures.push(format!("{label}: {error}"));
                }
            }
        }
        if !delivered {
            self.dead_letter(&notice, &failures, &source).await;
        }
    }

    /// Whether the notice still matters: its attempt is the lead's current one, with this rep,
    /// neither accepted nor closed. A store that cannot answer counts as yes (better a reminder
    /// too many than a lead nobody heard of).
    async fn still_open(&self, notice: &Notice) -> bool {
        match self.store.route(&notice.routing_domain, &notice.lead_id.to_string()).await {
            Ok(Some(route)) => {
                route.attempt == notice.attempt
                    && route.rep_id == notice.rep_id
                    && !route.acked
                    && !route.released
            }
            Ok(None) => false,
            Err(_) => true,
        }
    }

    async fn skip_reason(&self, channel: ChannelKind, notice: &Notice, to: &str) -> Option<&'static str> {
        if matches!(channel, ChannelKind::Sms | ChannelKind::Dialer) {
            if let Some(quiet) = &self.settings.quiet_hours {
                let routing = self.routing.load();
                let local =
                    routing.rep(&notice.rep_id).map(|p| Utc::now().with_timezone(&p.time_zone()).time());
                if local.is_some_and(|t| quiet.contains(t)) {
                    return Some("quiet_hours");
                }
            }
        }
        if channel == ChannelKind::Sms && matches!(self.store.recall(&opt_out_key(to)).await, Ok(Some(_))) {
            return Some("opted_out");
        }
        None
    }

    async fn send_with_retries(
        &self,
        channel: ChannelKind,
        notice: &Arc<Notice>,
        to: &str,
    ) -> Result<Sent, SendError> {
        let queue = &self.queues[&channel];
        let initial = Duration::from_millis(self.settings.initial_backoff_ms);
        let max = Duration::from_millis(self.settings.max_backoff_ms);
        let mut attempt = 1;
        loop {
            let (reply, result) = oneshot::channel();
            let job = SendJob { notice: notice.clone(), to: to.to_string(), reply };
            if queue.push(job).is_err() {
                return Err(SendError::Retryable {
                    reason: "the channel is shutting down".into(),
                    retry_after: None,
                });
            }
            let result = result.await.unwrap_or_else(|_| {
                Err(SendError::Retryable { reason: "the send was dropped".into(), retry_after: None })
            });
            match result {
                Err(SendError::Retryable { retry_after, reason }) if attempt < self.settings.max_attempts => {
                    count(channel.as_str(), "retried");
                    let backoff = exponential(initial, max, attempt);
                    // ±20 % so a provider outage's retries do not arrive in one wave.
                    let jittered = speedlead_actors::backoff::jittered(backoff, 0.2);
                    let wait = retry_after.map_or(jittered, |after| after.max(jittered));
                    tracing::debug!(lead_id = %notice.lead_id, channel = channel.as_str(), reason, ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                    if !self.still_open(notice).await {
                        return Err(SendError::Permanent {
                            reason: "the lead moved on while retrying".into(),
                        });
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The assignment to `leads.dlq` with every step's failure. Published in the background until
    /// the broker takes it: the notice's task is the only one that knows.
    async fn dead_letter(&self, notice: &Notice, failures: &[String], source: &Record) {
        metrics::counter!("speedlead_notifications_dead_lettered_total").increment(1);
        let detail = format!("no channel reached rep {}: {}", notice.rep_id, failures.join("; "));
        tracing::error!(lead_id = %notice.lead_id, detail, "notification dead-lettered");
        let letter =
            dead_letter("notify", source, &StageError::Transient(detail), self.settings.max_attempts);
        for attempt in 1..=20u32 {
            match self.publisher.publish(vec![letter.clone()]).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "notification dead letter not published yet");
                    tokio::time::sleep(exponential(
                        Duration::from_millis(100),
                        Duration::from_secs(10),
                        attempt,
                    ))
                    .await;
                }
            }
        }
    }
}

fn count(channel: &'static str, outcome: &'static str) {
    metrics::counter!("speedlead_notifications_total", "channel" => channel, "outcome" => outcome)
        .increment(1);
}

#[cfg(test)]
#[path = "hub_tests.rs"]
pub(crate) mod tests;
