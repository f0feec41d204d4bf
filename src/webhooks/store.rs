//! The webhooks' durable state: delivery jobs, one per (subscription, event), due at a time,
//! leased while an attempt runs, retried on the schedule, kept as a dead letter when the schedule
//! is used up; each endpoint's failing-since and disabled state; the admin API's subscriptions.
//!
//! Durable because the schedule spans a day and a half: a process that restarts, or another
//! instance, picks the job up where it was. A lease (rather than a pop) means a process that dies
//! mid-attempt loses nothing: the job comes due again when the lease runs out. Redis in production
//! (`store_redis.rs`); memory on the embedded default.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use speedlead_actors::store::StoreError;
use uuid::Uuid;

use super::attempt::Failure;
use super::settings::Subscription;

/// One event on its way to one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `<subscription>:<event id>`: a redelivered event finds its job and adds none.
    pub id: String,
    pub subscription: String,
    pub event_id: String,
    pub event_type: String,
    pub lead_id: Uuid,
    /// The signed body, byte for byte; a retry sends the same bytes.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Failure>,
    /// In its lead's line (the subscription is `ordered_by_lead`): due only once the lead's earlier
    /// deliveries to the subscription are finished or buried.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ordered: bool,
}

impl Delivery {
    pub fn id_of(subscription: &str, event_id: &str) -> String {
        format!("{subscription}:{event_id}")
    }

    /// The delivery as a replay starts it: no attempts yet, due at `now_ms`.
    pub fn fresh(&self, now_ms: i64) -> Delivery {
        Delivery { attempts: 0, last_failure: None, created_ms: now_ms, ..self.clone() }
    }

    /// The line of an ordered delivery: its subscription and lead.
    pub fn line(&self) -> String {
        format!("{}:{}", self.subscription, self.lead_id)
    }
}

/// A delivery given up on, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadDelivery {
    pub delivery: Delivery,
    /// `schedule_exhausted`, `endpoint_gone` (410), `endpoint_disabled` or `subscription_removed`.
    pub reason: String,
    pub dead_ms: i64,
}

/// How long a job (or the tombstone of a finished one) is kept: past the schedule's day and a
/// half, so a redelivered event finds it.
pub const JOB_TTL: Duration = Duration::from_secs(3 * 24 * 60 * 60);
/// How long dead letters are kept for listing and replay.
pub const DEAD_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Adds the job, due at once (an ordered one: once it heads its lead's line), unless one with
    /// its id exists (or finished within [`JOB_TTL`]). Returns whether it was added.
    async fn enqueue(&self, delivery: &Delivery) -> Result<bool, StoreError>;
    /// Up to `max` jobs due at `now_ms`, each leased until `now_ms + lease` (it is due again then,
    /// unless [`Self::retry`], [`Self::finish`] or [`Self::bury`] said otherwise first).
    async fn take_due(&self, now_ms: i64, lease: Duration, max: usize) -> Result<Vec<Delivery>, StoreError>;
    /// Stores the job's new state (attempts, last failure), due at `due_ms`, unless it finished
    /// meanwhile (then nothing changes).
    async fn retry(&self, delivery: &Delivery, due_ms: i64) -> Result<(), StoreError>;
    /// Delivered: the job leaves the queue, its tombstone stays for [`JOB_TTL`]; the next in its
    /// lead's line (if ordered) is due at once.
    async fn finish(&self, delivery: &Delivery) -> Result<(), StoreError>;
    /// Given up on: the job leaves the queue and is kept as a dead letter for [`DEAD_TTL`] —
    /// unless it finished meanwhile (then nothing changes).
    async fn bury(&self, dead: &DeadDelivery) -> Result<(), StoreError>;
    /// A subscription's dead letters that died in `[from_ms, to_ms]`, oldest first, at most `limit`.
    async fn dead_letters(
        &self,
        subscription: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<DeadDelivery>, StoreError>;
    /// The kept dead letter `id` of `subscription`.
    async fn dead_letter(&self, subscription: &str, id: &str) -> Result<Option<DeadDelivery>, StoreError>;
    /// Sends a dead letter again: it stops being one, and its delivery is due at `now_ms` (an
    /// ordered one joins the end of its lead's line) with the whole schedule ahead of it. False,
    /// changing nothing, when it is no longer a dead letter (a replay racing another).
    async fn replay(&self, dead: &DeadDelivery, now_ms: i64) -> Result<bool, StoreError>;
    /// Adds a subscription made through the admin API unless one with its id is stored.
    /// Returns whether it was added.
    async fn add_subscription(&self, subscription: &Subscription) -> Result<bool, StoreError>;
    /// Removes a stored subscription; returns whether there was one.
    async fn remove_subscription(&self, id: &str) -> Result<bool, StoreError>;
    /// Every stored subscription.
    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;
    /// Records a failure of the endpoint; returns since when it has been failing (this failure's
    /// time if it had not been).
    async fn endpoint_failed(&self, subscription: &str, now_ms: i64) -> Result<i64, StoreError>;
    /// A success: the endpoint is no longer failing.
    async fn endpoint_ok(&self, subscription: &str) -> Result<(), StoreError>;
    /// Disables the endpoint (`Some(reason)`) or enables it again (`None`, which also forgets its
    /// failures).
    async fn set_disabled(&self, subscription: &str, reason: Option<&str>) -> Result<(), StoreError>;
    async fn disabled(&self, subscription: &str) -> Result<Option<String>, StoreError>;
}

/// [`WebhookStore`] in memory, for the embedded default (and the deliverer's unit tests).
#[derive(Default)]
pub struct MemoryWebhookStore(Mutex<MemoryState>);

#[derive(Default)]
struct MemoryState {
    /// `None`: finished (the tombstone).
    jobs: HashMap<String, Option<Delivery>>,
    due: BTreeSet<(i64, String)>,
    due_of: HashMap<String, i64>,
    /// Ordered deliveries' ids per line, the head first.
    lines: HashMap<String, std::collections::VecDeque<String>>,
    dead: Vec<DeadDelivery>,
    failing_since: HashMap<String, i64>,
    subscriptions: std::collections::BTreeMap<String, Subscription>,
    disabled: HashMap<String, String>,
}

impl MemoryState {
    /// Puts an ordered delivery at the end of its line; true when it heads it (and so is due).
    fn join_line(&mut self, delivery: &Delivery) -> bool {
        let line = self.lines.entry(delivery.line()).or_default();
        line.push_back(delivery.id.clone());
        line.len() == 1
    }

    /// Takes a finished or buried delivery out of its line; the next one is due at once.
    fn leave_line(&mut self, delivery: &Delivery) {
        let Some(line) = self.lines.get_mut(&delivery.line()) else { return };
        line.retain(|id| id != &delivery.id);
        match line.front().cloned() {
            Some(next) => self.schedule(&next, Some(0)),
            None => {
                self.lines.remove(&delivery.line());
            }
        }
    }

    fn schedule(&mut self, id: &str, due_ms: Option<i64>) {
        if let Some(old) = self.due_of.remove(id) {
            self.due.remove(&(old, id.to_string()));
        }
        if let Some(due) = due_ms {
            self.due.insert((due, id.to_string()));
            self.due_of.insert(id.to_string(), due);
        }
    }
}

#[async_trait]
impl WebhookStore for MemoryWebhookStore {
    async fn enqueue(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let mut s = self.0.lock().expect("webhook store lock");
        if s.jobs.contains_key(&delivery.id) {
            return Ok(false);
        }
        s.jobs.insert(delivery.id.clone(), Some(delivery.clone()));
        if !delivery.ordered || s.join_line(delivery) {
            s.schedule(&delivery.id, Some(delivery.created_ms));
        }
        Ok(true)
    }

    async fn take_due(&self, now_ms: i64, lease: Duration, max: usize) -> Result<Vec<Delivery>, StoreError> {
        let mut s = self.0.lock().expect("webhook store lock");
        let due: Vec<String> =
            s.due.iter().take_while(|(at, _)| *at <= now_ms).take(max).map(|(_, id)| id.clone()).collect();
        let mut taken = Vec::with_capacity(due.len());
        for id in due {
            s.schedule(&id, Some(now_ms + lease.as_millis() as i64));
            if let Some(Some(job)) = s.jobs.get(&id) {
                taken.push(job.clone());
            }
        }
        Ok(taken)
    }

    async fn retry(&self, delivery: &Delivery, due_ms: i64) -> Result<(), StoreError> {
        let mut s = self.0.lock().expect("webhook store lock");
        if matches!(s.jobs.get(&delivery.id), Some(None)) {
            return Ok(());
        }
        s.jobs.insert(delivery.id.clone(), Some(delivery.clone()));
        s.schedule(&delivery.id, Some(due_ms));
        Ok(())
    }

    async fn finish(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let mut s = self.0.lock().expect("webhook store lock");
        if matches!(s.jobs.get(&delivery.id), Some(None)) {
            return Ok(());
        }
        s.jobs.insert(delivery.id.clone(), None);
        s.schedule(&delivery.id, None);
        if delivery.ordered {
            s.leave_line(delivery);
        }
        Ok(())
    }

    async fn bury(&self, dead: &DeadDelivery) -> Result<(), StoreError> {
        if matches!(self.0.lock().expect("webhook store lock").jobs.get(&dead.delivery.id), Some(None)) {
            return Ok(()); // delivered meanwhile by whoever held it after us
        }
        self.finish(&dead.delivery).await?;
        self.0.lock().expect("webhook store lock").dead.push(dead.clone());
        Ok(())
    }

    async fn dead_letters(
        &self,
        subscription: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<DeadDelivery>, StoreError> {
        let s = self.0.lock().expect("webhook store lock");
        let mut found: Vec<DeadDelivery> = s
            .dead
            .iter()
            .filter(|d| d.delivery.subscription == subscription && (from_ms..=to_ms).contains(&d.dead_ms))
            .cloned()
            .collect();
        found.sort_by_key(|d| d.dead_ms);
        found.truncate(limit);
        Ok(found)
    }

    async fn dead_letter(&self, subscription: &str, id: &str) -> Result<Option<DeadDelivery>, StoreError> {
        let s = self.0.lock().expect("webhook store lock");
        Ok(s.dead.iter().find(|d| d.delivery.subscription == subscription && d.delivery.id == id).cloned())
    }

    async fn replay(&self, dead: &DeadDelivery, now_ms: i64) -> Result<bool, StoreError> {
        let mut s = self.0.lock().expect("webhook store lock");
        let before = s.dead.len();
        s.dead.retain(|d| d.delivery.id != dead.delivery.id);
        if s.dead.len() == before {
            return Ok(false);
        }
        s.jobs.insert(dead.delivery.id.clone(), Some(dead.delivery.fresh(now_ms)));
        if !dead.delivery.ordered || s.join_line(&dead.delivery) {
            s.schedule(&dead.delivery.id, Some(now_ms));
        }
        Ok(true)
    }

    async fn add_subscription(&self, subscription: &Subscription) -> Result<bool, StoreError> {
        let mut s = self.0.lock().expect("webhook store lock");
        if s.subscriptions.contains_key(&subscription.id) {
            return Ok(false);
        }
        s.subscriptions.insert(subscription.id.clone(), subscription.clone());
        Ok(true)
    }

    async fn remove_subscription(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.0.lock().expect("webhook store lock").subscriptions.remove(id).is_some())
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        Ok(self.0.lock().expect("webhook store lock").subscriptions.values().cloned().collect())
    }

    async fn endpoint_failed(&self, subscription: &str, now_ms: i64) -> Result<i64, StoreError> {
        Ok(*self
            .0
            .lock()
            .expect("webhook store lock")
            .failing_since
            .entry(subscription.to_string())
            .or_insert(now_ms))
    }

    async fn endpoint_ok(&self, subscription: &str) -> Result<(), StoreError> {
        self.0.lock().expect("webhook store lock").failing_since.remove(subscription);
        Ok(())
    }

    async fn set_disabled(&self, subscription: &str, reason: Option<&str>) -> Result<(), StoreError> {
        let mut s = self.0.lock().expect("webhook store lock");
        match reason {
            Some(reason) => {
                s.disabled.insert(subscription.to_string(), reason.to_string());
            }
            None => {
                s.disabled.remove(subscription);
                s.failing_since.remove(subscription);
            }
        }
        Ok(())
    }

    async fn disabled(&self, subscription: &str) -> Result<Option<String>, StoreError> {
        Ok(self.0.lock().expect("webhook store lock").disabled.get(subscription).cloned())
    }
}
