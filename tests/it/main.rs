//! Ascolto's integration tests: one binary, whole flows through the public interfaces, every
//! flow built through `App::build` (see `support::app`) on the one fixture rule library in
//! `tests/fixtures/rules`.
//!
//! - `pipeline`: triage → tracker → store, moderators' actions, restarts.
//! - `digest`: response targets, escalations and the daily digest from the store.
//! - `discord_bot`: the real bot against the fake Discord in `support`.
//! - `outbox`: platform writes against a failing fake Discord (429, 500, 403, restarts).
//! - `fake_discord`: the fake Discord itself, proven with the real serenity client.
//! - `meta`: Facebook, Instagram and Messenger webhooks in, the Graph client out (fake Graph).
//! - `telegram`: the Telegram channel against the fake Bot API in `support`.
//! - `shipped_library`: the rule library in `rules/` on comments written for these tests.
//! - `cli`: the `ascolto` binary as a user runs it.
//! - `drills`: the binary killed with SIGKILL at random points, then started again.

mod cli;
mod digest;
mod discord_bot;
mod drills;
mod fake_discord;
mod meta;
mod outbox;
mod pipeline;
mod shipped_library;
mod support;
mod telegram;
