//! Wiring: the root supervisor, one stage supervisor and one consumer per stage, the publisher and
//! the store, started together and shut down together.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use speedlead_actors::account::AccountMatcher;
use speedlead_actors::acks::AckStage;
use speedlead_actors::dispatch::{DispatchSettings, Dispatcher};
use speedlead_actors::escalation::{wall_clock, EscalationTimers, TimerSettings};
use speedlead_actors::intake::IntakeStage;
use speedlead_actors::intelligence::{LeadIntelligence, ModelSnapshot};
use speedlead_actors::learner::LearnerStage;
use speedlead_actors::ports::{Enricher, Publisher};
use speedlead_actors::router::RouterStage;
use speedlead_actors::rules::SharedRouting;
use speedlead_actors::scoring::Scorer;
use speedlead_actors::stage::Stage;
use speedlead_actors::store::Store;
use speedlead_actors::supervisor::{RestartBackoff, RootMsg, RootSupervisor, StageArgs};
use speedlead_topics::Topic;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::dashboard::feed::RepFeed;
use crate::enrich::HttpEnricher;
use crate::error::Error;
use crate::handoff::HandoffPublisher;
use crate::http::webhooks_admin::WebhooksAdmin;
use crate::kafka::consumer::{ChannelRestarter, PendingOffsets, StageConsumer, StageConsumerConfig};
use crate::kafka::publisher::KafkaPublisher;
use crate::kafka::{client, TopicNames};
use crate::notify::hub::NotificationHub;
use crate::notify::stage::NotifyStage;
use crate::notify::templates::Templates;
use crate::routing_reload::RoutingHandle;
use crate::webhooks::deliverer::WebhookDeliverer;
use crate::webhooks::stage::WebhookStage;
use crate::webhooks::store::WebhookStore;
use crate::webhooks::subscriptions::SubscriptionBook;

/// Replaces a stage with a decorated one (tests use it to inject faults into real stages).
pub type StageWrapper = Box<dyn Fn(Arc<dyn Stage>) -> Arc<dyn Stage> + Send + Sync>;

/// Optional decorations of the stages.
#[derive(Default)]
pub struct StageWrappers {
    pub intake: Option<StageWrapper>,
    pub router: Option<StageWrapper>,
    pub learner: Option<StageWrapper>,
    pub acks: Option<StageWrapper>,
}

/// Dedupe, accounts, enrichment and scoring for the intake stage, on `store`.
async fn intelligence(
    settings: &Settings,
    routing: SharedRouting,
    store: Arc<dyn Store>,
    enricher: Option<Arc<HttpEnricher>>,
) -> Result<Arc<LeadIntelligence>, Error> {
    let enricher = enricher.map(|e| e as Arc<dyn Enricher>);
    let scorer = Scorer::new(settings.scoring.clone()).map_err(|e| Error::Config(format!("scoring: {e}")))?;
    let model = ModelSnapshot::load(store.clone(), &settings.scoring_model).await?;
    Ok(Arc::new(LeadIntelligence {
        store,
        routing,
        enricher,
        scorer,
        accounts: AccountMatcher::new(settings.dedupe.fuzzy_threshold),
        model,
        dedupe: settings.dedupe.clone(),
        features_ttl: Duration::from_secs(settings.scoring_model.features_ttl_days * 24 * 60 * 60),
    }))
}

/// The dispatcher (routing decisions, escalations, overflow) and the escalation timers that drive
/// it, one per domain, re-armed from the store.
async fn routing_engine(
    settings: &Settings,
    routing: &SharedRouting,
    store: &Arc<dyn Store>,
    publisher: Arc<dyn Publisher>,
) -> Result<(Arc<Dispatcher>, Arc<EscalationTimers>), Error> {
    let dispatch = DispatchSettings {
        decision_ttl: Duration::from_secs(settings.pipeline.decision_ttl_secs),
        token_ttl: settings.acks.token_ttl(),
    };
    let signer = settings.acks.signer();
    let dispatcher = Arc::new(Dispatcher::new(routing.clone(), store.clone(), publisher, signer, dispatch));
    let domains = routing.load().domains().map(|d| d.name.clone()).collect();
    let timers = EscalationTimers::start(
        domains,
        store.clone(),
        dispatcher.clone(),
        TimerSettings::default(),
        wall_clock(),
    )
    .await
    .map_err(|e| Error::Actor(format!("escalation timers: {e}")))?;
    let timers = Arc::new(timers);
    dispatcher.report_deadlines_to(timers.clone());
    Ok((dispatcher, timers))
}

/// The rules-file watcher (when a file is configured) and the task that gives domains added by a
/// reload their escalation timer.
fn background_tasks(
    settings: &Settings,
    handle: &RoutingHandle,
    timers: &Arc<EscalationTimers>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(file) = &settings.routing_rules.file {
        let interval = settings.routing_rules.reload_interval();
        tasks.push(crate::routing_reload::watch(handle.clone(), file.clone(), interval, stopped));
    }
    let (handle, timers) = (handle.clone(), timers.clone());
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            timers.ensure(handle.load().domains().map(|d| d.name.clone()));
        }
    }));
    tasks
}

/// The rep feed and the notification hub, which the [`HandoffPublisher`] feeds.
async fn rep_side(
    settings: &Settings,
    routing: &SharedRouting,
    store: &Arc<dyn Store>,
    publisher: &KafkaPublisher,
) -> Result<(Arc<RepFeed>, Arc<NotifyStage>), Error> {
    let feed = Arc::new(RepFeed::connect(&settings.redis).await?);
    let templates = Templates::new(&settings.notify.templates)
        .map_err(|e| Error::Config(format!("notify.templates: {e}")))?;
    let channels = crate::notify::channels::build(&settings.notify.channels, Arc::new(templates))?;
    let publisher: Arc<dyn Publisher> = Arc::new(publisher.clone());
    let hub = NotificationHub::new(&settings.notify, channels, store.clone(), publisher, routing.clone());
    let notify = Arc::new(NotifyStage::new(hub, store.clone(), settings.acks.clone()));
    Ok((feed, notify))
}

/// Outbound webhooks' moving parts, for the stage list and the admin API.
struct Webhooks {
    store: Arc<dyn WebhookStore>,
    book: Arc<SubscriptionBook>,
    deliverer: Arc<WebhookDeliverer>,
    stage: Arc<dyn Stage>,
}

/// The webhooks stage, the deliverer it wakes and the subscriptions, on the configured store.
async fn webhooks(settings: &Settings) -> Result<Webhooks, Error> {
    let store = crate::webhooks::connect_store(&settings.redis).await?;
    let configured = settings.webhooks.subscriptions.clone();
    let book =
        SubscriptionBook::load(configured, store.clone(), settings.webhooks.allow_private_networks).await?;
    let deliverer = WebhookDeliverer::new(&settings.webhooks, store.clone(), book.clone())?;
    let stage = Arc::new(WebhookStage::new(book.clone(), store.clone(), deliverer.clone()));
    Ok(Webhooks { store, book, deliverer, stage })
}

/// A running pipeline.
pub struct Pipeline {
    root: ActorRef<RootMsg>,
    root_done: JoinHandle<()>,
    consumer_failures: tokio::sync::mpsc::UnboundedReceiver<String>,
    consumers: Vec<StageConsumer>,
    publisher: KafkaPublisher,
    routing: RoutingHandle,
    timers: Arc<EscalationTimers>,
    feed: Arc<RepFeed>,
    enricher: Option<Arc<HttpEnricher>>,
    webhooks: Webhooks,
    /// Dropping it stops the rules-file watcher; sending `true` too.
    stop_background: tokio::sync::watch::Sender<bool>,
    background: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts every stage against `brokers` (the configured or embedded cluster) and `store`.
    pub async fn start(
        settings: &Settings,
        brokers: &str,
        store: Arc<dyn Store>,
        wrappers: StageWrappers,
    ) -> Result<Self, Error> {
        let handle = settings.routing_handle()?;
        let routing = handle.shared();
        let names = TopicNames::new(&settings.kafka.topic_prefix);
        let publisher = KafkaPublisher::new(&client::producer(&settings.kafka, brokers), names.clone())?;
        let (root, root_done) = Actor::spawn(None, RootSupervisor, ()).await?;
        let (feed, notify) = rep_side(settings, &routing, &store, &publisher).await?;
        // Every stage and the escalation timers publish through it, so whatever reaches the log
        // for a rep reaches them at once.
        let handoff: Arc<dyn Publisher> = Arc::new(HandoffPublisher::new(
            Arc::new(publisher.clone()),
            names.clone(),
            notify.clone(),
            feed.clone(),
        ));
        let (dispatcher, timers) = routing_engine(settings, &routing, &store, handoff.clone()).await?;
        let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
        let mut background = background_tasks(settings, &handle, &timers, background_stopped);

        let enricher = HttpEnricher::new(&settings.enrichment, store.clone())?;
        let enricher = (!enricher.is_empty()).then(|| Arc::new(enricher));
        let intelligence = intelligence(settings, routing.clone(), store.clone(), enricher.clone()).await?;
        let intake = IntakeStage::new(routing.clone())
            .with_raw_payloads(Arc::new(crate::capture::RawPayloads::new(&settings.sources)))
            .with_fetcher(Arc::new(crate::capture::ProviderApis::new(
                &settings.sources,
                Duration::from_secs(5),
            )))
            .with_intelligence(intelligence.clone());
        let learner = LearnerStage::new(
            store.clone(),
            intelligence.model.clone(),
            settings.scoring.learning.clone(),
            Duration::from_secs(settings.scoring_model.features_ttl_days * 24 * 60 * 60),
        );
        let wrap = |stage: Arc<dyn Stage>, wrapper: &Option<StageWrapper>| match wrapper {
            Some(w) => w(stage),
            None => stage,
        };
        let acks = AckStage::new(store.clone(), timers.clone());
        let mut stages: Vec<(Arc<dyn Stage>, Topic)> = vec![
            (wrap(Arc::new(intake), &wrappers.intake), Topic::Inbound),
            (wrap(Arc::new(RouterStage::new(dispatcher)), &wrappers.router), Topic::Qualified),
            (wrap(Arc::new(acks), &wrappers.acks), Topic::Acks),
            (wrap(Arc::new(learner), &wrappers.learner), Topic::Outcomes),
            (notify, Topic::Assignments),
        ];
        let outbound = webhooks(settings).await?;
        // Subscriptions come from the config file or the admin API, which needs the admin token:
        // with neither, no event can go out and the stage would only load the broker.
        if !settings.webhooks.subscriptions.is_empty() || settings.http.admin_token.is_some() {
            background.push(outbound.deliverer.start(stop_background.subscribe()));
            background.push(outbound.book.keep_fresh(stop_background.subscribe()));
            stages.push((outbound.stage.clone(), Topic::Events));
        }

        let (failures, consumer_failures) = tokio::sync::mpsc::unbounded_channel();
        let mut consumers = Vec::new();
        for (stage, input) in stages {
            let name = stage.name();
            let offsets = Arc::new(PendingOffsets::default());
            let (restart_tx, restart_rx) = std::sync::mpsc::channel();
            let args = StageArgs {
                stage,
                publisher: handoff.clone(),
                offsets: offsets.clone(),
                restarter: Arc::new(ChannelRestarter(restart_tx)),
                retry: settings.pipeline.retry(),
                backoff: RestartBackoff::default(),
            };
            let supervisor = root
                .call(|reply| RootMsg::StartStage { args, reply }, None)
                .await
                .map_err(|e| Error::Actor(e.to_string()))?
                .success_or(Error::Actor(format!("stage {name} did not start")))?;
            let group = format!("{}.{name}", settings.kafka.group_prefix);
            let mut client = client::consumer(&settings.kafka, brokers, &group);
            // Off the path to the rep: outcomes, the notify backstop behind the handoff, and
            // webhooks (whose receivers expect seconds, not milliseconds).
            if matches!(input, Topic::Outcomes | Topic::Assignments | Topic::Events) {
                client.set("fetch.wait.max.ms", settings.kafka.relaxed_fetch_wait_max_ms.to_string());
            }
            if name == "webhooks" {
                // A webhooks group with no offsets yet (webhooks just switched on, or its offsets
                // expired while off) starts at the end: subscribers get what happens from now on,
                // not every event the topic still holds (30 days).
                client.set("auto.offset.reset", "latest");
            }
            let config = StageConsumerConfig {
                stage: name,
                topic: names.name(input),
                client,
                drain_timeout: Duration::from_millis(settings.pipeline.drain_timeout_ms),
                max_in_flight: settings.pipeline.max_in_flight_per_partition,
                failures: failures.clone(),
            };
            consumers.push(StageConsumer::start(config, supervisor, restart_rx, offsets)?);
        }
        Ok(Pipeline {
            root,
            root_done,
            consumer_failures,
            consumers,
            publisher,
            routing: handle,
            timers,
            feed,
            enricher,
            webhooks: outbound,
            stop_background,
            background,
        })
    }

    /// The routing configuration in force (reloaded from `routing_rules.file` when it changes).
    pub fn routing(&self) -> RoutingHandle {
        self.routing.clone()
    }

    /// Each rep's live lead events, for the dashboard's event stream.
    pub fn feed(&self) -> Arc<RepFeed> {
        self.feed.clone()
    }

    /// The enrichment providers, for their breaker states (`None` without providers).
    pub fn enricher(&self) -> Option<Arc<HttpEnricher>> {
        self.enricher.clone()
    }

    /// The webhooks admin API's state.
    pub fn webhooks_admin(&self, settings: &Settings) -> Arc<WebhooksAdmin> {
        Arc::new(WebhooksAdmin {
            admin_token: settings.http.admin_token.clone().filter(|t| !t.is_empty()),
            subscriptions: self.webhooks.book.clone(),
            store: self.webhooks.store.clone(),
            deliverer: self.webhooks.deliverer.clone(),
        })
    }

    /// The escalation timers, one per routing domain.
    pub fn timers(&self) -> &EscalationTimers {
        &self.timers
    }

    /// True once every stage consumer has joined its group.
    pub fn ready(&self) -> bool {
        self.consumers.iter().all(StageConsumer::joined)
    }

    /// Partitions this instance owns, over all stages.
    pub fn assigned_partitions(&self) -> usize {
        self.consumers.iter().map(StageConsumer::assigned_partitions).sum()
    }

    /// Waits until every stage consumer joined its group, up to `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.ready() {
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Config(format!("consumers did not join their groups within {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Resolves, with the reason, if the pipeline broke beyond what it repairs itself (a stage
    /// supervisor failed, e.g. on a fatal producer error, or a consumer thread died): the process
    /// should exit and restart from committed offsets.
    pub async fn failed(&mut self) -> String {
        tokio::select! {
            _ = &mut self.root_done => "the actor system stopped (a stage supervisor failed)".to_string(),
            Some(reason) = self.consumer_failures.recv() => reason,
        }
    }

    /// Finishes in-flight leads, commits offsets, leaves the groups and stops the actors.
    pub async fn shutdown(self) {
        for consumer in self.consumers {
            consumer.shutdown().await;
        }
        let _ = self.stop_background.send(true);
        for task in self.background {
            task.abort();
        }
        self.timers.stop().await;
        self.publisher.flush(Duration::from_secs(5));
        // Leaves first, so no actor still holds a producer when the caller drops the broker (the
        // embedded cluster's clients would log "all brokers down" for every one left).
        let grace = Some(Duration::from_secs(5));
        for stage in self.root.get_children() {
            stage.stop_children_and_wait(None, grace).await;
        }
        self.root.stop_children_and_wait(None, grace).await;
        self.root.stop(None);
        let _ = self.root_done.await;
    }
}
