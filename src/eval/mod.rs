pub mod dedupe;
pub mod scoring;
