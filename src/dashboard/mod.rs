//! The rep's live dashboard: the feed of each rep's lead events ([`feed`]), what each lead event tells
//! which rep ([`feed_event`]), and the per-rep access tokens of the magic links
//! ([`rep_token`]). The HTTP side is `http/dashboard.rs`.

pub mod feed;
pub mod feed_event;
pub mod rep_token;
