pub mod cli;
pub mod dedupe;
pub mod scoring;
