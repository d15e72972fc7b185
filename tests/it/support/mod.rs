//! Test support shared by the integration tests.
//!
//! [`app`] builds the real application (`App::build`) on the fixture rule library and a fresh
//! database, or starts `ascolto run` as a process on them (`AscoltoRun`). The other piece is
//! [`FakeDiscord`]: a fake Discord (REST + gateway) on 127.0.0.1 that the real serenity/poise
//! client connects to, so the bot's Discord layer is tested end to end without the internet.
//! See `fake_discord.rs` for how a test uses it.
//!
//! [`fake_telegram`] is the same for the Telegram Bot API: one HTTP server checking every
//! request against `telegram-api/api.json`.
//!
//! Layout: `world` (the guilds, channels, roles, members and gateway shard count a fake
//! serves), `objects` (Discord's JSON shapes), `state` (messages, interactions, a gateway
//! session per shard), `rest` and `gateway` (the two servers), `schema` (request checks
//! against `discord-api/openapi.json`, Discord's own spec).

pub mod app;
pub mod fake_discord;
pub mod fake_graph;
pub mod fake_telegram;
mod gateway;
pub mod objects;
mod rest;
pub mod schema;
mod state;
pub mod world;

pub use fake_discord::{FakeDiscord, RecordedRequest};
pub use state::BotPost;
pub use world::{ids, World};
