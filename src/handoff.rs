//! The fast path to the rep: once the broker acknowledged a batch, the assignments and lead events
//! in it are handed to the notification hub and the rep feed in this process, instead of waiting
//! for consumers of `leads.assignments` and `leads.events` to fetch them back.
//!
//! Why: a consumer hop costs a fetch (on the test broker, `fetch.wait.max.ms` plus a round trip
//! even when data is waiting), and it was a third of capture → rep. Extra consumer groups also load
//! the broker: with notify and the feed each fetching their own partitions every few ms, tansu's
//! bare round trip rose by half at 100 leads/s (docs/benchmarks.md).
//!
//! The handoff happens only after the ack, so nothing reaches a rep that the log does not hold
//! (and the router committed the route to the store before it published). What each side gives up
//! if this process dies between the ack and the handoff, and what covers it:
//! - notifications: the notify stage still reads `leads.assignments`; both paths claim the
//!   assignment's id first ([`NotifyStage::hand_over`]), so whichever comes first notifies.
//! - the feed: that one live event is lost; the page re-reads its list on focus and every 30 s, so
//!   it costs seconds, never a lead.

use std::sync::Arc;

use async_trait::async_trait;
use speedlead_actors::codec::parse_envelope;
use speedlead_actors::ports::{Outbound, PublishError, Publisher, Record};
use speedlead_topics::{LeadEvent, Topic};

use crate::dashboard::feed::RepFeed;
use crate::dashboard::feed_event::tell_rep;
use crate::kafka::TopicNames;
use crate::notify::stage::{HandoverPath, NotifyStage};

/// A [`Publisher`] that, after the inner one's ack, hands the rep-facing messages of the batch on.
pub struct HandoffPublisher {
    inner: Arc<dyn Publisher>,
    names: TopicNames,
    notify: Arc<NotifyStage>,
    feed: Arc<RepFeed>,
}

impl HandoffPublisher {
    pub fn new(
        inner: Arc<dyn Publisher>,
        names: TopicNames,
        notify: Arc<NotifyStage>,
        feed: Arc<RepFeed>,
    ) -> Self {
        HandoffPublisher { inner, names, notify, feed }
    }

    /// Hands over one batch's rep-facing messages, in their order. Failures are logged and counted,
    /// never returned: the batch is already in the log, and the durable paths above cover it.
    async fn hand_over(
        names: TopicNames,
        notify: Arc<NotifyStage>,
        feed: Arc<RepFeed>,
        messages: Vec<Outbound>,
    ) {
        for message in messages {
            let record = Record {
                topic: names.name(message.topic),
                partition: -1,
                offset: -1,
                key: Some(message.key.into_bytes()),
                payload: Some(message.payload),
                timestamp_ms: None,
                headers: Vec::new(),
            };
            let (target, outcome) = match message.topic {
                Topic::Assignments => (
                    "notify",
                    notify.hand_over(&record, HandoverPath::InProcess).await.map_err(|e| e.to_string()),
                ),
                _ => match parse_envelope::<LeadEvent>(&record) {
                    Ok(event) => ("feed", tell_rep(&feed, &event).await),
                    Err(e) => ("feed", Err(e.to_string())),
                },
            };
            if let Err(error) = outcome {
                metrics::counter!("speedlead_handoff_failures_total", "target" => target).increment(1);
                tracing::warn!(target, error, "in-process handoff failed; the durable path covers it");
            }
        }
    }
}

/// Whether the hub or the feed has anything to do with `message`: every assignment, and the lead
/// events a rep's feed shows. Every lead's intake batch carries events no rep sees (`lead.scored`);
/// reading just the envelope's `type` spares them the copy, the task and the full parse.
fn rep_facing(message: &Outbound) -> bool {
    #[derive(serde::Deserialize)]
    struct TypeOnly<'a> {
        #[serde(rename = "type", borrow)]
        event_type: std::borrow::Cow<'a, str>,
    }
    match message.topic {
        Topic::Assignments => true,
        Topic::Events => serde_json::from_slice::<TypeOnly>(&message.payload)
            .map_or(true, |t| crate::dashboard::feed_event::may_concern_a_rep(&t.event_type)),
        _ => false,
    }
}

#[async_trait]
impl Publisher for HandoffPublisher {
    async fn publish(&self, messages: Vec<Outbound>) -> Result<(), PublishError> {
        let rep_facing: Vec<Outbound> = messages.iter().filter(|m| rep_facing(m)).cloned().collect();
        self.inner.publish(messages).await?;
        if !rep_facing.is_empty() {
            // The publishing partition goes on at once: a slow Redis delays the rep, not the pipeline.
            let (names, notify, feed) = (self.names.clone(), self.notify.clone(), self.feed.clone());
            tokio::spawn(Self::hand_over(names, notify, feed, rep_facing));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use speedlead_actors::stage::Stage;
    use speedlead_actors::store::MemoryStore;
    use speedlead_topics::{event_type, Assignment, Envelope};
    use uuid::Uuid;

    use super::*;
    use crate::config::Settings;
    use crate::notify::hub::NotificationHub;
    use crate::notify::settings::{NotifySettings, RepChannels, Step};
    use crate::notify::{Channel, ChannelKind, Notice, SendError, Sent};

    /// The broker: takes every batch, or refuses every one.
    #[derive(Default)]
    struct Broker {
        refuse: bool,
        log: Mutex<Vec<Outbound>>,
    }

    #[async_trait]
    impl Publisher for Broker {
        async fn publish(&self, messages: Vec<Outbound>) -> Result<(), PublishError> {
            if self.refuse {
                return Err(PublishError::retriable("broker down"));
            }
            self.log.lock().unwrap().extend(messages);
            Ok(())
        }
    }

    /// A Slack that keeps who was told what.
    #[derive(Default)]
    struct Slack(Mutex<Vec<String>>);

    #[async_trait]
    impl Channel for Slack {
        fn kind(&self) -> ChannelKind {
            ChannelKind::Slack
        }
        async fn send(&self, notice: &Notice, to: &str) -> Result<Sent, SendError> {
            self.0.lock().unwrap().push(format!("{to}: {}", notice.lead.name.clone().unwrap_or_default()));
            Ok(Sent::default())
        }
    }

    struct Rig {
        handoff: HandoffPublisher,
        notify: Arc<NotifyStage>,
        slack: Arc<Slack>,
        ana_feed: tokio::sync::broadcast::Receiver<Arc<str>>,
    }

    fn rig(broker: Broker) -> Rig {
        let settings = Settings::defaults();
        let store = Arc::new(MemoryStore::new());
        let ana = RepChannels {
            id: "ana".into(),
            slack: Some("#ana".into()),
            plan: Some(vec![Step { channel: ChannelKind::Slack, after_secs: 0 }]),
            ..Default::default()
        };
        let notify_settings = NotifySettings { reps: vec![ana], ..NotifySettings::default() };
        let slack = Arc::new(Slack::default());
        let routing = Arc::new(arc_swap::ArcSwap::from_pointee(settings.routing().unwrap()));
        let broker: Arc<dyn Publisher> = Arc::new(broker);
        let hub = NotificationHub::new(
            &notify_settings,
            vec![slack.clone()],
            store.clone(),
            broker.clone(),
            routing,
        );
        let notify = Arc::new(NotifyStage::new(hub, store, settings.acks.clone()));
        let feed = Arc::new(RepFeed::local());
        let ana_feed = feed.subscribe("ana");
        let handoff = HandoffPublisher::new(broker, TopicNames::default(), notify.clone(), feed);
        Rig { handoff, notify, slack, ana_feed }
    }

    /// An assignment of Zoë to ana, as the router publishes it: to `leads.assignments` and, as
    /// `lead.assigned`, to `leads.events`.
    fn assignment_batch() -> Vec<Outbound> {
        let lead_id = Uuid::new_v4();
        let assignment = Assignment { lead_id, ..crate::dashboard::feed_event::tests::assignment("ana", 1) };
        let event =
            Envelope::new(event_type::ASSIGNED, lead_id, LeadEvent::Assigned(Box::new(assignment.clone())));
        let assignment = Envelope::new(event_type::ASSIGNED, lead_id, assignment);
        let message = |topic, payload| Outbound { topic, key: "na".into(), payload };
        vec![
            message(Topic::Assignments, serde_json::to_vec(&assignment).unwrap()),
            message(Topic::Events, serde_json::to_vec(&event).unwrap()),
        ]
    }

    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    #[tokio::test]
    async fn an_acked_assignment_reaches_the_reps_feed_and_slack_once_even_when_the_consumer_reads_it_too() {
        let mut rig = rig(Broker::default());
        let batch = assignment_batch();
        rig.handoff.publish(batch.clone()).await.unwrap();
        settle().await;
        let told = rig.ana_feed.try_recv().expect("ana's feed got the assignment");
        assert!(told.contains("\"lead.assigned\"") && told.contains("Zoë"), "{told}");
        assert_eq!(*rig.slack.0.lock().unwrap(), vec!["#ana: Zoë".to_string()]);

        // The notify stage's consumer reads the same assignment back from the log: already claimed.
        let record = Record {
            topic: "leads.assignments".into(),
            partition: 0,
            offset: 7,
            key: Some(b"na".to_vec()),
            payload: Some(batch[0].payload.clone()),
            timestamp_ms: None,
            headers: Vec::new(),
        };
        rig.notify.process(&record).await.unwrap();
        settle().await;
        assert_eq!(rig.slack.0.lock().unwrap().len(), 1, "notified once");
    }

    #[tokio::test]
    async fn nothing_reaches_the_rep_before_the_broker_acked_it() {
        let mut rig = rig(Broker { refuse: true, ..Broker::default() });
        assert!(rig.handoff.publish(assignment_batch()).await.is_err());
        settle().await;
        assert!(rig.ana_feed.try_recv().is_err(), "no feed event for an unpublished assignment");
        assert!(rig.slack.0.lock().unwrap().is_empty(), "no notification for an unpublished assignment");
    }
}
