//! `speedlead eval`: runs the lead-intelligence evaluations ([`super::dedupe`], [`super::scoring`])
//! and prints their reports. The figures are in docs/benchmarks.md.

use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::error::Error;
use crate::store;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Person dedupe and account matching over a labelled stream: precision, recall and lookup
    /// latency, on the configured store (Redis with --redis, else in memory).
    Dedupe(DedupeArgs),
    /// Lead scoring: held-out AUC of the rules, the learned model and the blend as outcomes come in.
    Scoring(ScoringArgs),
}

#[derive(Args)]
pub struct DedupeArgs {
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// People to generate (each arrives one to four times).
    #[arg(long, default_value_t = 2000)]
    pub people: usize,
}

#[derive(Args)]
pub struct ScoringArgs {
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Outcomes the model learns from, one by one.
    #[arg(long, default_value_t = 5000)]
    pub train: usize,
    /// Held-out leads scored at each checkpoint.
    #[arg(long, default_value_t = 4000)]
    pub test: usize,
}

pub async fn run(settings: &Settings, command: EvalCommand) -> Result<(), Error> {
    match command {
        EvalCommand::Dedupe(args) => dedupe(settings, args).await,
        EvalCommand::Scoring(args) => {
            let report = super::scoring::evaluate(args.seed, args.train, args.test);
            print!("{report}");
            Ok(())
        }
    }
}

async fn dedupe(settings: &Settings, args: DedupeArgs) -> Result<(), Error> {
    let mut redis = settings.redis.clone();
    let on = if settings.embedded_store() {
        "in-memory store".to_string()
    } else {
        // A namespace of its own per run: the evaluation needs a store without dedupe state, and
        // must not touch a live deployment's. Its keys expire after a day.
        let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
        redis.namespace = format!("{}:eval-{run}", redis.namespace);
        format!("Redis at {} (namespace {})", redis.url, redis.namespace)
    };
    let store = store::connect(&redis).await?;
    println!("dedupe evaluation on {on}");
    let report = super::dedupe::evaluate(store, args.seed, args.people).await;
    print!("{report}");
    Ok(())
}
