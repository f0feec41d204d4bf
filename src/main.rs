//! speedlead: leads in from Kafka, validated, routed to a rep and out, in milliseconds.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use speedlead::bench::{self, BenchOptions, HttpTarget};
use speedlead::config::{KafkaOverrides, Overrides, RedisOverrides, Settings};
use speedlead::demo::{self, DemoOptions};
use speedlead::eval::cli::EvalCommand;
use speedlead::http::{self, HttpState};
use speedlead::infra::Infra;
use speedlead::kafka::admin::{create_topics, TopicStatus};
use speedlead::kafka::TopicNames;
use speedlead::pipeline::{Pipeline, StageWrappers};
use speedlead::{telemetry, Error};
use speedlead_topics::Topic;

#[derive(Parser)]
#[command(
    name = "speedlead",
    version,
    about = "Speed-to-lead engine: every inbound lead to the right rep in milliseconds"
)]
struct Cli {
    /// Config file (TOML), layered over the built-in defaults.
    #[arg(long, global = true, env = "SPEEDLEAD_CONFIG")]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers; without any, speedlead starts an in-process cluster.
    #[arg(long, global = true)]
    brokers: Option<String>,
    /// Redis URL; without one, speedlead keeps its state in memory.
    #[arg(long, global = true)]
    redis: Option<String>,
    /// Log as JSON lines (for log shippers) instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline and the HTTP endpoints until SIGINT/SIGTERM (the default).
    Serve,
    /// Run the pipeline, feed it sample leads and print every assignment.
    Demo {
        /// How many sample leads to send (one invalid lead is added).
        #[arg(long, default_value_t = 24)]
        leads: usize,
        /// Milliseconds between leads.
        #[arg(long, default_value_t = 150)]
        interval_ms: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Load-test the pipeline: publish sample leads at a fixed rate and print latency per segment.
    Bench {
        /// Leads per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// Seconds of load.
        #[arg(long, default_value_t = 20)]
        duration_secs: u64,
        /// Seconds at the start left out of the figures.
        #[arg(long, default_value_t = 2)]
        warmup_secs: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Post the leads as signed webhooks to the capture gateway (started in-process) instead
        /// of publishing them to Kafka.
        #[arg(long)]
        http: bool,
        /// Enrich every lead from a company-lookup API served in-process on loopback (after each
        /// company's first lookup, from the Redis cache, as in production).
        #[arg(long)]
        enrich: bool,
        /// Also measure the rep's side: every rep notified on a loopback Slack webhook, and one
        /// dashboard event stream (SSE over HTTP) per rep.
        #[arg(long)]
        rep_side: bool,
    },
    /// Benchmark routing in-process: decision latency (1,000 reps in 50 domains), memory with
    /// 100,000 pending SLA deadlines, escalation lateness; the median of several runs.
    BenchRouting {
        /// Repeat the whole benchmark this many times; prints each run and the medians.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Qualified leads routed for the decision latency.
        #[arg(long, default_value_t = 20_000)]
        leads: usize,
        /// Pending SLA deadlines armed for the memory and escalation figures.
        #[arg(long, default_value_t = 100_000)]
        deadlines: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
        /// Run once in this process and print the figures for the parent run (each run is a fresh
        /// process, so its RSS starts clean).
        #[arg(long, hide = true)]
        in_process: bool,
    },
    /// Lead-intelligence evaluations on generated, labelled data (docs/benchmarks.md).
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Replay past leads (a `leads.events` dump, JSON lines) through a changed rules file and print
    /// how assignments would differ, per rep and per pool. Touches no live state.
    Simulate {
        /// The routing rules to try (the reloadable rules file's format).
        #[arg(long)]
        rules: PathBuf,
        /// `leads.events` as JSON lines, e.g. from kcat or kafka-console-consumer.
        #[arg(long)]
        from_events: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a rep's dashboard magic link (signed with `acks.secrets`; send it to the rep).
    RepLink {
        rep: String,
        /// How long the link (and the sign-in it gives) stays valid.
        #[arg(long, default_value_t = 30)]
        days: u64,
    },
    /// The topic catalogue.
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Create the catalogue's topics on the configured broker (idempotent).
    Create,
    /// Print the catalogue.
    List,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo, bench and evaluations print their own story; logs would drown it unless asked
    // for with RUST_LOG.
    let quiet = matches!(
        cli.command,
        Some(
            Command::Demo { .. }
                | Command::Bench { .. }
                | Command::BenchRouting { .. }
                | Command::Eval { .. }
                | Command::Simulate { .. }
                | Command::RepLink { .. }
        )
    );
    telemetry::init_logging(cli.log_json, if quiet { "error" } else { "info,rdkafka=warn" });
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("speedlead: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let overrides = Overrides {
        kafka: cli.brokers.map(|brokers| KafkaOverrides { brokers }),
        redis: cli.redis.map(|url| RedisOverrides { url }),
    };
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&settings).await,
        Command::Demo { leads, interval_ms, seed } => {
            let options = DemoOptions { leads, interval: Duration::from_millis(interval_ms), seed };
            run_demo(&settings, options).await
        }
        Command::Bench { rate, duration_secs, warmup_secs, seed, http, enrich, rep_side } => {
            let options = BenchOptions {
                rate,
                duration: Duration::from_secs(duration_secs),
                warmup: Duration::from_secs(warmup_secs),
                seed,
                via_http: http.then(|| HttpTarget {
                    base: String::new(),
                    source: "bench".into(),
                    secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into(),
                }),
                enrich,
                rep_side: rep_side.then(Default::default),
            };
            run_bench(settings, options).await
        }
        Command::BenchRouting { runs, leads, deadlines, seed, json, in_process } => {
            // `--redis` (or a configured URL) adds the decision latency against Redis.
            let redis = (!settings.redis.url.trim().is_empty()).then(|| settings.redis.clone());
            let options = speedlead::bench_routing::RoutingBenchOptions {
                runs,
                leads,
                deadlines,
                seed,
                redis,
                ..Default::default()
            };
            speedlead::bench_routing::run(options, json, in_process).await
        }
        Command::Eval { command } => speedlead::eval::cli::run(&settings, command).await,
        Command::Simulate { rules, from_events, json } => {
            let options = speedlead::simulate::Options { rules, events: from_events };
            let report = speedlead::simulate::run(&options, settings.acks.signer()).await?;
            let mut out = std::io::stdout().lock();
            if json {
                speedlead::simulate::print_json(&report, &mut out)?;
            } else {
                speedlead::simulate::print(&report, &mut out)?;
            }
            Ok(())
        }
        Command::RepLink { rep, days } => {
            let routing = settings.routing()?;
            if routing.domain_of_rep(&rep).is_none() {
                return Err(speedlead::Error::Config(format!("no rep '{rep}' in the routing configuration")));
            }
            let exp = chrono::Utc::now().timestamp() + (days * 86_400) as i64;
            let token = speedlead::dashboard::rep_token::issue(&settings.acks.signer(), &rep, exp);
            let base = settings.acks.public_base_url.trim_end_matches('/');
            println!("{base}/v1/reps/{rep}/dashboard?t={token}");
            Ok(())
        }
        Command::Topics { command: TopicsCommand::List } => {
            print_catalogue(&settings);
            Ok(())
        }
        Command::Topics { command: TopicsCommand::Create } => {
            if settings.embedded_kafka() {
                return Err(Error::Config(
                    "no broker configured: set kafka.brokers, SPEEDLEAD_KAFKA__BROKERS or --brokers".into(),
                ));
            }
            let names = TopicNames::new(&settings.kafka.topic_prefix);
            for (name, status) in create_topics(&settings.kafka, &names).await? {
                let what = if status == TopicStatus::Created { "created" } else { "already exists" };
                println!("{name}: {what}");
            }
            Ok(())
        }
    }
}

async fn serve(settings: &Settings) -> Result<(), Error> {
    let metrics = telemetry::prometheus();
    let infra = Infra::connect(settings).await?;
    tracing::info!("starting on {}", infra.describe(settings));
    let mut pipeline =
        Pipeline::start(settings, &infra.brokers, infra.store.clone(), StageWrappers::default()).await?;
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(&settings.http.listen).await?;
    let sources: Vec<&str> = settings.sources.iter().map(|s| s.name.as_str()).collect();
    tracing::info!(listen = %settings.http.listen, ?sources, "http listening (/v1/capture/{{source}}, /v1/acks/{{token}}, /v1/reps/{{rep}}[/dashboard|/leads|/events|/status], /v1/status, /metrics, /healthz, /readyz)");
    if settings.acks.uses_development_secret() {
        tracing::warn!("acks.secrets holds the public development secret: anyone can forge accept links; set SPEEDLEAD_ACKS__SECRETS");
    }
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let capture = http::capture::CaptureState::new(settings, &infra.brokers, infra.store.clone())?;
    let acks = http::acks::AcksState::new(settings, infra.store.clone(), capture.publisher.clone());
    let reps = http::reps::RepsState::new(settings, infra.store.clone(), pipeline.routing());
    let dashboard = http::dashboard::DashboardState::new(
        settings,
        infra.store.clone(),
        pipeline.routing(),
        pipeline.feed(),
    );
    let health = capture.health.clone();
    let app = http::router(HttpState { metrics, ready: ready.clone() })
        .merge(http::capture::routes(capture))
        .merge(http::acks::routes(acks))
        .merge(http::reps::routes(reps))
        .merge(http::dashboard::routes(dashboard))
        .merge(http::status::routes(health, pipeline.enricher()))
        .merge(http::sms_inbound::routes(settings, infra.store.clone()))
        .merge(http::webhooks_admin::routes(pipeline.webhooks_admin(settings)));
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .await
    });
    pipeline.wait_ready(Duration::from_secs(60)).await?;
    ready.store(true, Ordering::Release);
    tracing::info!("ready");

    let failed = tokio::select! {
        _ = shutdown_signal() => None,
        reason = pipeline.failed() => Some(reason),
    };
    ready.store(false, Ordering::Release);
    tracing::info!("shutting down: finishing in-flight leads and committing offsets");
    pipeline.shutdown().await;
    let _ = stop_http.send(());
    let _ = server.await;
    drop(infra);
    if let Some(reason) = failed {
        return Err(Error::Actor(format!("{reason}; restart to resume from committed offsets")));
    }
    Ok(())
}

async fn run_demo(settings: &Settings, options: DemoOptions) -> Result<(), Error> {
    let infra = Infra::connect(settings).await?;
    let routing = settings.routing()?;
    let domains: Vec<String> = routing
        .config()
        .domains
        .iter()
        .map(|d| {
            format!("{} ({})", d.name, d.reps.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", "))
        })
        .collect();
    println!("speedlead demo on {}", infra.describe(settings));
    println!("routing domains: {}", domains.join("; "));
    let pipeline =
        Pipeline::start(settings, &infra.brokers, infra.store.clone(), StageWrappers::default()).await?;
    print!("waiting for the stage consumers to join their groups… ");
    pipeline.wait_ready(Duration::from_secs(60)).await?;
    println!("ready");
    let report = demo::run(settings, &infra.brokers, options).await;
    pipeline.shutdown().await;
    drop(infra);
    let report = report?;
    if report.lost() > 0 {
        return Err(Error::Actor(format!(
            "{} leads were neither assigned nor dead-lettered in time",
            report.lost()
        )));
    }
    Ok(())
}

async fn run_bench(mut settings: Settings, mut options: BenchOptions) -> Result<(), Error> {
    // Fresh topics and groups per run, so earlier data never skews the figures.
    let run = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    settings.kafka.topic_prefix = format!("{run}.");
    settings.kafka.group_prefix = run.clone();
    settings.redis.namespace = run;
    if options.enrich {
        settings.enrichment.providers = vec![bench::serve_enrichment_api().await?];
    }
    if let Some(arrivals) = &options.rep_side {
        speedlead::bench_rep::notify_on_loopback_slack(&mut settings, arrivals.clone()).await?;
        // Every sample lead a new person: a returning one merges into their first lead (notified
        // then, under that lead's id), which the rep side could not match to its send.
        settings.dedupe.enabled = false;
    }
    let stage_work = bench::install_stage_work_recorder()?;
    if !settings.embedded_kafka() {
        create_topics(&settings.kafka, &TopicNames::new(&settings.kafka.topic_prefix)).await?;
    }
    let infra = Infra::connect(&settings).await?;
    match &infra.embedded {
        Some(embedded) => embedded.create_topic(&bench::ping_topic(&settings), 1)?,
        None => {
            speedlead::kafka::admin::create_topic(&settings.kafka, &bench::ping_topic(&settings), 1).await?;
        }
    }
    println!(
        "speedlead bench on {}: {} leads/s for {:?}",
        infra.describe(&settings),
        options.rate,
        options.duration
    );
    let pipeline =
        Pipeline::start(&settings, &infra.brokers, infra.store.clone(), StageWrappers::default()).await?;
    if let Some(target) = options.via_http.as_mut() {
        target.base = serve_bench_gateway(&mut settings, &infra, target).await?;
    }
    pipeline.wait_ready(Duration::from_secs(60)).await?;
    if let Some(arrivals) = &options.rep_side {
        let (feed, routing) = (pipeline.feed(), pipeline.routing());
        speedlead::bench_rep::watch_every_rep(
            &settings,
            feed,
            infra.store.clone(),
            routing,
            arrivals.clone(),
        )
        .await?;
    }
    // Drop the warm-up's samples of the stages' own work, as the end-to-end figures do.
    let (warmup, snapshots) = (options.warmup, stage_work.clone());
    tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        snapshots.snapshot();
    });
    let report = bench::run(&settings, &infra.brokers, options).await;
    pipeline.shutdown().await;
    drop(infra);
    let mut report = report?;
    report.stage_work = bench::stage_work(stage_work.snapshot());
    report.print();
    Ok(())
}

/// Starts the capture gateway in-process with the bench's source; returns its base URL.
async fn serve_bench_gateway(
    settings: &mut Settings,
    infra: &Infra,
    target: &HttpTarget,
) -> Result<String, Error> {
    settings.sources = vec![speedlead::providers::SourceConfig::new(
        target.source.clone(),
        speedlead::providers::ProviderKind::WebForm,
        vec![target.secret.clone()],
    )];
    let state = http::capture::CaptureState::new(settings, &infra.brokers, infra.store.clone())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, http::capture::routes(state)).await });
    Ok(base)
}

fn print_catalogue(settings: &Settings) {
    let names = TopicNames::new(&settings.kafka.topic_prefix);
    println!("{:<22} {:>10} {:>10}  {:<14} key", "topic", "partitions", "retention", "value");
    for topic in Topic::ALL {
        let spec = topic.spec();
        let days = spec.retention_ms / 86_400_000;
        println!(
            "{:<22} {:>10} {:>9}d  {:<14} {}",
            names.name(topic),
            spec.partitions,
            days,
            spec.value_type,
            spec.key.describe()
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
