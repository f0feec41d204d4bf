//! The notify stage: reads `leads.assignments` and hands each to the [`NotificationHub`].
//!
//! Most assignments reach the hub sooner, in process, through [`crate::handoff`] right after the
//! broker acknowledged them; this stage is the durable path behind that one (a process that died
//! between the ack and the handoff, an assignment published by another instance that died). Both
//! paths go through [`NotifyStage::hand_over`], which claims the assignment's message id in the
//! store first, so each assignment is notified once, by whichever path comes first.
//!
//! It returns as soon as the hub has the notice: the partition never waits on Slack or Twilio, so
//! one slow provider cannot hold up the other reps' notifications. The price of not waiting: a
//! process that dies mid-notice loses that notice's remaining steps (the dashboard and the SLA
//! escalation still carry the lead).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use speedlead_actors::codec::parse_envelope;
use speedlead_actors::ports::{Outbound, Record};
use speedlead_actors::stage::{Stage, StageError};
use speedlead_actors::store::Store;
use speedlead_topics::{Assignment, Envelope};

use super::hub::NotificationHub;
use super::Notice;

/// How long a notified assignment is remembered. Redeliveries come within seconds to minutes (a
/// crash, a rebalance); a claim per assignment kept for a day would cost Redis ~100 bytes × a day's
/// assignments.
const CLAIM_TTL: Duration = Duration::from_secs(60 * 60);

pub struct NotifyStage {
    hub: Arc<NotificationHub>,
    store: Arc<dyn Store>,
    /// The public base of accept links (`acks.public_base_url`).
    links: crate::config::AcksSettings,
}

impl NotifyStage {
    pub fn new(hub: Arc<NotificationHub>, store: Arc<dyn Store>, links: crate::config::AcksSettings) -> Self {
        NotifyStage { hub, store, links }
    }
}

/// "Why you": the routing reason in words a rep reads.
pub fn why(assignment: &Assignment) -> String {
    let pool = match assignment.pool.as_str() {
        "" | "all" => String::new(),
        pool => format!(" in pool {pool}"),
    };
    match assignment.reason.as_str() {
        "existing_owner" => "you already own this person".to_string(),
        "account_owner" => "you own this account".to_string(),
        "owner_unavailable" => format!("its owner is unavailable; your turn{pool}"),
        "round_robin" => format!("your turn in the round robin{pool}"),
        "weighted" => format!("your share of the weighted rotation{pool}"),
        "load_balanced" => format!("you have the fewest open leads{pool}"),
        "escalated_next_in_pool" => format!("the previous rep missed the SLA; next{pool}"),
        "escalated_backup_pool" => format!("the previous rep missed the SLA; backup{pool}"),
        "escalated_manager" => "your rep missed the SLA; it escalated to you as their manager".to_string(),
        "overflow" => format!("it waited in overflow and you became available{pool}"),
        other => format!("{other}{pool}"),
    }
}

impl NotifyStage {
    fn notice(&self, envelope: &Envelope<Assignment>) -> Notice {
        let a = &envelope.payload;
        let lead = a.lead.clone().unwrap_or_default();
        let hot = lead.grade.as_deref() == Some("A") || lead.score.is_some_and(|s| s >= self.hub.hot_score());
        Notice {
            id: envelope.id.to_string(),
            lead_id: a.lead_id,
            attempt: a.attempt,
            routing_domain: a.routing_domain.clone(),
            rep_id: a.rep_id.clone(),
            rep_name: self.hub.rep_name(&a.rep_id),
            lead,
            why: why(a),
            accept_url: self.links.link(&a.ack_token),
            hot,
        }
    }
}

/// Which path handed an assignment to the hub (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverPath {
    /// Right after the broker's ack, in the process that published it.
    InProcess,
    /// Read back from `leads.assignments` by the notify stage's consumer.
    Consumer,
}

impl HandoverPath {
    fn label(self) -> &'static str {
        match self {
            HandoverPath::InProcess => "in_process",
            HandoverPath::Consumer => "consumer",
        }
    }
}

impl NotifyStage {
    /// Starts notifying the rep of the assignment in `record` unless either path already did.
    /// `speedlead_notify_handovers_total{path}` counts which path won: `consumer` wins only when
    /// the in-process handoff was lost (a crash) or is slower than the broker.
    pub async fn hand_over(&self, record: &Record, path: HandoverPath) -> Result<(), StageError> {
        let envelope = parse_envelope::<Assignment>(record)?;
        let assigned_at = envelope.hops.assigned_at.unwrap_or(envelope.occurred_at);
        // Read back later than its claim lives (a consumer far behind, a group started from the
        // beginning): the claim can no longer tell whether it was notified, and by now the SLA has
        // moved the lead on anyway. Telling the rep now would be noise about a stale lead.
        if (Utc::now() - assigned_at).to_std().is_ok_and(|age| age > CLAIM_TTL) {
            metrics::counter!("speedlead_notify_stale_skipped_total").increment(1);
            return Ok(());
        }
        let steps = self.hub.plan_for(&envelope.payload.rep_id);
        if steps.is_empty() {
            if !self.hub.is_idle() && path == HandoverPath::Consumer {
                metrics::counter!("speedlead_notifications_total", "channel" => "none", "outcome" => "no_channel")
                    .increment(1);
            }
            return Ok(());
        }
        let claim = format!("notified:{}", envelope.id);
        if !self.store.remember(&claim, "1", CLAIM_TTL).await?.first {
            return Ok(());
        }
        metrics::counter!("speedlead_notify_handovers_total", "path" => path.label()).increment(1);
        self.hub.submit(self.notice(&envelope), steps, assigned_at, record.clone());
        speedlead_actors::telemetry::observe_segment(
            "assigned_to_notify_queued",
            Some(assigned_at),
            Utc::now(),
        );
        Ok(())
    }
}

#[async_trait]
impl Stage for NotifyStage {
    fn name(&self) -> &'static str {
        "notify"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        self.hand_over(record, HandoverPath::Consumer).await?;
        Ok(Vec::new())
    }
}
