//! Test support shared by the integration tests.
//!
//! The main piece is [`FakeDiscord`]: a fake Discord (REST + gateway) on 127.0.0.1 that the real
//! serenity/poise client connects to, so the bot's Discord layer is tested end to end without
//! the internet. See `fake_discord.rs` for how a test uses it.
//!
//! Layout: `world` (the guild, channels, roles and members a fake serves), `objects` (Discord's
//! JSON shapes), `state` (messages, interactions, gateway session), `rest` and `gateway` (the two
//! servers), `schema` (request checks against `discord-api/openapi.json`, Discord's own spec).

// Each integration test binary compiles this module and uses a different part of it.
#![allow(dead_code, unused_imports)]

pub mod fake_discord;
mod gateway;
pub mod objects;
mod rest;
pub mod schema;
mod state;
pub mod world;

pub use fake_discord::{
    FakeDiscord, GatewayDown, RecordedFile, RecordedRequest, ResumeRecord, SchemaViolation,
};
pub use world::{ids, perms, ChannelKind, MemberSpec, Overwrite, OverwriteTarget, World};
