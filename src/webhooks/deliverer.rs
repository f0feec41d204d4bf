//! The deliverer: takes due jobs from the [`WebhookStore`], attempts each (a bounded number at
//! once), and records the outcome: delivered, retried on the schedule, or dead-lettered.
//!
//! It wakes when the stage enqueued something and otherwise polls, because jobs come due on their
//! own (a retry five minutes out) and may have been enqueued by another instance.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

use super::attempt::{attempt, Attempted};
use super::schedule::{after_failure, should_disable, Next};
use super::settings::WebhooksSettings;
use super::store::{DeadDelivery, Delivery, WebhookStore};
use super::subscriptions::SubscriptionBook;

/// How often due jobs are looked for when nothing woke the deliverer.
const POLL: Duration = Duration::from_millis(250);

pub struct WebhookDeliverer {
    settings: WebhooksSettings,
    subscriptions: Arc<SubscriptionBook>,
    store: Arc<dyn WebhookStore>,
    client: reqwest::Client,
    wake: Notify,
}

impl WebhookDeliverer {
    pub fn new(
        settings: &WebhooksSettings,
        store: Arc<dyn WebhookStore>,
        subscriptions: Arc<SubscriptionBook>,
    ) -> Result<Arc<Self>, crate::Error> {
        let client = super::attempt::client(
            Duration::from_millis(settings.timeout_ms),
            settings.allow_private_networks,
        )?;
        Ok(Arc::new(WebhookDeliverer {
            subscriptions,
            settings: settings.clone(),
            store,
            client,
            wake: Notify::new(),
        }))
    }

    /// Something was enqueued: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `stopped` turns true. Attempts in flight then are abandoned; their leases run
    /// out and they come due again (here or on another instance).
    pub fn start(self: &Arc<Self>, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(me.settings.max_in_flight.max(1)));
            // An attempt takes at most the timeout; past that plus a margin its holder is gone.
            let lease = Duration::from_millis(me.settings.timeout_ms) + Duration::from_secs(5);
            loop {
                let free = slots.available_permits();
                let taken = match free {
                    0 => Vec::new(),
                    _ => me.store.take_due(Utc::now().timestamp_millis(), lease, free).await.unwrap_or_else(
                        |e| {
                            tracing::warn!(error = %e, "webhook queue unavailable; retrying");
                            Vec::new()
                        },
                    ),
                };
                let full = free > 0 && taken.len() == free;
                for job in taken {
                    let Ok(slot) = slots.clone().acquire_owned().await else { return };
                    let me = me.clone();
                    tokio::spawn(async move {
                        me.deliver(job).await;
                        drop(slot);
                    });
                }
                if full {
                    // More may be due: go on once a slot frees up.
                    let _ = slots.acquire().await.map(drop);
                    continue;
                }
                tokio::select! {
                    _ = me.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => return,
                }
            }
        })
    }

    async fn deliver(&self, mut job: Delivery) {
        if let Err(e) = self.try_deliver(&mut job).await {
            // The lease brings the job back.
            tracing::warn!(error = %e, delivery = %job.id, "webhook outcome not recorded; it will be retried");
        }
    }

    async fn try_deliver(&self, job: &mut Delivery) -> Result<(), speedlead_actors::store::StoreError> {
        let subscription = match self.subscriptions.get(&job.subscription) {
            Some(subscription) => subscription,
            // Made on another instance since our last re-read, perhaps: look again before giving up.
            None => {
                self.subscriptions.refresh().await?;
                match self.subscriptions.get(&job.subscription) {
                    Some(subscription) => subscription,
                    None => return self.bury(job, "subscription_removed").await,
                }
            }
        };
        if self.store.disabled(&subscription.id).await?.is_some() {
            return self.bury(job, "endpoint_disabled").await;
        }
        job.attempts += 1;
        let started = std::time::Instant::now();
        let outcome = attempt(&self.client, &subscription, job, self.settings.allow_private_networks).await;
        metrics::histogram!("speedlead_webhook_attempt_seconds").record(started.elapsed().as_secs_f64());
        match outcome {
            Attempted::Delivered { .. } => {
                count("delivered");
                self.store.finish(job).await?;
                self.store.endpoint_ok(&subscription.id).await
            }
            Attempted::Gone => {
                count("gone");
                self.disable(&subscription.id, "the receiver answered 410 Gone").await?;
                self.bury(job, "endpoint_gone").await
            }
            Attempted::Failed(failure) => {
                count("failed");
                let now = Utc::now().timestamp_millis();
                let retry_after = failure.retry_after_secs.map(Duration::from_secs);
                job.last_failure = Some(failure);
                let since = self.store.endpoint_failed(&subscription.id, now).await?;
                let window = Duration::from_secs(self.settings.disable_after_secs);
                if should_disable(since, now, window) {
                    let reason = format!("failing for {} s", (now - since) / 1000);
                    self.disable(&subscription.id, &reason).await?;
                    return self.bury(job, "endpoint_disabled").await;
                }
                match after_failure(&self.settings.retry_schedule_secs, job.attempts, retry_after) {
                    Next::RetryIn(wait) => self.store.retry(job, now + wait.as_millis() as i64).await,
                    Next::GiveUp => self.bury(job, "schedule_exhausted").await,
                }
            }
        }
    }

    async fn bury(&self, job: &Delivery, reason: &str) -> Result<(), speedlead_actors::store::StoreError> {
        metrics::counter!("speedlead_webhook_dead_lettered_total", "reason" => reason.to_string())
            .increment(1);
        tracing::warn!(delivery = %job.id, reason, attempts = job.attempts, "webhook delivery dead-lettered");
        let dead = DeadDelivery {
            delivery: job.clone(),
            reason: reason.to_string(),
            dead_ms: Utc::now().timestamp_millis(),
        };
        self.store.bury(&dead).await
    }

    /// The operational event of an endpoint switched off: an error log line SREs alert on and a
    /// counter (the subscription id is in the log, not in a label).
    async fn disable(
        &self,
        subscription: &str,
        reason: &str,
    ) -> Result<(), speedlead_actors::store::StoreError> {
        metrics::counter!("speedlead_webhook_endpoints_disabled_total").increment(1);
        tracing::error!(subscription, reason, "webhook endpoint disabled");
        self.store.set_disabled(subscription, Some(reason)).await
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("speedlead_webhook_attempts_total", "outcome" => outcome).increment(1);
}
