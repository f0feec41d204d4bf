//! The rep's live dashboard: the feed of each rep's lead events ([`feed`]), the stage that fills it
//! from `leads.events` ([`feed_stage`]), and the per-rep access tokens of the magic links
//! ([`rep_token`]). The HTTP side is `http/dashboard.rs`.

pub mod feed;
pub mod feed_stage;
pub mod rep_token;
