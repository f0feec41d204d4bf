//! One send queue per channel: hot leads first, then first come first served; at most
//! `max_in_flight` sends at once; paced by the channel's rate limit. Each send's result goes back
//! to whoever queued it (the notice's own task), which decides about retries and fallbacks.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::rate::TokenBucket;
use super::settings::RateLimit;
use super::{Channel, Notice, SendError, Sent};

/// One send to make.
pub struct SendJob {
    pub notice: Arc<Notice>,
    pub to: String,
    pub reply: oneshot::Sender<Result<Sent, SendError>>,
}

/// Ordered for the heap: hot before normal, then older (lower `seq`) before newer.
struct Queued {
    hot: bool,
    seq: Reverse<u64>,
    job: SendJob,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.hot, self.seq) == (other.hot, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.hot, self.seq).cmp(&(other.hot, other.seq))
    }
}

/// The sending end of a channel's queue.
#[derive(Clone)]
pub struct ChannelQueue {
    jobs: mpsc::UnboundedSender<SendJob>,
}

impl ChannelQueue {
    /// Starts the channel's worker; it stops when every `ChannelQueue` clone is dropped.
    pub fn start(channel: Arc<dyn Channel>, limit: Option<RateLimit>, max_in_flight: usize) -> Self {
        let (jobs, incoming) = mpsc::unbounded_channel();
        tokio::spawn(work(channel, incoming, limit.map(TokenBucket::new), max_in_flight.max(1)));
        ChannelQueue { jobs }
    }

    /// Sends `job` when its turn comes; the result arrives on its `reply`.
    pub fn push(&self, job: SendJob) -> Result<(), SendJob> {
        self.jobs.send(job).map_err(|e| e.0)
    }
}

async fn work(
    channel: Arc<dyn Channel>,
    mut incoming: mpsc::UnboundedReceiver<SendJob>,
    mut bucket: Option<TokenBucket>,
    max_in_flight: usize,
) {
    let label = channel.kind().as_str();
    let in_flight = Arc::new(Semaphore::new(max_in_flight));
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    let mut take = |heap: &mut BinaryHeap<Queued>, job: SendJob| {
        seq += 1;
        heap.push(Queued { hot: job.notice.hot, seq: Reverse(seq), job });
    };
    loop {
        if heap.is_empty() {
            match incoming.recv().await {
                Some(job) => take(&mut heap, job),
                None => return,
            }
        }
        // Wait for our turn (rate, then a free slot) before picking, so a hot lead that arrives
        // meanwhile is the one picked.
        if let Some(bucket) = bucket.as_mut() {
            bucket.take().await;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        while let Ok(job) = incoming.try_recv() {
            take(&mut heap, job);
        }
        metrics::gauge!("speedlead_notification_queue_depth", "channel" => label).set(heap.len() as f64);
        let Some(Queued { job, .. }) = heap.pop() else { continue };
        let channel = channel.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = channel.send(&job.notice, &job.to).await;
            metrics::histogram!("speedlead_notification_send_seconds", "channel" => label)
                .record(started.elapsed().as_secs_f64());
            drop(permit);
            let _ = job.reply.send(result);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::notify::ChannelKind;

    /// Records the order of sends; each send takes 10 ms.
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl Channel for Recorder {
        fn kind(&self) -> ChannelKind {
            ChannelKind::Slack
        }
        async fn send(&self, notice: &Notice, _to: &str) -> Result<Sent, SendError> {
            self.0.lock().unwrap().push(notice.id.clone());
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(Sent::default())
        }
    }

    fn notice(id: &str, hot: bool) -> Arc<Notice> {
        Arc::new(Notice { id: id.into(), hot, ..crate::notify::hub::tests::notice("ana") })
    }

    #[tokio::test(start_paused = true)]
    async fn hot_leads_jump_the_queue_and_the_rate_limit_holds() {
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let limit = RateLimit { per_second: 10.0, burst: 1 };
        let queue = ChannelQueue::start(recorder.clone(), Some(limit), 1);
        let mut replies = Vec::new();
        for (id, hot) in [("cold-1", false), ("cold-2", false), ("cold-3", false), ("hot", true)] {
            let (reply, done) = oneshot::channel();
            assert!(queue.push(SendJob { notice: notice(id, hot), to: "#leads".into(), reply }).is_ok());
            replies.push(done);
        }
        let start = tokio::time::Instant::now();
        for done in replies {
            done.await.unwrap().unwrap();
        }
        let order = recorder.0.lock().unwrap().clone();
        assert_eq!(order, ["hot", "cold-1", "cold-2", "cold-3"], "the hot lead, queued last, goes first");
        assert!(start.elapsed() >= Duration::from_millis(300), "4 sends at 10/s take 0.3 s or more");
    }
}
