//! The local Grafana/Prometheus stack's files are consistent: `grafana/dashboards/speedlead-pipeline.json`
//! parses, its panel ids are unique and its panels do not overlap, the "Routing, SLA and escalation"
//! row only queries metrics speedlead exports, and `grafana/alerts.yml` holds the alert rules and is
//! loaded by `grafana/prometheus.yml` from where docker-compose mounts it. No broker or Redis needed,
//! and no YAML parser: the YAML files are checked line by line.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use serde_json::Value;

const ROUTING_ROW: &str = "Routing, SLA and escalation";

/// Metrics the routing row may query (histograms by base name; `_bucket`/`_sum`/`_count` are accepted).
const ROUTING_METRICS: &[&str] = &[
    "speedlead_leads_assigned_total",
    "speedlead_leads_escalated_total",
    "speedlead_sla_misses_total",
    "speedlead_sla_deadlines_pending",
    "speedlead_escalation_lateness_seconds",
    "speedlead_time_to_accept_seconds",
    "speedlead_leads_acknowledged_total",
    "speedlead_acks_refused_total",
    "speedlead_acks_total",
    "speedlead_overflow_leads",
    "speedlead_overflow_oldest_wait_seconds",
    "speedlead_leads_queued_total",
    "speedlead_overflow_alerts_total",
    "speedlead_routing_contended_total",
    "speedlead_escalation_failures_total",
    "speedlead_routing_reloads_total",
    "speedlead_rep_status_changes_total",
];

/// Metrics the dashboard's earlier rows already query.
const EXISTING_METRICS: &[&str] = &[
    "speedlead_lead_segment_seconds",
    "speedlead_stage_processing_seconds",
    "speedlead_stage_records_total",
    "speedlead_dlq_records_total",
    "speedlead_actor_restarts_total",
    "speedlead_partitions_assigned",
];

/// PromQL functions, aggregations and keywords that can appear as bare identifiers in an `expr`.
const PROMQL_WORDS: &str = "\
    sum min max avg count stddev stdvar topk bottomk quantile group count_values by without on \
    ignoring group_left group_right and or unless offset bool rate irate increase delta idelta \
    deriv histogram_quantile sum_over_time avg_over_time max_over_time min_over_time \
    count_over_time abs ceil floor round clamp_min clamp_max vector scalar absent time resets \
    changes label_replace label_join inf nan";

const ALERTS: &[(&str, &str)] = &[
    ("SpeedleadOverflowLeadWaiting", "max by (domain, pool) (speedlead_overflow_oldest_wait_seconds) > 600"),
    (
        "SpeedleadEscalationLate",
        "histogram_quantile(0.99, sum by (le) (rate(speedlead_escalation_lateness_seconds_bucket[5m]))) > 1",
    ),
    ("SpeedleadEscalationFailing", "rate(speedlead_escalation_failures_total[5m]) > 0"),
    (
        "SpeedleadRoutingReloadInvalid",
        "increase(speedlead_routing_reloads_total{result=\"invalid\"}[10m]) > 0",
    ),
];

fn repo_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&repo_file("grafana/dashboards/speedlead-pipeline.json"))
        .expect("speedlead-pipeline.json is valid JSON")
}

fn panels(dashboard: &Value) -> &Vec<Value> {
    dashboard["panels"].as_array().expect("dashboard has a panels array")
}

/// The panels of the routing row: those after its row panel, up to the next row.
fn routing_row(dashboard: &Value) -> Vec<&Value> {
    let all = panels(dashboard);
    let start = all
        .iter()
        .position(|p| p["type"] == "row" && p["title"] == ROUTING_ROW)
        .unwrap_or_else(|| panic!("no {ROUTING_ROW:?} row"));
    all[start + 1..].iter().take_while(|p| p["type"] != "row").collect()
}

fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|t| t["expr"].as_str())
        .collect()
}

/// The metric names an expression selects: the identifiers left once label matchers, ranges, strings,
/// grouping clauses and PromQL words are taken out.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' || c == '[' || c == '"' {
            let close = match c {
                '{' => '}',
                '[' => ']',
                _ => '"',
            };
            i += 1;
            while i < chars.len() && chars[i] != close {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '(' && after_grouping {
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            i += 1;
            after_grouping = false;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            after_grouping = matches!(lower.as_str(), "by" | "without" | "on" | "ignoring");
            if !PROMQL_WORDS.split_whitespace().any(|w| w == lower) {
                names.insert(word);
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number, possibly with an exponent or a duration unit (`5m`, `1e3`).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            if !c.is_whitespace() {
                after_grouping = false;
            }
            i += 1;
        }
    }
    names
}

fn base_name(metric: &str) -> &str {
    ["_bucket", "_sum", "_count"].iter().find_map(|s| metric.strip_suffix(s)).unwrap_or(metric)
}

fn known(metric: &str) -> bool {
    let known = |m: &str| ROUTING_METRICS.contains(&m) || EXISTING_METRICS.contains(&m);
    known(metric) || known(base_name(metric))
}

#[test]
fn metric_name_extraction_skips_labels_ranges_and_grouping() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, domain) (rate(speedlead_time_to_accept_seconds_bucket{domain=\"a b\"}[5m]))) > 1e3",
    );
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["speedlead_time_to_accept_seconds_bucket"]);
    assert_eq!(metric_names("sum(rate(speedlead_x_total[1m])) / sum(speedlead_y)").len(), 2);
}

#[test]
fn dashboard_parses_with_unique_ids_and_no_overlapping_panels() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "speedlead-pipeline");
    let all = panels(&dashboard);
    let mut ids = HashSet::new();
    for p in all {
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("panel without a numeric id: {}", p["title"]));
        assert!(ids.insert(id), "duplicate panel id {id}");
    }
    let boxes: Vec<(u64, u64, u64, u64, &Value)> = all
        .iter()
        .map(|p| {
            let g = &p["gridPos"];
            let n = |k: &str| g[k].as_u64().unwrap_or_else(|| panic!("{}: gridPos.{k}", p["title"]));
            let (x, y, w, h) = (n("x"), n("y"), n("w"), n("h"));
            assert!(w > 0 && h > 0 && x + w <= 24, "{}: gridPos out of the 24-column grid", p["title"]);
            (x, y, w, h, &p["title"])
        })
        .collect();
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let overlap = a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3;
            assert!(!overlap, "panels {} and {} overlap", a.4, b.4);
        }
    }
    for p in all.iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], "prometheus", "{}: datasource", p["title"]);
        for t in p["targets"].as_array().expect("targets") {
            assert_eq!(t["datasource"]["uid"], "prometheus", "{}: target datasource", p["title"]);
        }
    }
}

#[test]
fn routing_row_sits_below_the_existing_rows_and_queries_only_known_metrics() {
    let dashboard = dashboard();
    let all = panels(&dashboard);
    let row = all.iter().find(|p| p["type"] == "row" && p["title"] == ROUTING_ROW).expect("routing row");
    let row_y = row["gridPos"]["y"].as_u64().unwrap();
    let panels = routing_row(&dashboard);
    assert!(!panels.is_empty(), "the routing row has no panels");
    for p in &panels {
        assert!(p["gridPos"]["y"].as_u64().unwrap() > row_y, "{} sits above its row", p["title"]);
    }

    let mut used = BTreeSet::new();
    for p in &panels {
        let exprs = exprs(p);
        assert!(!exprs.is_empty(), "{}: no expr", p["title"]);
        for expr in exprs {
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{}: {expr:?} selects no metric", p["title"]);
            for name in names {
                assert!(known(&name), "{}: {expr:?} queries unknown metric {name:?}", p["title"]);
                used.insert(base_name(&name).to_string());
            }
        }
    }
    for metric in ROUTING_METRICS {
        assert!(used.contains(*metric), "no panel in the routing row shows {metric}");
    }
    // Histograms are plotted as quantiles, over their buckets.
    for histogram in ["speedlead_escalation_lateness_seconds", "speedlead_time_to_accept_seconds"] {
        let bucket = format!("{histogram}_bucket");
        assert!(
            panels
                .iter()
                .flat_map(|p| exprs(p))
                .any(|e| e.contains("histogram_quantile") && e.contains(&bucket)),
            "{histogram} is not plotted with histogram_quantile over {bucket}"
        );
    }
    // The oldest-wait panel draws the 600 s alert threshold.
    let wait = panels
        .iter()
        .find(|p| exprs(p).iter().any(|e| e.contains("speedlead_overflow_oldest_wait_seconds")))
        .expect("oldest overflow wait panel");
    let defaults = &wait["fieldConfig"]["defaults"];
    assert_eq!(defaults["custom"]["thresholdsStyle"]["mode"], "line");
    let steps = defaults["thresholds"]["steps"].as_array().expect("threshold steps");
    assert!(steps.iter().any(|s| s["value"].as_f64() == Some(600.0)), "no 600 s threshold step");
}

#[test]
fn every_dashboard_expr_queries_known_metrics() {
    let dashboard = dashboard();
    for p in panels(&dashboard) {
        for expr in exprs(p) {
            for name in metric_names(expr) {
                assert!(known(&name), "{}: {expr:?} queries unknown metric {name:?}", p["title"]);
            }
        }
    }
}

/// One `- alert:` entry of the rule file, as text: from its `- alert:` line to the next one.
fn alert_block<'a>(rules: &'a str, name: &str) -> &'a str {
    let header = format!("- alert: {name}\n");
    let start = rules.find(&header).unwrap_or_else(|| panic!("alerts.yml has no `- alert: {name}`"));
    let rest = &rules[start + header.len()..];
    &rest[..rest.find("- alert:").unwrap_or(rest.len())]
}

#[test]
fn alert_rules_exist_with_severity_and_guidance() {
    let rules = repo_file("grafana/alerts.yml");
    assert!(rules.lines().any(|l| l.trim_end() == "groups:"), "alerts.yml is not a rule file (no groups:)");
    assert!(rules.contains("rules:"), "alerts.yml has no rules:");
    for (name, expr) in ALERTS {
        let block = alert_block(&rules, name);
        let line = block.lines().find_map(|l| l.trim().strip_prefix("expr:")).map(str::trim);
        assert_eq!(line, Some(*expr), "{name}: expr");
        for key in ["severity:", "summary:", "description:"] {
            assert!(block.contains(key), "{name}: no {key}");
        }
        for metric in metric_names(expr) {
            assert!(known(&metric), "alert {name} queries unknown metric {metric:?}");
        }
    }
    assert!(alert_block(&rules, "SpeedleadOverflowLeadWaiting").contains("for: 1m"));
    assert!(alert_block(&rules, "SpeedleadEscalationLate").contains("for: 5m"));
    assert!(alert_block(&rules, "SpeedleadEscalationFailing").contains("for: 5m"));
}

#[test]
fn prometheus_loads_the_rule_file_where_compose_mounts_it() {
    let config = repo_file("grafana/prometheus.yml");
    let rule_files: Vec<&str> = config
        .lines()
        .skip_while(|l| l.trim_end() != "rule_files:")
        .skip(1)
        .map_while(|l| l.trim().strip_prefix("- "))
        .map(|f| f.trim().trim_matches(|c| c == '"' || c == '\''))
        .collect();
    assert!(!rule_files.is_empty(), "prometheus.yml has no rule_files entries");
    let alerts = rule_files
        .iter()
        .find(|f| f.ends_with("/alerts.yml") || **f == "alerts.yml")
        .unwrap_or_else(|| panic!("prometheus.yml rule_files {rule_files:?} does not list alerts.yml"));

    let compose = repo_file("docker-compose.yml");
    let config_in_container = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("- ./grafana/prometheus.yml:"))
        .and_then(|m| m.split(':').next())
        .expect("compose mounts grafana/prometheus.yml");
    let expected = if alerts.starts_with('/') {
        alerts.to_string()
    } else {
        // Relative rule files resolve against the directory of the config file.
        let dir = config_in_container.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{alerts}")
    };
    let mount = format!("- ./grafana/alerts.yml:{expected}");
    assert!(
        compose.lines().any(|l| l.trim() == mount || l.trim() == format!("{mount}:ro")),
        "docker-compose.yml does not mount grafana/alerts.yml at {expected}"
    );
}
