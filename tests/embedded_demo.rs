//! README command 1: `speedlead demo` with no broker and no Redis runs the whole pipeline on the
//! embedded cluster and shows every lead assigned.

use std::process::Command;

#[test]
fn demo_on_the_embedded_default_assigns_every_lead() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_speedlead"));
    cmd.args(["demo", "--leads", "12", "--interval-ms", "5"]);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SPEEDLEAD_")) {
        cmd.env_remove(key);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("embedded Kafka (in-process, not durable) + in-memory store"), "{stdout}");
    assert!(stdout.contains("13 sent: 12 assigned, 1 dead-lettered, 0 lost"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.contains(" ms after capture")).count(), 12, "{stdout}");
}
