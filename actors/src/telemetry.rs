//! Latency of the segments a lead travels, derived from the hop timestamps in its envelope.

use chrono::{DateTime, Utc};

/// Records the time between two hops in `speedlead_lead_segment_seconds{segment}`. Skipped when the
/// start is unknown or the clocks disagree (negative spans would poison the histogram).
pub fn observe_segment(segment: &'static str, from: Option<DateTime<Utc>>, to: DateTime<Utc>) {
    let Some(from) = from else { return };
    if let Ok(span) = (to - from).to_std() {
        metrics::histogram!("speedlead_lead_segment_seconds", "segment" => segment)
            .record(span.as_secs_f64());
    }
}
