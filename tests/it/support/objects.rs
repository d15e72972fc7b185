//! Builders for the JSON objects Discord sends: users, members, roles, channels, the guild,
//! messages and the application.
//!
//! Shapes follow Discord's documentation and its OpenAPI response schemas, with every field
//! serenity 0.12.5 requires: a gateway payload missing one is silently turned into
//! `Event::Unknown` and dropped. Ids and permission bit sets are strings, as Discord sends them.
//!
//! REST and gateway shapes differ where Discord's do: messages fetched over REST carry no
//! `guild_id` or `member`; channels inside GUILD_CREATE carry no `guild_id`.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};

use super::world::{
    ChannelKind, ChannelSpec, GuildSpec, MemberSpec, OverwriteTarget, RoleSpec, World,
};

/// When everybody joined the guild (fixed, so payloads are reproducible).
pub fn joined_at() -> String {
    timestamp(Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap())
}

/// Discord's timestamp format: RFC 3339 with microseconds and `+00:00`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

pub fn id(value: u64) -> Value {
    Value::String(value.to_string())
}

fn ids(values: &[u64]) -> Value {
    values.iter().copied().map(id).collect()
}

/// A user object (the public part).
pub fn user(member: &MemberSpec) -> Value {
    let mut user = json!({
        "id": id(member.user_id),
        "username": member.name,
        "discriminator": "0",
        "global_name": member.name,
        "avatar": null,
        "public_flags": 0,
        "flags": 0,
        "banner": null,
        "accent_color": null,
        "avatar_decoration_data": null,
        "collectibles": null,
        "primary_guild": null,
    });
    if member.bot {
        // Discord only sends `bot` for bot accounts.
        user["bot"] = Value::Bool(true);
    }
    user
}

/// `GET /users/@me` for the bot: the user object plus the private fields.
pub fn current_user(world: &World) -> Value {
    let me = world
        .member(world.bot.user_id)
        .expect("the bot is a member");
    let mut user = user(me);
    let extra = json!({
        "mfa_enabled": false,
        "locale": "en-US",
        "verified": true,
        "email": null,
        "premium_type": 0,
    });
    merge(&mut user, extra);
    user
}

/// A guild member. `with_user` is false for the partial member inside message events.
pub fn member(member: &MemberSpec, with_user: bool) -> Value {
    let mut value = json!({
        "nick": null,
        "avatar": null,
        "banner": null,
        "roles": ids(&member.roles),
        "joined_at": joined_at(),
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
        "unusual_dm_activity_until": null,
    });
    if with_user {
        value["user"] = user(member);
    }
    value
}

/// An interaction's `member`: full member plus the invoker's permissions in the channel.
pub fn interaction_member(world: &World, spec: &MemberSpec, channel_id: u64) -> Value {
    let mut value = member(spec, true);
    value["permissions"] = world
        .permissions_in(spec.user_id, channel_id)
        .to_string()
        .into();
    value
}

pub fn role(world: &World, role: &RoleSpec) -> Value {
    let mut tags = json!({});
    if role.managed {
        // Discord tags the bot's managed role with the bot's id.
        tags["bot_id"] = id(world.bot.user_id);
    }
    json!({
        "id": id(role.id),
        "name": role.name,
        "color": 0,
        // serenity 0.12.5 requires `colors` (Discord's newer gradient colours).
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "icon": null,
        "unicode_emoji": null,
        "position": role.position,
        "permissions": role.permissions.to_string(),
        "managed": role.managed,
        "mentionable": false,
        "flags": 0,
        "tags": tags,
    })
}

/// A guild text channel or thread. `with_guild_id` is false inside GUILD_CREATE `channels`.
pub fn channel(world: &World, channel: &ChannelSpec, with_guild_id: bool) -> Value {
    let mut value = match channel.kind {
        ChannelKind::Text => json!({
            "id": id(channel.id),
            "type": 0,
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": channel.overwrites.iter().map(|o| {
                let (target, kind) = match o.target {
                    OverwriteTarget::Role(r) => (r, 0),
                    OverwriteTarget::Member(m) => (m, 1),
                };
                json!({
                    "id": id(target),
                    "type": kind,
                    "allow": o.allow.to_string(),
                    "deny": o.deny.to_string(),
                })
            }).collect::<Vec<_>>(),
            "parent_id": null,
            "topic": null,
            "nsfw": false,
            "last_message_id": null,
            "last_pin_timestamp": null,
            "rate_limit_per_user": 0,
            "flags": 0,
        }),
        ChannelKind::PublicThread => json!({
            "id": id(channel.id),
            "type": 11,
            "name": channel.name,
            "parent_id": channel.parent_id.map(id),
            "owner_id": id(world.guild(channel.guild_id).unwrap_or(&world.guild).owner_id),
            "last_message_id": null,
            "last_pin_timestamp": null,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": false,
                "auto_archive_duration": 1440,
                "archive_timestamp": joined_at(),
                "locked": false,
                "create_timestamp": joined_at(),
            },
        }),
    };
    // Threads always carry their guild id (also in GUILD_CREATE's `threads`).
    if with_guild_id || channel.kind == ChannelKind::PublicThread {
        value["guild_id"] = id(channel.guild_id);
    }
    value
}

/// A DM channel with one recipient.
pub fn dm_channel(channel_id: u64, last_message_id: Option<u64>, recipient: &MemberSpec) -> Value {
    json!({
        "id": id(channel_id),
        "type": 1,
        "last_message_id": last_message_id.map(id),
        "last_pin_timestamp": null,
        "flags": 0,
        "recipients": [user(recipient)],
    })
}

/// A guild as `GET /guilds/{id}` returns it.
pub fn guild(world: &World, guild: &GuildSpec) -> Value {
    json!({
        "id": id(guild.id),
        "name": guild.name,
        "icon": null,
        "icon_hash": null,
        "description": null,
        "home_header": null,
        "splash": null,
        "discovery_splash": null,
        "features": [],
        "banner": null,
        "owner_id": id(guild.owner_id),
        "application_id": null,
        "region": "deprecated",
        "afk_channel_id": null,
        "afk_timeout": 300,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 1,
        "roles": world.roles_of(guild.id).map(|r| role(world, r)).collect::<Vec<_>>(),
        "default_message_notifications": 1,
        "mfa_level": 0,
        "explicit_content_filter": 2,
        "max_presences": null,
        "max_members": 500_000,
        "max_stage_video_channel_users": 50,
        "max_video_channel_users": 25,
        "vanity_url_code": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "rules_channel_id": null,
        "safety_alerts_channel_id": null,
        "public_updates_channel_id": null,
        "premium_progress_bar_enabled": false,
        "nsfw": false,
        "nsfw_level": 0,
        "emojis": [],
        "stickers": [],
        "incidents_data": null,
    })
}

/// A GUILD_CREATE payload: the guild plus the gateway-only fields (members, channels, ...).
pub fn guild_create(world: &World, spec: &GuildSpec) -> Value {
    let mut value = guild(world, spec);
    let (threads, channels): (Vec<&ChannelSpec>, Vec<&ChannelSpec>) = world
        .channels
        .iter()
        .filter(|c| c.guild_id == spec.id)
        .partition(|c| c.kind == ChannelKind::PublicThread);
    let extra = json!({
        "joined_at": joined_at(),
        "large": false,
        "unavailable": false,
        "lazy": true,
        "member_count": world.members.len(),
        "voice_states": [],
        "members": world.members.iter().map(|m| member(m, true)).collect::<Vec<_>>(),
        "channels": channels.iter().map(|c| channel(world, c, false)).collect::<Vec<_>>(),
        "threads": threads.iter().map(|c| channel(world, c, false)).collect::<Vec<_>>(),
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    });
    merge(&mut value, extra);
    value
}

/// `GET /oauth2/applications/@me`. The guild owner owns the application too.
pub fn application(world: &World) -> Value {
    let owner = world
        .member(world.guild.owner_id)
        .expect("the guild owner is a member of the world");
    let bot = world
        .member(world.bot.user_id)
        .expect("the bot is a member");
    json!({
        "id": id(world.bot.application_id),
        "name": world.bot.name,
        "icon": null,
        "description": "",
        "type": null,
        "bot": user(bot),
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "flags": 0,
        "flags_new": "0",
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "owner": user(owner),
        "approximate_guild_count": world.guilds().count(),
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": null,
        "eligible_oauth2_scopes": [],
        "rpc_origins": [],
        "tags": [],
        "integration_types_config": {"0": {}},
    })
}

/// Adds the fields of `extra` (an object) to `target` (an object).
pub fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}
