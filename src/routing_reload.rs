//! Routing rules that RevOps can change without a restart: the compiled [`Routing`] lives behind
//! an [`ArcSwap`], and [`watch`] swaps in a new one whenever the rules file changes and validates.
//!
//! A decision loads the current `Arc<Routing>` once and uses it throughout, so it never sees half
//! of an old configuration and half of a new one. An invalid file never replaces a working
//! configuration: the old one keeps routing and every problem is logged, so a typo in the rules
//! file cannot stop lead routing.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use figment::providers::{Format, Toml};
use figment::Figment;
use speedlead_actors::rules::{Routing, RoutingConfig};
use tokio::sync::watch::Receiver;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// The current routing, shared by every stage that routes; cloning shares it.
#[derive(Clone)]
pub struct RoutingHandle(Arc<ArcSwap<Routing>>);

impl RoutingHandle {
    pub fn new(routing: Routing) -> Self {
        RoutingHandle(Arc::new(ArcSwap::from_pointee(routing)))
    }

    /// The routing as of now; hold it for one decision, not across decisions, or reloads are missed.
    pub fn load(&self) -> Arc<Routing> {
        self.0.load_full()
    }

    /// The swap cell itself, for the actors (which know nothing of files).
    pub fn shared(&self) -> speedlead_actors::rules::SharedRouting {
        self.0.clone()
    }

    fn store(&self, routing: Routing) {
        self.0.store(Arc::new(routing));
    }
}

impl std::fmt::Debug for RoutingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RoutingHandle").finish_non_exhaustive()
    }
}

/// Parses a rules file (the contents of the `[routing]` table, at top level) and validates it;
/// the error names every problem found.
pub fn parse(text: &str) -> Result<Routing, String> {
    let config: RoutingConfig = Figment::from(Toml::string(text))
        .extract()
        .map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))?;
    Routing::new(config)
}

/// Reads and validates a rules file; the error names the file and every problem.
pub fn load_file(path: &Path) -> Result<Routing, String> {
    let text = read(path)?;
    parse(&text).map_err(|problems| format!("routing rules file {}: {problems}", path.display()))
}

/// Rules files are small, so reading one inline costs less than handing it to a blocking thread.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("routing rules file {}: cannot read: {e}", path.display()))
}

fn fingerprint(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// Polls `path` every `interval` and swaps in its routing whenever its content changes and is
/// valid, until `shutdown` turns true or its sender is dropped. The content, not the modification
/// time, decides: an editor that rewrites the file within one clock tick, or a deploy that
/// restores an old timestamp, still gets its change picked up.
pub fn watch(
    handle: RoutingHandle,
    path: PathBuf,
    interval: Duration,
    mut shutdown: Receiver<bool>,
) -> JoinHandle<()> {
    // Taken now, not when the task first runs: a change made right after this call is a change.
    let mut last = read(&path).ok().map(|t| fingerprint(&t));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                    continue;
                }
            }
            reload_if_changed(&handle, &path, &mut last);
        }
    })
}

/// One poll. An unreadable file (mid-replace, deleted) counts as invalid once and is retried
/// every poll; an invalid file is reported once, until its content changes again.
fn reload_if_changed(handle: &RoutingHandle, path: &Path, last: &mut Option<u64>) {
    let text = match read(path) {
        Ok(text) => text,
        Err(why) => {
            if last.take().is_some() {
                tracing::error!(file = %path.display(), problems = %why, "routing rules not reloaded; the previous rules stay in force");
                count("invalid");
            }
            return;
        }
    };
    let print = fingerprint(&text);
    if *last == Some(print) {
        return;
    }
    *last = Some(print);
    match parse(&text) {
        Ok(routing) => {
            let rules = routing.config().rules.len();
            let domains = routing.config().domains.len();
            handle.store(routing);
            tracing::info!(file = %path.display(), domains, rules, "routing rules reloaded");
            count("ok");
        }
        Err(problems) => {
            tracing::error!(file = %path.display(), %problems, "routing rules not reloaded; the previous rules stay in force");
            count("invalid");
        }
    }
}

fn count(result: &'static str) {
    metrics::counter!("speedlead_routing_reloads_total", "result" => result).increment(1);
}

#[cfg(test)]
// figment::Jail's closures return figment's (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use speedlead_topics::Contact;

    use super::*;
    use crate::config::{Overrides, Settings};

    const DEFAULTS: &str = include_str!("../config/default.toml");

    const RULES: &str = r#"
default_domain = "na"
[[domains]]
name = "na"
countries = ["US"]
reps = [{ id = "ana" }]
[[domains]]
name = "emea"
countries = ["DE"]
reps = [{ id = "dora" }]
"#;

    /// The configuration example in docs/routing.md is a real, valid one that routes as it says.
    #[test]
    fn the_documented_example_loads_and_routes() {
        let doc = include_str!("../docs/routing.md");
        let start = doc.find("```toml\n").expect("docs/routing.md has a toml example") + "```toml\n".len();
        let example = &doc[start..start + doc[start..].find("```").unwrap()];
        let config: speedlead_actors::rules::RoutingConfig =
            Figment::from(Toml::string(example)).extract_inner("routing").expect("the example parses");
        let routing = Routing::new(config).unwrap_or_else(|e| panic!("the example is invalid: {e}"));
        let na = routing.domain("na").unwrap();
        assert_eq!(na.default_pool().name, "sales");
        assert_eq!(na.pool("sales").unwrap().backup.as_deref(), Some("closers"));
        let mut lead: speedlead_topics::QualifiedLead = serde_json::from_value(serde_json::json!({
            "lead_id": uuid::Uuid::nil(), "lead_key": "k", "routing_domain": "na", "source": "web",
            "event_id": "e", "contact": {"country": "US"}, "attribution": {"region": "CA"},
            "signals": {"language": "es"}
        }))
        .unwrap();
        let route = routing.route(&lead).unwrap();
        assert_eq!((route.rule, route.pool.name.as_str()), (Some("west-coast-spanish"), "sales"));
        assert_eq!(route.required_skills, ["language:es"]);
        lead.signals.clear();
        assert_eq!(routing.route(&lead).unwrap().rule, None, "no rule: the default pool");
        assert_eq!(routing.route(&lead).unwrap().sla, std::time::Duration::from_secs(300));
    }

    /// A unique file per test, written by rename so the watcher never reads it half-written.
    struct TempRules(PathBuf);

    impl TempRules {
        fn new(text: &str) -> Self {
            let name = format!("speedlead-routing-{}-{}.toml", std::process::id(), uuid::Uuid::new_v4());
            let file = TempRules(std::env::temp_dir().join(name));
            file.write(text);
            file
        }

        fn write(&self, text: &str) {
            let tmp = self.0.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, &self.0).unwrap();
        }
    }

    impl Drop for TempRules {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn domain_of(handle: &RoutingHandle, country: &str) -> String {
        let contact = Contact { country: Some(country.into()), ..Default::default() };
        handle.load().domain_for(&contact).to_string()
    }

    async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[test]
    fn a_rules_file_is_the_routing_table_at_top_level_and_problems_name_the_file() {
        let file = TempRules::new(RULES);
        assert_eq!(load_file(&file.0).unwrap().reps("emea").unwrap(), ["dora".to_string()]);
        file.write(&RULES.replace("\"na\"\n[[", "\"mars\"\n[["));
        let err = load_file(&file.0).unwrap_err();
        assert!(
            err.contains(&file.0.display().to_string()) && err.contains("routing.default_domain: 'mars'"),
            "{err}"
        );
        let err = parse("default_domain = \"na\"\ncolour = \"red\"\n").unwrap_err();
        assert!(err.contains("colour"), "{err}");
        assert!(load_file(Path::new("/nonexistent/rules.toml")).unwrap_err().contains("cannot read"));
    }

    /// Current-thread, so the watcher task reports to this thread's recorder.
    #[tokio::test(flavor = "current_thread")]
    async fn a_valid_change_swaps_in_and_an_invalid_one_keeps_the_old_routing() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _guard = metrics::set_default_local_recorder(&recorder);
        // A snapshot drains the counters it reports, so they are added up here.
        let totals = std::cell::RefCell::new(std::collections::HashMap::<String, u64>::new());
        let counted = |result: &str| {
            for (key, .., value) in snapshotter.snapshot().into_vec() {
                if let (Some(label), DebugValue::Counter(n)) =
                    (key.key().labels().find(|l| l.key() == "result"), value)
                {
                    *totals.borrow_mut().entry(label.value().to_string()).or_default() += n;
                }
            }
            totals.borrow().get(result).copied().unwrap_or(0)
        };
        let file = TempRules::new(RULES);
        let handle = RoutingHandle::new(load_file(&file.0).unwrap());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = watch(handle.clone(), file.0.clone(), Duration::from_millis(5), shutdown);
        let before = handle.load();
        assert_eq!(domain_of(&handle, "FR"), "na");

        file.write(&RULES.replace("[\"DE\"]", "[\"DE\", \"FR\"]"));
        eventually("the valid change", || domain_of(&handle, "FR") == "emea").await;
        assert_eq!(counted("ok"), 1);
        assert_eq!(before.domain_for(&Contact { country: Some("FR".into()), ..Default::default() }), "na");

        file.write(&RULES.replace("reps = [{ id = \"dora\" }]", "reps = []"));
        eventually("the invalid change", || counted("invalid") == 1).await;
        assert_eq!(domain_of(&handle, "FR"), "emea", "the previous rules stay in force");
        assert_eq!(handle.load().reps("emea").unwrap(), ["dora".to_string()]);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!((counted("ok"), counted("invalid")), (1, 1), "an unchanged file is not reloaded");

        file.write(RULES);
        eventually("the fix", || domain_of(&handle, "FR") == "na").await;
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), task).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn the_watcher_stops_when_its_shutdown_sender_is_dropped() {
        let file = TempRules::new(RULES);
        let handle = RoutingHandle::new(load_file(&file.0).unwrap());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = watch(handle, file.0.clone(), Duration::from_millis(5), shutdown);
        drop(stop);
        tokio::time::timeout(Duration::from_secs(1), task).await.unwrap().unwrap();
    }

    fn lead(routing_domain: &str, grade: &str) -> speedlead_topics::QualifiedLead {
        serde_json::from_value(serde_json::json!({
            "lead_id": uuid::Uuid::nil(), "lead_key": "k", "routing_domain": routing_domain,
            "source": "website", "event_id": "e", "contact": {"country": "US"},
            "score": {"score": 90, "grade": grade, "rules": 90, "contributions": {}}
        }))
        .unwrap()
    }

    #[test]
    fn default_routing_has_no_rules_and_routes_round_robin_over_all_reps() {
        let s = Settings::defaults();
        assert!(s.routing.rules.is_empty() && s.routing.regions.is_empty());
        assert!(s.routing.domains.iter().all(|d| d.pools.is_empty() && d.default_pool.is_none()));
        assert_eq!((s.routing_rules.file.as_deref(), s.routing_rules.reload_interval_ms), (None, 1000));
        let routing = s.routing_handle().unwrap().load();
        let route = routing.route(&lead("na", "A")).unwrap();
        assert_eq!((route.pool.name.as_str(), route.rule), ("all", None));
        assert_eq!((route.pool.reps.len(), route.sla.as_secs()), (3, 300));
        assert_eq!(routing.domain_for_lead(&lead("na", "A")), "na");
    }

    /// The examples in the `[routing]` section, uncommented (lines that are TOML once `#` is
    /// gone), must load: documentation that does not validate is worse than none.
    #[test]
    fn the_commented_routing_examples_are_valid_together() {
        let (start, end) = (DEFAULTS.find("[routing]\n").unwrap(), DEFAULTS.find("[enrichment]\n").unwrap());
        let is_toml = |t: &str| {
            t.starts_with(['[', '{', ']'])
                || t.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
        };
        let routing: Vec<String> = (DEFAULTS[start..end].lines())
            .map(|line| match line.trim_start().strip_prefix('#').map(str::trim_start) {
                Some(t) if is_toml(t) => t.to_string(),
                _ => line.to_string(),
            })
            .collect();
        let text = format!("{}{}\n{}", &DEFAULTS[..start], routing.join("\n"), &DEFAULTS[end..]);
        let s: Settings = Figment::from(Toml::string(&text)).extract().unwrap();
        let routing = s.routing().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(routing.config().rules.len(), 2);
        assert_eq!(routing.rep("hana").unwrap().manager.as_deref(), Some("cleo"));
        assert!(routing.domain("emea").unwrap().pool("grade:A").is_some());
        let hot = routing.route(&lead("na", "A")).unwrap();
        assert_eq!((hot.rule, hot.pool.name.as_str(), hot.sla.as_secs()), (Some("hot-inbound"), "hot", 60));
        let warm = routing.route(&lead("na", "B")).unwrap();
        assert_eq!((warm.rule, warm.pool.name.as_str(), warm.sla.as_secs()), (None, "team", 300));
    }

    #[test]
    fn a_routing_rules_file_replaces_the_routing_section_and_bad_ones_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "rules.toml",
                "default_domain = \"latam\"\n[[domains]]\nname = \"latam\"\nreps = [{ id = \"lu\" }]\n",
            )?;
            jail.create_file(
                "speedlead.toml",
                "[routing_rules]\nfile = \"rules.toml\"\nreload_interval_ms = 250\n",
            )?;
            let s = Settings::load(Some(Path::new("speedlead.toml")), &Overrides::default()).unwrap();
            assert_eq!(s.routing_rules.reload_interval(), Duration::from_millis(250));
            assert_eq!(s.routing_handle().unwrap().load().reps("latam").unwrap(), ["lu".to_string()]);
            assert_eq!(s.routing().unwrap().reps("emea").unwrap().len(), 2, "[routing] is still valid");
            jail.create_file("rules.toml", "default_domain = \"mars\"\ndomains = []\n")?;
            let err = Settings::load(Some(Path::new("speedlead.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("rules.toml") && err.contains("routing.default_domain: 'mars'"), "{err}");
            jail.create_file("missing.toml", "[routing_rules]\nfile = \"nowhere.toml\"\n")?;
            let err = Settings::load(Some(Path::new("missing.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("nowhere.toml: cannot read"), "{err}");
            jail.create_file("zero.toml", "[routing_rules]\nreload_interval_ms = 0\n")?;
            let err = Settings::load(Some(Path::new("zero.toml")), &Overrides::default()).unwrap_err();
            assert!(
                err.to_string().contains("routing_rules.reload_interval_ms: must be at least 1"),
                "{err}"
            );
            Ok(())
        });
    }
}
