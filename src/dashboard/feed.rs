//! The rep feed: each rep's lead events, fanned out to every open dashboard of theirs on any
//! instance.
//!
//! With Redis, an event is `PUBLISH`ed on `<namespace>:repfeed:<rep>` and every instance keeps one
//! pattern subscription that hands each message to the local subscribers of that rep; without
//! Redis (the embedded default) the event goes straight to the local subscribers. Redis pub/sub
//! is fire-and-forget: a dashboard that misses an event (a dropped connection, a Redis restart)
//! loses seconds, not a lead, because it re-reads `/v1/reps/{rep}/leads`, and this feed sends it a
//! `resync` whenever the subscription had to be re-established.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use futures::StreamExt;
use tokio::sync::broadcast;

use crate::error::Error;

/// How many events a slow dashboard may fall behind before it is told to resync instead.
const SUBSCRIBER_BUFFER: usize = 256;

/// The event sent when a subscriber may have missed events: re-read the lead list.
pub const RESYNC: &str = r#"{"type":"resync"}"#;

/// Local subscribers per rep. Senders stay in the map while someone listens.
#[derive(Default)]
struct Subscribers {
    reps: DashMap<String, broadcast::Sender<Arc<str>>>,
}

impl Subscribers {
    fn subscribe(&self, rep: &str) -> broadcast::Receiver<Arc<str>> {
        self.reps
            .entry(rep.to_string())
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_BUFFER).0)
            .subscribe()
    }

    fn deliver(&self, rep: &str, event: Arc<str>) {
        let nobody = match self.reps.get(rep) {
            Some(sender) => sender.send(event).is_err(),
            None => return,
        };
        if nobody {
            // The last dashboard closed: forget the rep, unless one subscribed meanwhile.
            self.reps.remove_if(rep, |_, sender| sender.receiver_count() == 0);
        }
    }

    fn resync_all(&self) {
        for entry in self.reps.iter() {
            let _ = entry.value().send(Arc::from(RESYNC));
        }
    }
}

enum Transport {
    Local,
    Redis { connection: redis::aio::ConnectionManager, prefix: String },
}

/// Publishes rep events and hands them to this instance's dashboards.
pub struct RepFeed {
    subscribers: Arc<Subscribers>,
    transport: Transport,
    /// The Redis subscription task, stopped with the feed.
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for RepFeed {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

impl RepFeed {
    /// In-process only (the embedded default, and one-instance setups without Redis).
    pub fn local() -> Self {
        RepFeed { subscribers: Arc::default(), transport: Transport::Local, listener: None }
    }

    /// Over Redis pub/sub on `<namespace>:repfeed:*`.
    pub async fn redis(url: &str, namespace: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url)?;
        let connection = client.get_connection_manager().await?;
        let prefix = format!("{namespace}:repfeed:");
        let subscribers = Arc::new(Subscribers::default());
        let listener = tokio::spawn(listen(client, prefix.clone(), subscribers.clone()));
        Ok(RepFeed {
            subscribers,
            transport: Transport::Redis { connection, prefix },
            listener: Some(listener),
        })
    }

    /// The feed the configuration asks for: Redis when a URL is set.
    pub async fn connect(settings: &crate::config::RedisSettings) -> Result<Self, Error> {
        if settings.url.trim().is_empty() {
            return Ok(Self::local());
        }
        Self::redis(&settings.url, &settings.namespace).await
    }

    /// Sends `event` (JSON) to every dashboard of `rep`, on every instance.
    pub async fn publish(&self, rep: &str, event: &str) -> Result<(), String> {
        match &self.transport {
            Transport::Local => {
                self.subscribers.deliver(rep, Arc::from(event));
                Ok(())
            }
            Transport::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                redis::cmd("PUBLISH")
                    .arg(format!("{prefix}{rep}"))
                    .arg(event)
                    .query_async::<i64>(&mut connection)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("redis publish: {e}"))
            }
        }
    }

    /// The events of `rep` from now on.
    pub fn subscribe(&self, rep: &str) -> broadcast::Receiver<Arc<str>> {
        self.subscribers.subscribe(rep)
    }
}

/// Keeps one pattern subscription up for as long as the feed lives; after every reconnect, tells
/// every local dashboard to resync, since events published meanwhile are gone.
async fn listen(client: redis::Client, prefix: String, subscribers: Arc<Subscribers>) {
    let pattern = format!("{prefix}*");
    let mut pause = Duration::from_millis(100);
    let mut first = true;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.psubscribe(&pattern).await {
                Ok(()) => {
                    if !first {
                        tracing::info!("rep feed subscription re-established; dashboards resync");
                        subscribers.resync_all();
                    }
                    first = false;
                    pause = Duration::from_millis(100);
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        let channel = message.get_channel_name();
                        let Some(rep) = channel.strip_prefix(prefix.as_str()) else { continue };
                        match message.get_payload::<String>() {
                            Ok(event) => subscribers.deliver(rep, Arc::from(event)),
                            Err(e) => tracing::warn!(error = %e, "rep feed message is not text"),
                        }
                    }
                    tracing::warn!("rep feed subscription ended; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "rep feed: psubscribe failed"),
            },
            Err(e) => tracing::warn!(error = %e, "rep feed: cannot connect to redis"),
        }
        metrics::counter!("speedlead_rep_feed_reconnects_total").increment(1);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_events_reach_only_their_reps_subscribers() {
        let feed = RepFeed::local();
        let mut ana = feed.subscribe("ana");
        let mut ben = feed.subscribe("ben");
        feed.publish("ana", r#"{"type":"lead.assigned"}"#).await.unwrap();
        assert_eq!(&*ana.recv().await.unwrap(), r#"{"type":"lead.assigned"}"#);
        assert!(ben.try_recv().is_err(), "ben got ana's event");
    }

    #[tokio::test]
    async fn a_rep_nobody_watches_is_forgotten() {
        let feed = RepFeed::local();
        drop(feed.subscribe("ana"));
        feed.publish("ana", "{}").await.unwrap();
        assert!(feed.subscribers.reps.is_empty());
    }
}
