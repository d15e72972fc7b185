//! Ascolto: listens to community comments, flags complaints and unanswered questions, and
//! drafts replies for moderators. This crate is everything around the pure core
//! (`ascolto-core`, re-exported below under the same module names): the store, the tracker
//! that owns each comment's state, time, the channel adapters and the command line's stages.
//!
//! # Layout
//!
//! The data flow is channels → comment → triage → tracker → alerts and replies:
//!
//! - From the core (re-exported): [`comment`], [`text`], [`rules`], [`triage`], [`draft`],
//!   [`explain`], [`answer`], [`lifecycle`], [`eval`]. Pure: no network, no database.
//! - Channels, where comments come from: [`discord`] (the live bot, one file per feature),
//!   [`meta`] (Facebook Page and Instagram comments and direct messages, by webhook through
//!   the [`http`] server), [`telegram`] (long polling or webhook, and the moderators' room in a
//!   Telegram chat) and [`replay`] (a JSONL file through the same pipeline: the demo, backfills,
//!   drills). A new platform is one more folder beside `discord`, building
//!   [`comment::Comment`]s and posting what the tracker decided.
//! - [`tracker`]: the only writer of comment state, checkpoints, escalations, digest claims
//!   and the outbox; it decides, persists, then tells the adapter what to show. A comment
//!   that fails (an error, or a panic caught at its boundary) is recorded in [`failures`] and
//!   tried again at the next start, so the rest move on.
//! - [`outbox`]: every platform write queued in the database and delivered by a worker with
//!   retries, once, in order per channel; a platform delivers through its `Deliver`.
//! - [`store`]: SQLite through sqlx: queries and row mapping, no decisions.
//! - What moderators see: [`alert`] (one view of a flagged comment for chat and terminal),
//!   [`sla`] (response targets and business hours), [`escalation`] (missed targets),
//!   [`digest`] (the daily summary and its chart), [`announce`] (escalations and the digest
//!   queued for every moderators' room).
//! - Wiring: [`config`] (the one typed `Settings`), [`app`] (builds the tracker, targets and
//!   escalation policy once, for `main`, the demo and every test), [`clock`] (real or
//!   hand-moved time), [`telemetry`] (logging), [`metrics`] (the counters, latency histogram
//!   and channel connections that `GET /metrics` and `GET /readyz` show).

pub use ascolto_core::{answer, comment, draft, eval, explain, lifecycle, rules, text, triage};

pub mod alert;
pub mod announce;
pub mod app;
pub mod clock;
pub mod config;
pub mod digest;
pub mod discord;
pub mod duty;
pub mod escalation;
pub mod failures;
pub mod http;
pub mod meta;
pub mod metrics;
pub mod outbox;
pub mod replay;
pub mod sla;
pub mod store;
pub mod telegram;
pub mod telemetry;
pub mod tracker;
