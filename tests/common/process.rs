//! Runs the real `speedlead` binary as a child process, configured through `SPEEDLEAD_*` env.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use speedlead::config::Settings;

pub struct SpeedleadProcess {
    child: Child,
    pub http: String,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The env that points a child at the same broker, topics, groups and Redis namespace as `settings`.
pub fn env_for(settings: &Settings) -> Vec<(String, String)> {
    vec![
        ("SPEEDLEAD_KAFKA__BROKERS".into(), settings.kafka.brokers.clone()),
        ("SPEEDLEAD_KAFKA__TOPIC_PREFIX".into(), settings.kafka.topic_prefix.clone()),
        ("SPEEDLEAD_KAFKA__GROUP_PREFIX".into(), settings.kafka.group_prefix.clone()),
        ("SPEEDLEAD_REDIS__URL".into(), settings.redis.url.clone()),
        ("SPEEDLEAD_REDIS__NAMESPACE".into(), settings.redis.namespace.clone()),
        ("SPEEDLEAD_DEDUPE__ENABLED".into(), settings.dedupe.enabled.to_string()),
    ]
}

impl SpeedleadProcess {
    /// Starts `speedlead serve` and waits until `/readyz` answers 200.
    pub async fn serve(settings: &Settings, name: &str) -> Self {
        Self::serve_with(settings, name, &[]).await
    }

    /// [`SpeedleadProcess::serve`] with more `SPEEDLEAD_*` settings, e.g. a short SLA.
    pub async fn serve_with(settings: &Settings, name: &str, extra_env: &[(&str, &str)]) -> Self {
        let http = format!("127.0.0.1:{}", free_port());
        let log = std::env::temp_dir().join(format!("{}{name}.log", settings.kafka.topic_prefix));
        let child = Command::new(env!("CARGO_BIN_EXE_speedlead"))
            .arg("serve")
            .envs(env_for(settings))
            .env("SPEEDLEAD_HTTP__LISTEN", &http)
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("speedlead starts");
        let process = SpeedleadProcess { child, http, log };
        process.wait_ready(Duration::from_secs(60)).await;
        process
    }

    async fn wait_ready(&self, timeout: Duration) {
        let url = format!("http://{}/readyz", self.http);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(r) = reqwest::get(&url).await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not ready in {timeout:?}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no drain, no commit, like a crashed node.
    pub fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for the graceful shutdown; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.child.wait().unwrap().success()
    }
}

impl Drop for SpeedleadProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
