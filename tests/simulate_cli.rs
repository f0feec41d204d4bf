//! `speedlead simulate` on the fixture: no broker, no Redis, just the binary, a `leads.events`
//! dump and a changed rules file (Spanish-speaking leads to a `spanish` pool in na).
//!
//! Hand-checked: before, na took its non-owned leads round robin (ana, ben, cleo, ana, ben, cleo),
//! emea likewise (dora, emil, dora, emil), Dora owned the Globex account, and one Spanish lead was
//! queued. With the new rule the five Spanish leads alternate cleo, hana; the other na leads go
//! round robin over ana, ben, cleo, hana; emea keeps its three and the account lead.

use std::path::Path;
use std::process::{Command, Output};

fn simulate(rules: &str, extra: &[&str]) -> Output {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/simulate");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_speedlead"));
    cmd.arg("simulate").arg("--rules").arg(dir.join(rules));
    cmd.arg("--from-events").arg(dir.join("events.jsonl")).args(extra);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SPEEDLEAD_")) {
        cmd.env_remove(key);
    }
    cmd.output().unwrap()
}

#[test]
fn simulate_prints_per_rep_and_pool_counts_and_the_leads_that_moved() {
    let out = simulate("rules.toml", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "simulate failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("12 leads replayed"), "{stdout}");
    assert!(stdout.contains("skipped lines: 2 (1 blank, 1 not JSON, 0 not a lead event)"), "{stdout}");
    let rows = |first: &str| -> Vec<Vec<String>> {
        let lines = stdout.lines().skip_while(|l| !l.starts_with(first)).skip(1);
        lines
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    };
    let expected = [
        ["ana", "2", "1", "-1"],
        ["ben", "2", "1", "-1"],
        ["cleo", "2", "4", "+2"],
        ["dora", "3", "3", "0"],
        ["emil", "2", "1", "-1"],
        ["hana", "0", "2", "+2"],
        ["(queued)", "1", "0", "-1"],
    ];
    assert_eq!(rows("rep "), expected, "{stdout}");
    let pools = [["emea/all", "5", "4", "-1"], ["na/all", "6", "3", "-3"], ["na/spanish", "0", "5", "+5"]];
    assert_eq!(rows("pool "), pools, "{stdout}");
    assert!(stdout.contains("leads whose rep changed: 8 of 12"), "{stdout}");
    // Lead 5: a Spanish speaker in Spain, emea's before, now na's by the new rule.
    assert!(
        stdout.contains("815f3462-79a8-5707-b65e-03ec8c2bb6b4: emil → hana (spanish-speakers, round_robin)"),
        "{stdout}"
    );
    assert!(stdout.contains(": (queued) → cleo (spanish-speakers, round_robin)"), "{stdout}");
}

#[test]
fn simulate_json_has_the_same_counts() {
    let out = simulate("rules.toml", &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["leads_replayed"], 12);
    let hana = report["reps"].as_array().unwrap().iter().find(|r| r["name"] == "hana").unwrap();
    assert_eq!(hana, &serde_json::json!({"name": "hana", "before": 0, "after": 2, "delta": 2}));
    assert_eq!(report["changes"].as_array().unwrap().len(), 8);
}

#[test]
fn simulate_with_an_invalid_rules_file_names_the_problem_and_fails() {
    let out = simulate("events.jsonl", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("routing rules file") && stderr.contains("events.jsonl"), "{stderr}");
}
