//! The webhooks stage: reads `leads.events` and turns each event a subscription wants into a
//! durable delivery job. It never waits on a receiver: the [`WebhookDeliverer`] sends, so a slow
//! or dead endpoint holds up nothing but its own retries.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use speedlead_actors::codec::parse_envelope;
use speedlead_actors::ports::{Outbound, Record};
use speedlead_actors::stage::{Stage, StageError};
use speedlead_topics::LeadEvent;

use super::deliverer::WebhookDeliverer;
use super::event::outbound;
use super::store::{Delivery, WebhookStore};
use super::subscriptions::SubscriptionBook;

pub struct WebhookStage {
    subscriptions: Arc<SubscriptionBook>,
    store: Arc<dyn WebhookStore>,
    deliverer: Arc<WebhookDeliverer>,
}

impl WebhookStage {
    pub fn new(
        subscriptions: Arc<SubscriptionBook>,
        store: Arc<dyn WebhookStore>,
        deliverer: Arc<WebhookDeliverer>,
    ) -> Self {
        WebhookStage { subscriptions, store, deliverer }
    }
}

#[async_trait]
impl Stage for WebhookStage {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    async fn process(&self, record: &Record) -> Result<Vec<Outbound>, StageError> {
        let event = parse_envelope::<LeadEvent>(record)?;
        let now = Utc::now().timestamp_millis();
        let subscriptions = self.subscriptions.current();
        let mut added = false;
        for out in outbound(&event) {
            for subscription in subscriptions.iter().filter(|s| s.wants(out.event_type)) {
                let delivery = Delivery {
                    id: Delivery::id_of(&subscription.id, &out.id),
                    subscription: subscription.id.clone(),
                    event_id: out.id.clone(),
                    event_type: out.event_type.to_string(),
                    lead_id: out.lead_id,
                    body: out.body.clone(),
                    attempts: 0,
                    created_ms: now,
                    last_failure: None,
                    ordered: subscription.ordered_by_lead,
                };
                // False for a redelivered event: its job exists (or was delivered) already.
                if self.store.enqueue(&delivery).await? {
                    metrics::counter!("speedlead_webhook_enqueued_total", "type" => out.event_type)
                        .increment(1);
                    added = true;
                }
            }
        }
        if added {
            self.deliverer.wake();
        }
        Ok(Vec::new())
    }
}
