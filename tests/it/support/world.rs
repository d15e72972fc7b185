//! The Discord "world" a fake serves: the bot, its guild (or guilds), their channels, roles
//! and members, and how many gateway shards the bot must use.
//!
//! A [`World`] is plain data. [`World::default_test`] is the world most tests want; its ids are
//! fixed constants in [`ids`] so tests can name channels and users directly. Tests that need
//! something else mutate the public fields before [`FakeDiscord::start`].
//!
//! Further guilds ([`World::with_guild`]) are a simplification of Discord: they share the first
//! guild's members and roles (only `@everyone`, whose id is the guild's, is their own), so one
//! set of moderator and staff role ids works everywhere. Their channels name their guild.
//!
//! [`FakeDiscord::start`]: super::FakeDiscord::start

use std::time::Duration;

/// Permission bits used by the worlds (Discord's values; see the permissions docs).
pub mod perms {
    pub const CREATE_INSTANT_INVITE: u64 = 1 << 0;
    pub const ADMINISTRATOR: u64 = 1 << 3;
    pub const ADD_REACTIONS: u64 = 1 << 6;
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    pub const EMBED_LINKS: u64 = 1 << 14;
    pub const ATTACH_FILES: u64 = 1 << 15;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    pub const MENTION_EVERYONE: u64 = 1 << 17;
    pub const USE_EXTERNAL_EMOJIS: u64 = 1 << 18;
    pub const CHANGE_NICKNAME: u64 = 1 << 26;
    pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
    pub const MANAGE_THREADS: u64 = 1 << 34;
    pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    pub const MODERATE_MEMBERS: u64 = 1 << 40;
    /// Every bit Discord currently defines (owners and administrators get all of them).
    pub const ALL: u64 = (1 << 51) - 1;

    /// What `@everyone` may do in a typical community server.
    pub const MEMBER_DEFAULT: u64 = CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | SEND_MESSAGES_IN_THREADS;

    /// What the bot's own (managed) role grants: everything the bot posts with. Serenity checks
    /// these from its cache before sending and refuses locally when one is missing.
    pub const BOT_ROLE: u64 = VIEW_CHANNEL
        | SEND_MESSAGES
        | SEND_MESSAGES_IN_THREADS
        | READ_MESSAGE_HISTORY
        | EMBED_LINKS
        | ATTACH_FILES
        | ADD_REACTIONS
        | USE_EXTERNAL_EMOJIS;
}

/// Fixed ids of [`World::default_test`]. Realistic 19-digit snowflakes (from 2023), so code that
/// derives creation times from ids sees plausible dates.
pub mod ids {
    pub const BOT: u64 = 1_100_000_000_000_000_001;
    /// Deliberately different from [`BOT`]: newer Discord apps share one id for both, so code
    /// mixing them up would work in production by luck; here it fails.
    pub const APPLICATION: u64 = 1_100_000_000_000_000_002;
    pub const GUILD: u64 = 1_100_000_000_000_000_100;
    /// `@everyone` has the guild's id, as on Discord.
    pub const EVERYONE_ROLE: u64 = GUILD;
    pub const GENERAL: u64 = 1_100_000_000_000_000_201;
    pub const SUPPORT: u64 = 1_100_000_000_000_000_202;
    /// The moderators' alert channel: hidden from `@everyone`.
    pub const MODS: u64 = 1_100_000_000_000_000_203;
    /// A public thread under `support`.
    pub const SUPPORT_THREAD: u64 = 1_100_000_000_000_000_204;
    pub const MODERATOR_ROLE: u64 = 1_100_000_000_000_000_301;
    pub const STAFF_ROLE: u64 = 1_100_000_000_000_000_302;
    /// The managed role Discord creates for the bot when it joins.
    pub const BOT_ROLE: u64 = 1_100_000_000_000_000_303;
    /// Moderator, guild (and application) owner.
    pub const MIA: u64 = 1_100_000_000_000_000_401;
    /// Staff member.
    pub const SAM: u64 = 1_100_000_000_000_000_402;
    /// Ordinary member.
    pub const NORA: u64 = 1_100_000_000_000_000_403;
    /// Another ordinary member.
    pub const OTTO: u64 = 1_100_000_000_000_000_404;
}

/// Everything the fake knows about the Discord side.
#[derive(Clone, Debug)]
pub struct World {
    /// The bot token the fake accepts (REST `Authorization: Bot ...` and gateway IDENTIFY).
    pub token: String,
    pub bot: BotSpec,
    pub guild: GuildSpec,
    /// Text channels and threads of the guild.
    pub channels: Vec<ChannelSpec>,
    /// Roles, including `@everyone` (id = guild id) and the bot's managed role.
    pub roles: Vec<RoleSpec>,
    /// Members, including the bot itself.
    pub members: Vec<MemberSpec>,
    /// Guilds beyond [`Self::guild`] (see the module doc).
    pub other_guilds: Vec<GuildSpec>,
    /// The gateway shards the bot must identify with (`GET /gateway/bot`'s `shards`): each
    /// guild's events go to shard [`shard_of`] its id, direct messages to shard 0.
    pub shard_count: u32,
    /// Sent in HELLO. Long by default so serenity never heartbeats mid-test (a reconnect that
    /// overlaps an unacknowledged heartbeat makes serenity re-identify instead of resuming);
    /// shorten it to test heartbeating itself.
    pub heartbeat_interval: Duration,
    /// Whether the fake checks its own output: each dispatch parsed by serenity, each answer
    /// checked against the spec's response schema. On for tests, where they catch a fake
    /// that drifted from Discord; the latency bench turns them off, since they check the
    /// fake, not the bot, and take CPU from the bot beside it. The bot's requests are
    /// checked either way.
    pub self_checks: bool,
}

#[derive(Clone, Debug)]
pub struct BotSpec {
    pub user_id: u64,
    pub name: String,
    pub application_id: u64,
}

#[derive(Clone, Debug)]
pub struct GuildSpec {
    pub id: u64,
    pub name: String,
    /// Guild owner; also the application owner reported by `GET /oauth2/applications/@me`.
    pub owner_id: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// Type 0.
    Text,
    /// Type 11; needs `parent_id`.
    PublicThread,
}

#[derive(Clone, Debug)]
pub struct ChannelSpec {
    pub id: u64,
    /// The guild the channel belongs to.
    pub guild_id: u64,
    pub name: String,
    pub kind: ChannelKind,
    /// Parent text channel, for threads.
    pub parent_id: Option<u64>,
    pub position: u16,
    /// Permission overwrites (threads use their parent's, as on Discord).
    pub overwrites: Vec<Overwrite>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverwriteTarget {
    Role(u64),
    Member(u64),
}

#[derive(Clone, Debug)]
pub struct Overwrite {
    pub target: OverwriteTarget,
    pub allow: u64,
    pub deny: u64,
}

#[derive(Clone, Debug)]
pub struct RoleSpec {
    pub id: u64,
    pub name: String,
    pub permissions: u64,
    pub position: u16,
    /// Managed by an integration (the bot's own role is).
    pub managed: bool,
}

#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub user_id: u64,
    pub name: String,
    /// Role ids, not counting `@everyone` (Discord omits it too).
    pub roles: Vec<u64>,
    pub bot: bool,
}

impl World {
    /// A minimal world: the bot (with its managed role) in a guild with `@everyone` and no
    /// channels or other members. Build on it with the `with_*` methods.
    pub fn new(bot: BotSpec, guild: GuildSpec) -> Self {
        let everyone = RoleSpec {
            id: guild.id,
            name: "@everyone".into(),
            permissions: perms::MEMBER_DEFAULT,
            position: 0,
            managed: false,
        };
        let bot_member = MemberSpec {
            user_id: bot.user_id,
            name: bot.name.clone(),
            roles: Vec::new(),
            bot: true,
        };
        World {
            token: "fake-bot-token".into(),
            bot,
            guild,
            channels: Vec::new(),
            roles: vec![everyone],
            members: vec![bot_member],
            other_guilds: Vec::new(),
            shard_count: 1,
            heartbeat_interval: Duration::from_millis(41_250),
            self_checks: true,
        }
    }

    /// The standard test world (ids in [`ids`]):
    /// - channels `general`, `support` (with the public thread `support-thread`) and `mods`
    ///   (hidden from `@everyone`, visible to Moderator, Staff and the bot: the alert channel);
    /// - roles `Moderator`, `Staff` and the bot's managed role `ascolto`;
    /// - members: the bot, `mia` (Moderator, owner), `sam` (Staff), `nora` and `otto`.
    pub fn default_test() -> Self {
        let bot = BotSpec {
            user_id: ids::BOT,
            name: "ascolto".into(),
            application_id: ids::APPLICATION,
        };
        let guild = GuildSpec {
            id: ids::GUILD,
            name: "Ascolto Test Community".into(),
            owner_id: ids::MIA,
        };
        let hidden = vec![
            Overwrite {
                target: OverwriteTarget::Role(ids::EVERYONE_ROLE),
                allow: 0,
                deny: perms::VIEW_CHANNEL,
            },
            Overwrite {
                target: OverwriteTarget::Role(ids::MODERATOR_ROLE),
                allow: perms::VIEW_CHANNEL,
                deny: 0,
            },
            Overwrite {
                target: OverwriteTarget::Role(ids::STAFF_ROLE),
                allow: perms::VIEW_CHANNEL,
                deny: 0,
            },
            Overwrite {
                target: OverwriteTarget::Role(ids::BOT_ROLE),
                allow: perms::VIEW_CHANNEL | perms::SEND_MESSAGES,
                deny: 0,
            },
        ];
        World::new(bot, guild)
            .with_role(ids::BOT_ROLE, "ascolto", perms::BOT_ROLE, true)
            .with_role(
                ids::MODERATOR_ROLE,
                "Moderator",
                perms::MEMBER_DEFAULT
                    | perms::MANAGE_MESSAGES
                    | perms::MANAGE_THREADS
                    | perms::MODERATE_MEMBERS
                    | perms::MENTION_EVERYONE,
                false,
            )
            .with_role(ids::STAFF_ROLE, "Staff", perms::MEMBER_DEFAULT, false)
            .with_bot_roles(&[ids::BOT_ROLE])
            .with_channel(ids::GENERAL, "general")
            .with_channel(ids::SUPPORT, "support")
            .with_private_channel(ids::MODS, "mods", hidden)
            .with_thread(ids::SUPPORT_THREAD, "support-thread", ids::SUPPORT)
            .with_member(ids::MIA, "mia", &[ids::MODERATOR_ROLE])
            .with_member(ids::SAM, "sam", &[ids::STAFF_ROLE])
            .with_member(ids::NORA, "nora", &[])
            .with_member(ids::OTTO, "otto", &[])
    }

    pub fn with_channel(self, id: u64, name: &str) -> Self {
        self.with_private_channel(id, name, Vec::new())
    }

    /// A text channel with permission overwrites.
    pub fn with_private_channel(self, id: u64, name: &str, overwrites: Vec<Overwrite>) -> Self {
        let guild = self.guild.id;
        self.with_channel_spec(guild, id, name, overwrites)
    }

    /// A further guild the bot is in (owned by the first guild's owner), with its own
    /// `@everyone` role; see the module doc for what it shares.
    pub fn with_guild(mut self, id: u64, name: &str) -> Self {
        assert!(self.guild(id).is_none(), "guild {id} exists already");
        self.other_guilds.push(GuildSpec {
            id,
            name: name.into(),
            owner_id: self.guild.owner_id,
        });
        self.roles.push(RoleSpec {
            id,
            name: "@everyone".into(),
            permissions: perms::MEMBER_DEFAULT,
            position: 0,
            managed: false,
        });
        self
    }

    /// A text channel in a guild added with [`Self::with_guild`] (or the first one).
    pub fn with_channel_in(self, guild: u64, id: u64, name: &str) -> Self {
        assert!(
            self.guild(guild).is_some(),
            "guild {guild} must exist first"
        );
        self.with_channel_spec(guild, id, name, Vec::new())
    }

    /// The bot must use `count` gateway shards.
    pub fn with_shards(mut self, count: u32) -> Self {
        assert!(count >= 1, "a bot uses at least one shard");
        self.shard_count = count;
        self
    }

    fn with_channel_spec(
        mut self,
        guild_id: u64,
        id: u64,
        name: &str,
        overwrites: Vec<Overwrite>,
    ) -> Self {
        let position = self
            .channels
            .iter()
            .filter(|c| c.guild_id == guild_id)
            .count() as u16;
        self.channels.push(ChannelSpec {
            id,
            guild_id,
            name: name.into(),
            kind: ChannelKind::Text,
            parent_id: None,
            position,
            overwrites,
        });
        self
    }

    /// An active public thread under `parent`.
    pub fn with_thread(mut self, id: u64, name: &str, parent: u64) -> Self {
        let guild_id = self
            .channel(parent)
            .unwrap_or_else(|| panic!("thread parent {parent} must exist first"))
            .guild_id;
        self.channels.push(ChannelSpec {
            id,
            guild_id,
            name: name.into(),
            kind: ChannelKind::PublicThread,
            parent_id: Some(parent),
            position: 0,
            overwrites: Vec::new(),
        });
        self
    }

    /// A role; positions follow insertion order (later roles rank higher).
    pub fn with_role(mut self, id: u64, name: &str, permissions: u64, managed: bool) -> Self {
        let position = self.roles.len() as u16;
        self.roles.push(RoleSpec {
            id,
            name: name.into(),
            permissions,
            position,
            managed,
        });
        self
    }

    pub fn with_member(self, user_id: u64, name: &str, roles: &[u64]) -> Self {
        self.with_member_spec(MemberSpec {
            user_id,
            name: name.into(),
            roles: roles.to_vec(),
            bot: false,
        })
    }

    pub fn with_member_spec(mut self, member: MemberSpec) -> Self {
        for role in &member.roles {
            assert!(
                self.role(*role).is_some(),
                "role {role} must exist before members use it"
            );
        }
        self.members.retain(|m| m.user_id != member.user_id);
        self.members.push(member);
        self
    }

    /// Sets the roles of the bot's own member.
    pub fn with_bot_roles(mut self, roles: &[u64]) -> Self {
        let bot = self.bot.user_id;
        if let Some(member) = self.members.iter_mut().find(|m| m.user_id == bot) {
            member.roles = roles.to_vec();
        }
        self
    }

    pub fn member(&self, user_id: u64) -> Option<&MemberSpec> {
        self.members.iter().find(|m| m.user_id == user_id)
    }

    pub fn channel(&self, id: u64) -> Option<&ChannelSpec> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub fn channel_named(&self, name: &str) -> Option<&ChannelSpec> {
        self.channels.iter().find(|c| c.name == name)
    }

    pub fn role(&self, id: u64) -> Option<&RoleSpec> {
        self.roles.iter().find(|r| r.id == id)
    }

    /// Every guild: the first, then the others.
    pub fn guilds(&self) -> impl Iterator<Item = &GuildSpec> {
        std::iter::once(&self.guild).chain(&self.other_guilds)
    }

    pub fn guild(&self, id: u64) -> Option<&GuildSpec> {
        self.guilds().find(|g| g.id == id)
    }

    /// The roles of a guild: its own `@everyone` and the shared roles.
    pub fn roles_of(&self, guild: u64) -> impl Iterator<Item = &RoleSpec> {
        self.roles
            .iter()
            .filter(move |r| r.id == guild || self.guild(r.id).is_none())
    }

    /// The guilds whose events go to `shard`.
    pub fn guilds_on_shard(&self, shard: u32) -> Vec<&GuildSpec> {
        self.guilds()
            .filter(|g| shard_of(g.id, self.shard_count) == shard)
            .collect()
    }

    /// Guild-wide permissions of a member: `@everyone` plus their roles (administrator = all).
    pub fn base_permissions(&self, user_id: u64, guild_id: u64) -> u64 {
        let Some(member) = self.member(user_id) else {
            return 0;
        };
        let Some(guild) = self.guild(guild_id) else {
            return 0;
        };
        if user_id == guild.owner_id {
            return perms::ALL;
        }
        let mut bits = self.role(guild.id).map_or(0, |r| r.permissions);
        for role in member.roles.iter().filter_map(|r| self.role(*r)) {
            bits |= role.permissions;
        }
        if bits & perms::ADMINISTRATOR != 0 {
            return perms::ALL;
        }
        bits
    }

    /// Permissions of a member in a channel, applying overwrites in Discord's order
    /// (`@everyone`, then roles combined, then the member). Threads use their parent.
    pub fn permissions_in(&self, user_id: u64, channel_id: u64) -> u64 {
        // Outside any guild channel: the first guild's base permissions.
        let Some(mut channel) = self.channel(channel_id) else {
            return self.base_permissions(user_id, self.guild.id);
        };
        let guild = channel.guild_id;
        let mut bits = self.base_permissions(user_id, guild);
        if bits & perms::ADMINISTRATOR != 0
            || self.guild(guild).is_some_and(|g| g.owner_id == user_id)
        {
            return bits;
        }
        if let Some(parent) = channel.parent_id.and_then(|p| self.channel(p)) {
            channel = parent;
        }
        let roles = self
            .member(user_id)
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let find = |target: OverwriteTarget| channel.overwrites.iter().find(|o| o.target == target);
        if let Some(o) = find(OverwriteTarget::Role(guild)) {
            bits = (bits & !o.deny) | o.allow;
        }
        let (mut allow, mut deny) = (0, 0);
        for role in &roles {
            if let Some(o) = find(OverwriteTarget::Role(*role)) {
                allow |= o.allow;
                deny |= o.deny;
            }
        }
        bits = (bits & !deny) | allow;
        if let Some(o) = find(OverwriteTarget::Member(user_id)) {
            bits = (bits & !o.deny) | o.allow;
        }
        bits
    }
}

/// The shard Discord sends a guild's events on: `(guild_id >> 22) % shard_count`. The fake's
/// own copy of Discord's documented rule, so the bot's copy is checked against it.
pub fn shard_of(guild_id: u64, shard_count: u32) -> u32 {
    ((guild_id >> 22) % u64::from(shard_count.max(1))) as u32
}
