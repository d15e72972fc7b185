//! Settings: `config/default.toml`, then `config/local.toml`, then `ASCOLTO__SECTION__KEY`
//! environment variables, deserialised into one typed [`Settings`] and validated at start.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default), and the
//! Discord token is read only from the `DISCORD_TOKEN` environment variable, never from files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{Duration, Weekday};
use chrono_tz::Tz;
use secrecy::SecretString;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::rules::Lang;
use crate::triage::TriageOptions;

/// Why the settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not a `#[source]`: the message already includes it, and error chains would print it twice.
    #[error("cannot read settings: {0}")]
    Load(config::ConfigError),
    /// A settings file that cannot be read, is not TOML, or holds a value of the wrong type.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("setting `{field}` is invalid: {message}")]
    Invalid { field: String, message: String },
    #[error("the DISCORD_TOKEN environment variable is not set (the token is never read from config files)")]
    MissingToken,
    #[error("the TELEGRAM_TOKEN environment variable is not set: ask @BotFather for the bot's token (/token) and put it there (it is never read from config files)")]
    MissingTelegramToken,
    #[error("telegram.mode is \"webhook\", but the TELEGRAM_WEBHOOK_SECRET environment variable is not set, or is not 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule): choose a long random one; it is never read from config files")]
    MissingTelegramWebhookSecret,
}

impl From<config::ConfigError> for ConfigError {
    fn from(error: config::ConfigError) -> Self {
        ConfigError::Load(error)
    }
}

/// The most gateway shards `discord.shard_count` accepts.
pub const MAX_SHARDS: u32 = 65_536;

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// All of Ascolto's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub store: StoreSettings,
    pub rules: RulesSettings,
    pub triage: TriageSettings,
    pub templates: TemplateSettings,
    pub discord: DiscordSettings,
    pub telegram: TelegramSettings,
    pub alerts: AlertSettings,
    pub sla: SlaSettings,
    pub escalation: EscalationSettings,
    pub digest: DigestSettings,
    pub outbox: OutboxSettings,
    pub log: LogSettings,
    pub http: HttpSettings,
    pub meta: MetaSettings,
    pub cluster: ClusterSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// sqlx database URL: `sqlite://data/ascolto.db` (embedded) or
    /// `postgres://USER@HOST:PORT/DB` (several processes on one server).
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageSettings {
    pub fallback_language: String,
    pub new_member_days: i64,
    /// Longest comment text, in characters, a replay accepts; longer ones are refused.
    pub max_comment_chars: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettings {
    /// Values for `{name}` placeholders besides the built-in ones.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// What `{moderator}` says when no moderator is known yet (e.g. in drafts before approval).
    pub moderator_fallback: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordSettings {
    /// Base URL of a REST proxy (`http://127.0.0.1:8080`); empty for discord.com.
    #[serde(default)]
    pub api_base: String,
    /// Channel ids to watch; empty means every channel the bot can read.
    #[serde(default, deserialize_with = "id_list")]
    pub watched_channels: Vec<u64>,
    /// Channel ids never watched (the alert channel is always excluded).
    #[serde(default, deserialize_with = "id_list")]
    pub excluded_channels: Vec<u64>,
    /// Where moderators get alerts.
    #[serde(default)]
    pub alert_channel: u64,
    /// Roles whose members may act on alerts.
    #[serde(default, deserialize_with = "id_list")]
    pub moderator_roles: Vec<u64>,
    /// Roles whose messages count as answers.
    #[serde(default, deserialize_with = "id_list")]
    pub staff_roles: Vec<u64>,
    /// When true, a reply by anyone but the author counts as an answer, not only staff.
    #[serde(default)]
    pub anyone_answers: bool,
    /// Most messages fetched per channel when catching up after downtime.
    pub backfill_limit: u32,
    /// How often alerts' targets, escalations and the digest are checked.
    pub check_every: HumanDuration,
    /// The gateway shards this process runs (`shards = "0-1"`); all of them when empty.
    #[serde(default)]
    pub shards: ShardSelection,
    /// How many shards the bot uses across all its processes; 0 = as many as Discord
    /// recommends, all in this process.
    #[serde(default)]
    pub shard_count: u32,
}

/// `discord.shards` as written: every shard (empty), one shard id (`3`) or an inclusive
/// range (`0-1`). Whether the ids exist depends on `discord.shard_count`, checked in
/// [`Settings::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardSelection {
    #[default]
    All,
    Range {
        first: u32,
        last: u32,
    },
}

/// Reads `""`, `"3"` or `"0-1"` (spaces around the parts are allowed).
pub fn parse_shards(text: &str) -> Result<ShardSelection, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(ShardSelection::All);
    }
    let number = |part: &str| -> Result<u32, String> {
        part.trim().parse::<u32>().map_err(|_| {
            format!("`{text}` is not a shard id or a range of them (write 2, or 0-1 for shards 0 and 1)")
        })
    };
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (number(first)?, number(last)?),
        None => {
            let id = number(text)?;
            (id, id)
        }
    };
    if first > last {
        return Err(format!(
            "`{text}` runs backwards: write the lower shard id first ({last}-{first})"
        ));
    }
    Ok(ShardSelection::Range { first, last })
}

impl<'de> Deserialize<'de> for ShardSelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The environment turns `ASCOLTO__DISCORD__SHARDS=1` into a number, hence any.
        let text = deserializer
            .deserialize_any(TextVisitor("a shard id like 2 or a range like \"0-1\""))?;
        parse_shards(&text).map_err(de::Error::custom)
    }
}

/// The Telegram channel and moderators' room (`[telegram]`). Telegram ids are signed: group
/// and supergroup chat ids are negative (`-1001234567890`), user ids positive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    /// Poll Telegram for updates when `ascolto run` starts (token in `TELEGRAM_TOKEN`).
    pub enabled: bool,
    /// Bot API base URL, without the `/bot<token>` part.
    pub api_base: String,
    /// Chat id of the moderators' group, where alerts are posted.
    #[serde(default)]
    pub moderators_chat: i64,
    /// User ids who may act on alerts.
    #[serde(default, deserialize_with = "signed_id_list")]
    pub moderators: Vec<i64>,
    /// When true, the administrators of `moderators_chat` may act on alerts too.
    pub moderators_are_admins: bool,
    /// User ids whose messages answer the comments they reply to.
    #[serde(default, deserialize_with = "signed_id_list")]
    pub staff: Vec<i64>,
    /// When true, a group's administrators count as staff in that group.
    pub staff_are_admins: bool,
    /// Chat ids to watch; empty means every group (and private chat) the bot is in.
    #[serde(default, deserialize_with = "signed_id_list")]
    pub watched_chats: Vec<i64>,
    /// Chat ids never watched (the moderators' chat never is).
    #[serde(default, deserialize_with = "signed_id_list")]
    pub excluded_chats: Vec<i64>,
    /// How long one `getUpdates` call waits for news (long polling), at most 50s.
    pub poll_timeout: HumanDuration,
    /// How long a group's administrator list is trusted before it is asked again.
    pub admin_cache: HumanDuration,
    /// How often the alerts' target readings are looked at (and rewritten when they change).
    pub check_every: HumanDuration,
    /// How updates arrive: long polling, or Telegram calling the bot's HTTP server.
    pub mode: TelegramMode,
    /// The public HTTPS URL Telegram calls in webhook mode (the reverse proxy's, ending in
    /// `webhook_path`).
    #[serde(default)]
    pub webhook_url: String,
    /// The path the bot's HTTP server serves the webhook on.
    pub webhook_path: String,
}

/// How the Telegram channel receives updates; the two are exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// `getUpdates` long polling: no public URL needed.
    Polling,
    /// `setWebhook`: Telegram POSTs each update to `webhook_url`.
    Webhook,
}

/// Where alerts go (`[alerts]`): the moderators' rooms.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// The rooms alerts (and their updates, escalations, digests and notices) are posted in;
    /// empty means the room of every platform `ascolto run` connects to.
    #[serde(default)]
    pub rooms: Vec<RoomKind>,
}

/// A moderators' room: Discord's `discord.alert_channel` or Telegram's
/// `telegram.moderators_chat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Discord,
    Telegram,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Discord => "discord",
            RoomKind::Telegram => "telegram",
        }
    }
}

/// Response-time targets (`[sla]`): how fast each kind of comment should get a first answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSettings {
    /// Where business hours and the digest's local times are read.
    pub time_zone: TimeZone,
    /// Share of a target after which alerts warn that it is near (strictly between 0 and 1).
    pub warn_fraction: f64,
    pub targets: TargetSettings,
    pub business_hours: BusinessHoursSettings,
    /// How long a comment whose only label is `question` may wait for the community's own
    /// answer before moderators are alerted (`0s` alerts at once).
    pub question_grace: HumanDuration,
    /// The grace per channel, by channel name (without `#`) or id, overriding the default.
    #[serde(default)]
    pub question_grace_channels: BTreeMap<String, HumanDuration>,
}

/// A target per label; a label without one (key absent, or `"off"`) has no target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    #[serde(default, deserialize_with = "optional_target")]
    pub complaint: Option<HumanDuration>,
    #[serde(default, deserialize_with = "optional_target")]
    pub question: Option<HumanDuration>,
    #[serde(default, deserialize_with = "optional_target")]
    pub urgent: Option<HumanDuration>,
}

#[cfg(test)]
impl DiscordSettings {
    /// Settings for unit tests: alerts in channel 900, moderators role 10, staff role 20.
    pub(crate) fn for_tests() -> DiscordSettings {
        DiscordSettings {
            api_base: String::new(),
            watched_channels: vec![],
            excluded_channels: vec![],
            alert_channel: 900,
            moderator_roles: vec![10],
            staff_roles: vec![20],
            anyone_answers: false,
            backfill_limit: 10,
            check_every: HumanDuration(Duration::seconds(30)),
            shards: ShardSelection::All,
            shard_count: 0,
        }
    }
}

/// Reads a list of Discord ids that may also be written as one bare id. The environment
/// source parses a number before it tries a list, so `ASCOLTO__DISCORD__STAFF_ROLES=123` (one
/// role, the usual case) arrives as a number, not a one-element list.
fn id_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
    struct Ids;
    impl<'de> Visitor<'de> for Ids {
        type Value = Vec<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of Discord ids, or one id")
        }
        fn visit_u64<E: de::Error>(self, id: u64) -> Result<Vec<u64>, E> {
            Ok(vec![id])
        }
        fn visit_i64<E: de::Error>(self, id: i64) -> Result<Vec<u64>, E> {
            u64::try_from(id)
                .map(|id| vec![id])
                .map_err(|_| E::custom(format!("{id} is not a Discord id")))
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u64>, E> {
            text.split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(|part| {
                    part.parse()
                        .map_err(|_| E::custom(format!("`{part}` is not a Discord id")))
                })
                .collect()
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u64>, A::Error> {
            let mut ids = Vec::new();
            while let Some(id) = seq.next_element()? {
                ids.push(id);
            }
            Ok(ids)
        }
    }
    deserializer.deserialize_any(Ids)
}

/// As [`id_list`], for Telegram's signed ids (group chat ids are negative).
fn signed_id_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    struct Ids;
    impl<'de> Visitor<'de> for Ids {
        type Value = Vec<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of Telegram ids, or one id")
        }
        fn visit_i64<E: de::Error>(self, id: i64) -> Result<Vec<i64>, E> {
            Ok(vec![id])
        }
        fn visit_u64<E: de::Error>(self, id: u64) -> Result<Vec<i64>, E> {
            i64::try_from(id)
                .map(|id| vec![id])
                .map_err(|_| E::custom(format!("{id} is not a Telegram id")))
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<i64>, E> {
            text.split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(|part| {
                    part.parse()
                        .map_err(|_| E::custom(format!("`{part}` is not a Telegram id")))
                })
                .collect()
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i64>, A::Error> {
            let mut ids = Vec::new();
            while let Some(id) = seq.next_element()? {
                ids.push(id);
            }
            Ok(ids)
        }
    }
    deserializer.deserialize_any(Ids)
}

/// When the response clock runs. Disabled means around the clock, every day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursSettings {
    pub enabled: bool,
    pub days: Vec<DayName>,
    pub start: LocalTime,
    /// May be `24:00` (until midnight).
    pub end: LocalTime,
}

/// Telling moderators when a target is missed (`[escalation]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationSettings {
    pub enabled: bool,
    /// Role pinged in the moderators' channel at a breach; 0 posts without pinging anyone.
    #[serde(default)]
    pub role_id: u64,
    /// Most role pings in any rolling hour; escalations beyond it are posted without a ping.
    pub max_pings_per_hour: u32,
}

/// The daily digest (`[digest]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSettings {
    pub enabled: bool,
    /// Local time of day the digest is posted.
    pub time: LocalTime,
    /// Time zone of `time`; empty means `[sla] time_zone`.
    #[serde(default, deserialize_with = "optional_time_zone")]
    pub time_zone: Option<TimeZone>,
    /// How many of the oldest unanswered comments are listed with links.
    pub oldest: usize,
}

/// Several processes on one store (`[cluster]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// How long a process holds a duty (the scheduled checks) or a claimed platform write
    /// without renewing it before another process may take it over.
    pub lease: HumanDuration,
}

impl ClusterSettings {
    pub fn lease(&self) -> std::time::Duration {
        self.lease
            .0
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(60))
    }
}

/// Retries of platform writes (`[outbox]`): see `outbox::RetryPolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// The wait after a write first fails; doubled after each further failure.
    pub first_retry: HumanDuration,
    /// The longest wait between two attempts.
    pub max_retry: HumanDuration,
    /// A write still failing after this long is given up and moderators are told.
    pub give_up_after: HumanDuration,
}

impl OutboxSettings {
    pub fn policy(&self) -> crate::outbox::RetryPolicy {
        let std = |d: &HumanDuration| d.0.to_std().unwrap_or_default();
        crate::outbox::RetryPolicy {
            first: std(&self.first_retry),
            max: std(&self.max_retry),
            give_up_after: std(&self.give_up_after),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `ascolto=debug,serenity=warn`.
    pub level: String,
}

/// The HTTP server (`[http]`) that webhook channels share. It only starts when a channel
/// that needs it is configured, so a Discord-only bot opens no port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// `address:port` to listen on; keep it on 127.0.0.1 behind an HTTPS reverse proxy.
    pub listen: String,
    /// Largest request body accepted, in KiB; bigger ones are refused with 413.
    pub max_body_kb: usize,
    /// Serve `/healthz`, `/readyz` and `/metrics` even when no webhook channel needs the
    /// server (a Discord- or Telegram-only bot).
    pub always: bool,
}

/// Facebook Pages, Instagram and Messenger (`[meta]`); on when at least one page is listed.
/// Secrets are never read here: they come from `META_APP_SECRET`, `META_VERIFY_TOKEN` and
/// `META_PAGE_TOKEN_<PAGE_ID>` in the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    /// Graph API host, without the version (tests point it at a fake on 127.0.0.1).
    pub graph_base: String,
    /// Graph API version, such as `v21.0`.
    pub version: String,
    /// The wait before retrying a reply after a Graph rate limit that does not say how long.
    pub rate_limit_wait: HumanDuration,
    #[serde(default)]
    pub pages: Vec<MetaPageSettings>,
}

/// One Facebook Page, and the Instagram professional account linked to it, if any.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaPageSettings {
    /// The Page id (digits), as shown under the Page's About → Page transparency.
    pub id: String,
    /// How moderators know the Page ("Facebook · <name>"); empty shows the id.
    #[serde(default)]
    pub name: String,
    /// The linked Instagram professional account's id, to take in its comments and messages.
    #[serde(default)]
    pub instagram_id: String,
    /// The Instagram account's username without `@` ("Instagram · @name"); empty shows the id.
    #[serde(default)]
    pub instagram_username: String,
}

impl MetaSettings {
    /// Whether the Meta channel runs: some page is configured.
    pub fn is_enabled(&self) -> bool {
        !self.pages.is_empty()
    }
}

impl Settings {
    /// Whether the HTTP server runs: a channel that receives webhooks is configured, or the
    /// operator wants the health, readiness and metrics endpoints anyway (`[http] always`).
    pub fn needs_http(&self) -> bool {
        self.meta.is_enabled() || self.http.always
    }

    fn validate_channels(&self) -> Result<(), ConfigError> {
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "http.listen",
                format!(
                    "`{}` is not an address and port such as 127.0.0.1:8080",
                    self.http.listen
                ),
            ));
        }
        if !(1..=16_384).contains(&self.http.max_body_kb) {
            return Err(invalid(
                "http.max_body_kb",
                "must be between 1 and 16384 (KiB)",
            ));
        }
        let meta = &self.meta;
        if !meta.graph_base.starts_with("http://") && !meta.graph_base.starts_with("https://") {
            return Err(invalid(
                "meta.graph_base",
                "must start with https:// (https://graph.facebook.com)",
            ));
        }
        if meta.rate_limit_wait.0 < Duration::seconds(1)
            || meta.rate_limit_wait.0 > Duration::hours(1)
        {
            return Err(invalid("meta.rate_limit_wait", "must be between 1s and 1h"));
        }
        let version_ok = meta
            .version
            .strip_prefix('v')
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'));
        if !version_ok {
            return Err(invalid(
                "meta.version",
                format!(
                    "`{}` is not a Graph API version such as v21.0",
                    meta.version
                ),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, page) in meta.pages.iter().enumerate() {
            let all_digits = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit());
            if !all_digits(&page.id) {
                return Err(invalid(
                    &format!("meta.pages[{i}].id"),
                    format!("`{}` is not a Page id (digits only)", page.id),
                ));
            }
            if !page.instagram_id.is_empty() && !all_digits(&page.instagram_id) {
                return Err(invalid(
                    &format!("meta.pages[{i}].instagram_id"),
                    format!(
                        "`{}` is not an Instagram account id (digits only)",
                        page.instagram_id
                    ),
                ));
            }
            if !seen.insert(page.id.as_str()) {
                return Err(invalid(
                    &format!("meta.pages[{i}].id"),
                    format!("page {} is listed twice", page.id),
                ));
            }
        }
        Ok(())
    }
}

/// Reads one settings file as a TOML table; a missing optional file is an empty one.
fn read_table(path: &Path, required: bool) -> Result<toml::Table, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(toml::Table::new())
        }
        Err(e) => {
            return Err(ConfigError::File {
                path: path.to_owned(),
                message: format!("cannot read it: {e}"),
            })
        }
    };
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
}

/// `over`'s keys replace `base`'s, table by table, as the layered sources do.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Checks the files' values strictly, as TOML types: the `config` crate turns `"200"` into a
/// number and `"yes"` into true without a word, which would hide a quoting mistake. Environment
/// variables are text by nature and are read afterwards, with parsing (see `load_with_env`).
/// Each problem names the file it is in: `default.toml` alone first, then with `local.toml`.
fn check_files(default: &Path, local: &Path) -> Result<(), ConfigError> {
    let mut merged = read_table(default, true)?;
    let overrides = read_table(local, false)?;
    let strict = |table: &toml::Table| -> Result<(), String> {
        match toml::Value::Table(table.clone()).try_into::<Settings>() {
            Ok(_) => Ok(()),
            // A key may come from the environment; the layered load reports it if it does not.
            Err(e) if e.message().starts_with("missing field") => Ok(()),
            Err(e) => {
                let mut message = e.to_string().trim_end().replace('\n', " ");
                if message.starts_with("invalid type: string") {
                    message.push_str(" (write numbers and true/false without quotes)");
                }
                Err(message)
            }
        }
    };
    strict(&merged).map_err(|message| ConfigError::File {
        path: default.to_owned(),
        message,
    })?;
    if overrides.is_empty() {
        return Ok(());
    }
    merge(&mut merged, overrides);
    strict(&merged).map_err(|message| ConfigError::File {
        path: local.to_owned(),
        message,
    })
}

impl Settings {
    /// Loads settings from `dir` (default.toml, then optional local.toml) and the environment.
    pub fn load(dir: &Path) -> Result<Settings, ConfigError> {
        Self::load_with_env(dir, None)
    }

    /// As [`Settings::load`], with explicit environment variables (for tests).
    pub fn load_with_env(
        dir: &Path,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Settings, ConfigError> {
        let default = dir.join("default.toml");
        if !default.exists() {
            return Err(invalid(
                "config",
                format!(
                    "{} not found (run from the project folder or pass --config DIR)",
                    default.display()
                ),
            ));
        }
        let local = dir.join("local.toml");
        check_files(&default, &local)?;
        let mut environment = config::Environment::with_prefix("ASCOLTO")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("discord.watched_channels")
            .with_list_parse_key("discord.excluded_channels")
            .with_list_parse_key("discord.moderator_roles")
            .with_list_parse_key("discord.staff_roles")
            .with_list_parse_key("telegram.moderators")
            .with_list_parse_key("telegram.staff")
            .with_list_parse_key("telegram.watched_chats")
            .with_list_parse_key("telegram.excluded_chats")
            .with_list_parse_key("alerts.rooms")
            .with_list_parse_key("sla.business_hours.days");
        if let Some(env) = env {
            environment = environment.source(Some(env));
        }
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(default))
            .add_source(config::File::from(local).required(false))
            .add_source(environment)
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what the types cannot: values in range, languages known.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.store.url.trim().is_empty() {
            return Err(invalid("store.url", "is empty"));
        }
        if crate::store::Backend::of(&self.store.url).is_err() {
            return Err(invalid(
                "store.url",
                format!(
                    "`{}` is neither a sqlite: URL (the embedded store) nor a postgres:// one",
                    crate::store::db_name(&self.store.url)
                ),
            ));
        }
        self.fallback_language()?;
        // Beyond about 290,000 years a day count no longer fits a time span; a century is
        // already more than any community has existed.
        if !(0..=36_500).contains(&self.triage.new_member_days) {
            return Err(invalid(
                "triage.new_member_days",
                "must be between 0 and 36500 (days)",
            ));
        }
        // Discord's own limit is 4,000 characters; beyond a million a replay line stops being
        // a comment and starts being a memory problem.
        if !(1..=1_000_000).contains(&self.triage.max_comment_chars) {
            return Err(invalid(
                "triage.max_comment_chars",
                "must be between 1 and 1000000 (characters)",
            ));
        }
        if self.discord.backfill_limit > 10_000 {
            return Err(invalid("discord.backfill_limit", "must be at most 10000"));
        }
        // Targets are read against this clock: checked less than hourly, a 15-minute target
        // would be reported missed up to an hour late.
        let every = self.discord.check_every.0;
        if every < Duration::seconds(1) || every > Duration::hours(1) {
            return Err(invalid(
                "discord.check_every",
                "must be between 1s and 1h (such as 30s)",
            ));
        }
        // More than one ping a minute is no longer a budget.
        if self.escalation.max_pings_per_hour > 60 {
            return Err(invalid(
                "escalation.max_pings_per_hour",
                format!(
                    "{} is over 60; use 0 to 60 (0 posts escalations without pinging)",
                    self.escalation.max_pings_per_hour
                ),
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                format!(
                    "`{}` is not a log filter (such as info, debug or ascolto=debug,serenity=warn)",
                    self.log.level
                ),
            ));
        }
        self.validate_shards()?;
        let base = &self.discord.api_base;
        if !base.is_empty() && !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(invalid(
                "discord.api_base",
                "must start with http:// or https:// (or be empty for discord.com)",
            ));
        }
        self.validate_sla()?;
        self.validate_channels()?;
        self.validate_telegram()?;
        if self.digest.time.minutes() >= 24 * 60 {
            return Err(invalid(
                "digest.time",
                "24:00 is not a time of day; use 00:00 or 23:59",
            ));
        }
        if !(1..=20).contains(&self.digest.oldest) {
            return Err(invalid("digest.oldest", "must be between 1 and 20"));
        }
        let outbox = &self.outbox;
        if outbox.first_retry.0 < Duration::seconds(1) {
            return Err(invalid("outbox.first_retry", "must be at least 1s"));
        }
        if outbox.max_retry.0 < outbox.first_retry.0 {
            return Err(invalid(
                "outbox.max_retry",
                "must be at least outbox.first_retry",
            ));
        }
        if outbox.give_up_after.0 < Duration::minutes(1)
            || outbox.give_up_after.0 > Duration::days(7)
        {
            return Err(invalid(
                "outbox.give_up_after",
                "must be between 1m and 7d (moderators should hear about a failed write the same day)",
            ));
        }
        if self.cluster.lease.0 < Duration::seconds(2)
            || self.cluster.lease.0 > Duration::minutes(10)
        {
            return Err(invalid("cluster.lease", "must be between 2s and 10m"));
        }
        for name in self.templates.values.keys() {
            if crate::rules::BUILTIN_PLACEHOLDERS.contains(&name.as_str()) {
                return Err(invalid(
                    &format!("templates.values.{name}"),
                    "is a built-in placeholder filled from the comment; choose another name",
                ));
            }
        }
        Ok(())
    }

    fn validate_sla(&self) -> Result<(), ConfigError> {
        let sla = &self.sla;
        if !(sla.warn_fraction > 0.0 && sla.warn_fraction < 1.0) {
            return Err(invalid(
                "sla.warn_fraction",
                format!(
                    "{} is out of range: use a share of the target such as 0.8 (warn when 80% is used)",
                    sla.warn_fraction
                ),
            ));
        }
        let targets = [
            ("complaint", sla.targets.complaint),
            ("question", sla.targets.question),
            ("urgent", sla.targets.urgent),
        ];
        for (label, target) in targets {
            if let Some(target) = target {
                if target.0 < Duration::minutes(1) || target.0 > Duration::days(30) {
                    return Err(invalid(
                        &format!("sla.targets.{label}"),
                        "must be between 1 minute and 30 days (or \"off\" for no target)",
                    ));
                }
            }
        }
        // A day is already longer than any question should wait unseen.
        let graces = std::iter::once(("sla.question_grace".to_owned(), sla.question_grace)).chain(
            sla.question_grace_channels
                .iter()
                .map(|(channel, grace)| (format!("sla.question_grace_channels.{channel}"), *grace)),
        );
        for (key, grace) in graces {
            if grace.0 < Duration::zero() || grace.0 > Duration::days(1) {
                return Err(invalid(&key, "must be between 0s (alert at once) and 1d"));
            }
        }
        let hours = &sla.business_hours;
        if hours.enabled {
            if hours.days.is_empty() {
                return Err(invalid(
                    "sla.business_hours.days",
                    "is empty: list the open days, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
                ));
            }
            if hours.start.minutes() >= hours.end.minutes() {
                return Err(invalid(
                    "sla.business_hours.end",
                    format!(
                        "{} is not after start {} (hours past midnight are not supported; end may be 24:00)",
                        hours.end, hours.start
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_telegram(&self) -> Result<(), ConfigError> {
        let telegram = &self.telegram;
        let base = &telegram.api_base;
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(invalid(
                "telegram.api_base",
                "must start with http:// or https:// (the default is https://api.telegram.org)",
            ));
        }
        let timeout = telegram.poll_timeout.0;
        if timeout < Duration::zero() || timeout > Duration::seconds(50) {
            return Err(invalid(
                "telegram.poll_timeout",
                "must be between 0s and 50s (Telegram holds a long poll at most about that long)",
            ));
        }
        if telegram.check_every.0 < Duration::seconds(1) {
            return Err(invalid("telegram.check_every", "must be at least 1s"));
        }
        if !telegram.webhook_path.starts_with('/') {
            return Err(invalid(
                "telegram.webhook_path",
                format!("`{}` must start with /", telegram.webhook_path),
            ));
        }
        if telegram.mode == TelegramMode::Webhook && !telegram.webhook_url.starts_with("https://") {
            return Err(invalid(
                "telegram.webhook_url",
                "webhook mode needs the public https:// URL Telegram will call (your reverse proxy's, ending in webhook_path)",
            ));
        }
        if telegram.admin_cache.0 > Duration::days(1) {
            return Err(invalid(
                "telegram.admin_cache",
                "must be at most 1d, or a demoted admin keeps staff rights too long",
            ));
        }
        Ok(())
    }

    /// Checks the settings the Telegram channel needs, before polling.
    pub fn validate_for_telegram(&self) -> Result<(), ConfigError> {
        let telegram = &self.telegram;
        if telegram.moderators_chat == 0 {
            return Err(invalid(
                "telegram.moderators_chat",
                "set the chat id of the moderators' group where alerts are posted (a negative number such as -1001234567890)",
            ));
        }
        if telegram.moderators.is_empty() && !telegram.moderators_are_admins {
            return Err(invalid(
                "telegram.moderators",
                "list at least one user id who may approve replies, or set moderators_are_admins = true",
            ));
        }
        Ok(())
    }

    /// Whether the room on `kind` is one of the moderators' rooms when the platform runs:
    /// listed in `[alerts] rooms`, or that list left empty.
    pub fn is_room(&self, kind: RoomKind) -> bool {
        self.alerts.rooms.is_empty() || self.alerts.rooms.contains(&kind)
    }

    /// The moderators' rooms of a run connecting to Discord and/or Telegram as given. A room
    /// listed for a platform that does not run is an error naming the setting, and so is a
    /// run left with no room at all.
    pub fn rooms_for(&self, discord: bool, telegram: bool) -> Result<Vec<RoomKind>, ConfigError> {
        let runs = |kind| match kind {
            RoomKind::Discord => discord,
            RoomKind::Telegram => telegram,
        };
        for kind in &self.alerts.rooms {
            if !runs(*kind) {
                let needs = match kind {
                    RoomKind::Discord => {
                        "Discord is not configured ([discord] alert_channel and DISCORD_TOKEN)"
                    }
                    RoomKind::Telegram => "[telegram] enabled is false",
                };
                return Err(invalid(
                    "alerts.rooms",
                    format!("lists `{}`, but {needs}", kind.as_str()),
                ));
            }
        }
        let rooms: Vec<RoomKind> = [RoomKind::Discord, RoomKind::Telegram]
            .into_iter()
            .filter(|k| runs(*k) && self.is_room(*k))
            .collect();
        if rooms.is_empty() {
            return Err(invalid(
                "alerts.rooms",
                "names no room that runs: list \"discord\", \"telegram\" or both",
            ));
        }
        Ok(rooms)
    }

    /// Whether `ascolto run` should connect to Discord: when it is configured, or when Telegram
    /// is not (so a bare configuration still says what Discord needs).
    pub fn discord_wanted(&self) -> bool {
        !self.telegram.enabled
            || self.discord.alert_channel != 0
            || std::env::var_os("DISCORD_TOKEN").is_some()
    }

    /// The time zone the digest's `time` is read in.
    pub fn digest_time_zone(&self) -> Tz {
        self.digest.time_zone.unwrap_or(self.sla.time_zone).0
    }

    /// `discord.shards` names shards that exist out of `discord.shard_count`.
    fn validate_shards(&self) -> Result<(), ConfigError> {
        let count = self.discord.shard_count;
        // Discord's biggest bots run a few thousand shards; past 65536 it is a typo.
        if count > MAX_SHARDS {
            return Err(invalid(
                "discord.shard_count",
                format!("{count} is over {MAX_SHARDS}; use 0 (Discord's recommendation) to {MAX_SHARDS}"),
            ));
        }
        let ShardSelection::Range { first, last } = self.discord.shards else {
            return Ok(());
        };
        if count == 0 {
            return Err(invalid(
                "discord.shards",
                format!(
                    "names shards ({first}-{last}) but discord.shard_count is 0: set the total number of shards, the same in every process"
                ),
            ));
        }
        if last >= count {
            return Err(invalid(
                "discord.shards",
                format!(
                    "shard {last} does not exist with discord.shard_count = {count} (ids run from 0 to {})",
                    count - 1
                ),
            ));
        }
        Ok(())
    }

    /// Checks the settings the live Discord bot needs, before connecting.
    pub fn validate_for_discord(&self) -> Result<(), ConfigError> {
        // Checked at load too; again here for settings built in code, which skip the load.
        self.validate_shards()?;
        if self.discord.alert_channel == 0 {
            return Err(invalid(
                "discord.alert_channel",
                "set the id of the moderators' channel where alerts are posted",
            ));
        }
        if self.discord.moderator_roles.is_empty() {
            return Err(invalid(
                "discord.moderator_roles",
                "list at least one role id whose members may approve replies",
            ));
        }
        Ok(())
    }

    pub fn fallback_language(&self) -> Result<Lang, ConfigError> {
        Lang::from_code(&self.triage.fallback_language).ok_or_else(|| {
            invalid(
                "triage.fallback_language",
                format!(
                    "`{}` is not a supported language (en, it)",
                    self.triage.fallback_language
                ),
            )
        })
    }

    pub fn triage_options(&self) -> TriageOptions {
        TriageOptions {
            fallback_language: self.fallback_language().unwrap_or(Lang::En),
            new_member_days: self.triage.new_member_days,
        }
    }
}

/// A length of time written as people write it in settings and on the command line: `30m`,
/// `2h`, `7d`, `1h30m` (units `s`, `m`, `h`, `d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration (write it like 30m, 2h or 7d)")]
    Empty,
    #[error("`{0}` has no unit (write it like 30m, 2h or 7d)")]
    NoUnit(String),
    #[error("`{text}` has an unknown unit `{unit}` (use s, m, h or d, as in 30m, 2h, 7d)")]
    Unit { text: String, unit: String },
    #[error("`{0}` is not a duration like 30m, 2h, 7d or 1h30m")]
    Malformed(String),
    #[error("`{0}` is too long (at most 10 years)")]
    TooLong(String),
}

/// Parses `30m`, `2h`, `7d`, `1h30m`, `90s`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(DurationError::NoUnit(trimmed.to_owned()));
    }
    let mut total: i64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::Malformed(trimmed.to_owned()));
        }
        let number: i64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::TooLong(trimmed.to_owned()))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let seconds = match unit {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            "" => return Err(DurationError::Malformed(trimmed.to_owned())),
            other => {
                return Err(DurationError::Unit {
                    text: trimmed.to_owned(),
                    unit: other.to_owned(),
                })
            }
        };
        total = number
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .filter(|s| *s <= 10 * 366 * 86_400)
            .ok_or_else(|| DurationError::TooLong(trimmed.to_owned()))?;
    }
    Ok(Duration::seconds(total))
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(TextVisitor("a duration like 30m, 2h or 7d"))
            .and_then(|text| parse_duration(&text).map_err(de::Error::custom))
            .map(HumanDuration)
    }
}

fn optional_target<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<HumanDuration>, D::Error> {
    let text = deserializer.deserialize_any(TextVisitor("a duration like 30m or \"off\""))?;
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    parse_duration(&text)
        .map(|d| Some(HumanDuration(d)))
        .map_err(de::Error::custom)
}

/// An IANA time zone name such as `Europe/Rome`, checked when the settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub Tz);

fn parse_time_zone(text: &str) -> Result<Tz, String> {
    text.trim().parse::<Tz>().map_err(|_| {
        format!(
            "`{text}` is not an IANA time zone name (such as Europe/Rome, America/New_York or UTC)"
        )
    })
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text =
            deserializer.deserialize_any(TextVisitor("a time zone name like Europe/Rome"))?;
        parse_time_zone(&text)
            .map(TimeZone)
            .map_err(de::Error::custom)
    }
}

fn optional_time_zone<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TimeZone>, D::Error> {
    let text = deserializer.deserialize_any(TextVisitor("a time zone name like Europe/Rome"))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_time_zone(&text)
        .map(|tz| Some(TimeZone(tz)))
        .map_err(de::Error::custom)
}

/// A local time of day written `HH:MM`; `24:00` is accepted as the end of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime(u32);

impl LocalTime {
    /// `hour:minute`; `None` unless it is between 00:00 and 24:00.
    pub fn new(hour: u32, minute: u32) -> Option<LocalTime> {
        let minutes = hour * 60 + minute;
        (minute < 60 && minutes <= 24 * 60).then_some(LocalTime(minutes))
    }

    /// Minutes after midnight (1440 for `24:00`).
    pub fn minutes(self) -> u32 {
        self.0
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl std::str::FromStr for LocalTime {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is not a time of day (HH:MM, such as 09:00 or 17:30)");
        let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let hour = h.parse().map_err(|_| bad())?;
        let minute = m.parse().map_err(|_| bad())?;
        LocalTime::new(hour, minute).ok_or_else(bad)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_any(TextVisitor("a time of day like 09:00"))?;
        text.parse().map_err(de::Error::custom)
    }
}

/// A day of the week written `mon`, `tue`... (or in full, any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayName(pub Weekday);

impl<'de> Deserialize<'de> for DayName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_any(TextVisitor("a day such as \"mon\""))?;
        let lower = text.trim().to_ascii_lowercase();
        let day = match lower.get(..3) {
            Some("mon") => Weekday::Mon,
            Some("tue") => Weekday::Tue,
            Some("wed") => Weekday::Wed,
            Some("thu") => Weekday::Thu,
            Some("fri") => Weekday::Fri,
            Some("sat") => Weekday::Sat,
            Some("sun") => Weekday::Sun,
            _ => {
                return Err(de::Error::custom(format!(
                    "`{text}` is not a day of the week (mon, tue, wed, thu, fri, sat or sun)"
                )))
            }
        };
        Ok(DayName(day))
    }
}

/// Reads a setting as text whatever type the source guessed (environment values like `30`
/// arrive as numbers), so the typed parsers above give the one helpful message.
struct TextVisitor(&'static str);

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// The bot token, from the environment only; wrapped so it never appears in logs.
pub fn discord_token() -> Result<SecretString, ConfigError> {
    match std::env::var("DISCORD_TOKEN") {
        Ok(token) if !token.trim().is_empty() => Ok(SecretString::from(token.trim().to_owned())),
        _ => Err(ConfigError::MissingToken),
    }
}

/// The secret Telegram sends with every webhook call (`X-Telegram-Bot-Api-Secret-Token`),
/// from `TELEGRAM_WEBHOOK_SECRET` only: 1 to 256 characters of `A-Z a-z 0-9 _ -`.
pub fn telegram_webhook_secret() -> Result<SecretString, ConfigError> {
    match std::env::var("TELEGRAM_WEBHOOK_SECRET") {
        Ok(secret) if valid_webhook_secret(secret.trim()) => {
            Ok(SecretString::from(secret.trim().to_owned()))
        }
        _ => Err(ConfigError::MissingTelegramWebhookSecret),
    }
}

/// Telegram's rule for a webhook secret.
pub fn valid_webhook_secret(secret: &str) -> bool {
    (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The Telegram bot token, from the environment only; wrapped so it never appears in logs.
pub fn telegram_token() -> Result<SecretString, ConfigError> {
    match std::env::var("TELEGRAM_TOKEN") {
        Ok(token) if !token.trim().is_empty() => Ok(SecretString::from(token.trim().to_owned())),
        _ => Err(ConfigError::MissingTelegramToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn committed_defaults_load_and_validate() {
        let s = Settings::load_with_env(&config_dir(), Some(HashMap::new())).unwrap();
        assert!(s.store.url.starts_with("sqlite:"));
        assert_eq!(s.fallback_language().unwrap(), Lang::En);
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let env = HashMap::from([
            (
                "ASCOLTO__TRIAGE__FALLBACK_LANGUAGE".to_owned(),
                "it".to_owned(),
            ),
            (
                "ASCOLTO__DISCORD__MODERATOR_ROLES".to_owned(),
                "11,22".to_owned(),
            ),
        ]);
        let s = Settings::load_with_env(&config_dir(), Some(env)).unwrap();
        assert_eq!(s.fallback_language().unwrap(), Lang::It);
        assert_eq!(s.discord.moderator_roles, vec![11, 22]);
    }

    #[test]
    fn one_bare_id_in_the_environment_is_a_list_of_one() {
        let env = HashMap::from([(
            "ASCOLTO__DISCORD__STAFF_ROLES".to_owned(),
            "1100000000000000301".to_owned(),
        )]);
        let s = Settings::load_with_env(&config_dir(), Some(env)).unwrap();
        assert_eq!(s.discord.staff_roles, vec![1_100_000_000_000_000_301]);
    }

    #[test]
    fn outbox_retries_are_range_checked_and_become_a_policy() {
        let load = |key: &str, value: &str| {
            let env = HashMap::from([(format!("ASCOLTO__OUTBOX__{key}"), value.to_owned())]);
            Settings::load_with_env(&config_dir(), Some(env))
        };
        let policy = load("GIVE_UP_AFTER", "2h").unwrap().outbox.policy();
        assert_eq!(policy.give_up_after, std::time::Duration::from_secs(7200));
        assert_eq!(policy.first, std::time::Duration::from_secs(1));
        let err = load("GIVE_UP_AFTER", "30s").unwrap_err();
        assert!(err.to_string().contains("outbox.give_up_after"), "{err}");
        let err = load("MAX_RETRY", "0s").unwrap_err();
        assert!(err.to_string().contains("outbox.max_retry"), "{err}");
    }

    #[test]
    fn a_typo_in_a_key_is_an_error_naming_it() {
        let env = HashMap::from([(
            "ASCOLTO__TRIAGE__FALLBACK_LANGUAG".to_owned(),
            "it".to_owned(),
        )]);
        let err = Settings::load_with_env(&config_dir(), Some(env)).unwrap_err();
        assert!(err.to_string().contains("fallback_languag"), "{err}");
    }

    #[test]
    fn a_new_member_window_too_large_for_a_time_span_is_refused_at_start() {
        let env = HashMap::from([(
            "ASCOLTO__TRIAGE__NEW_MEMBER_DAYS".to_owned(),
            "106751991168".to_owned(),
        )]);
        let err = Settings::load_with_env(&config_dir(), Some(env)).unwrap_err();
        assert!(err.to_string().contains("triage.new_member_days"), "{err}");
    }

    #[test]
    fn a_bad_value_names_the_field() {
        let env = HashMap::from([(
            "ASCOLTO__TRIAGE__FALLBACK_LANGUAGE".to_owned(),
            "fr".to_owned(),
        )]);
        let err = Settings::load_with_env(&config_dir(), Some(env)).unwrap_err();
        assert!(
            err.to_string().contains("triage.fallback_language"),
            "{err}"
        );
    }

    #[test]
    fn discord_settings_are_checked_before_connecting() {
        let s = Settings::load_with_env(&config_dir(), Some(HashMap::new())).unwrap();
        let err = s.validate_for_discord().unwrap_err();
        assert!(err.to_string().contains("discord.alert_channel"), "{err}");
    }

    #[test]
    fn shards_changed_after_loading_are_checked_before_connecting() {
        let mut s = load(&[
            ("ASCOLTO__DISCORD__ALERT_CHANNEL", "900"),
            ("ASCOLTO__DISCORD__MODERATOR_ROLES", "10"),
        ])
        .unwrap();
        s.validate_for_discord().unwrap();
        s.discord.shards = ShardSelection::Range { first: 0, last: 3 };
        s.discord.shard_count = 2;
        let err = s.validate_for_discord().unwrap_err().to_string();
        assert!(
            err.contains("discord.shards") && err.contains("shard 3"),
            "{err}"
        );
    }

    #[test]
    fn telegram_ids_are_signed_and_settings_checked_before_polling() {
        let s = load(&[
            ("ASCOLTO__TELEGRAM__WATCHED_CHATS", "-1001,-1002"),
            ("ASCOLTO__TELEGRAM__STAFF", "42"),
        ])
        .unwrap();
        assert_eq!(s.telegram.watched_chats, vec![-1001, -1002]);
        assert_eq!(s.telegram.staff, vec![42]);
        assert!(!s.telegram.enabled);
        let err = s.validate_for_telegram().unwrap_err();
        assert!(
            err.to_string().contains("telegram.moderators_chat"),
            "{err}"
        );
        let err = load(&[("ASCOLTO__TELEGRAM__POLL_TIMEOUT", "2m")]).unwrap_err();
        assert!(err.to_string().contains("telegram.poll_timeout"), "{err}");
        let err = load(&[("ASCOLTO__TELEGRAM__API_BASE", "api.telegram.org")]).unwrap_err();
        assert!(err.to_string().contains("telegram.api_base"), "{err}");
    }

    #[test]
    fn rooms_default_to_every_platform_that_runs_and_a_room_must_run() {
        let s = load(&[]).unwrap();
        assert!(s.alerts.rooms.is_empty());
        assert_eq!(
            s.rooms_for(true, true).unwrap(),
            [RoomKind::Discord, RoomKind::Telegram]
        );
        assert_eq!(s.rooms_for(false, true).unwrap(), [RoomKind::Telegram]);
        let s = load(&[("ASCOLTO__ALERTS__ROOMS", "telegram")]).unwrap();
        assert_eq!(s.rooms_for(true, true).unwrap(), [RoomKind::Telegram]);
        assert!(!s.is_room(RoomKind::Discord));
        let err = s.rooms_for(true, false).unwrap_err().to_string();
        assert!(err.contains("alerts.rooms"), "{err}");
        assert!(err.contains("[telegram] enabled"), "{err}");
        let s = load(&[("ASCOLTO__ALERTS__ROOMS", "discord,telegram")]).unwrap();
        assert_eq!(s.alerts.rooms, [RoomKind::Discord, RoomKind::Telegram]);
        let err = load(&[("ASCOLTO__ALERTS__ROOMS", "slack")]).unwrap_err();
        assert!(err.to_string().contains("slack"), "{err}");
    }

    #[test]
    fn webhook_mode_needs_a_public_https_url_and_a_well_formed_secret() {
        let s = load(&[]).unwrap();
        assert_eq!(s.telegram.mode, TelegramMode::Polling);
        assert_eq!(s.telegram.webhook_path, "/webhooks/telegram");
        let err = load(&[("ASCOLTO__TELEGRAM__MODE", "webhook")]).unwrap_err();
        assert!(err.to_string().contains("telegram.webhook_url"), "{err}");
        let s = load(&[
            ("ASCOLTO__TELEGRAM__MODE", "webhook"),
            (
                "ASCOLTO__TELEGRAM__WEBHOOK_URL",
                "https://bot.example.org/webhooks/telegram",
            ),
        ])
        .unwrap();
        assert_eq!(s.telegram.mode, TelegramMode::Webhook);
        let err = load(&[("ASCOLTO__TELEGRAM__WEBHOOK_PATH", "webhooks")]).unwrap_err();
        assert!(err.to_string().contains("telegram.webhook_path"), "{err}");
        assert!(valid_webhook_secret("Ab_9-x"));
        assert!(!valid_webhook_secret(""));
        assert!(!valid_webhook_secret("with space"));
        assert!(!valid_webhook_secret(&"a".repeat(257)));
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_with_env(&config_dir(), Some(env))
    }

    #[test]
    fn response_targets_are_typed_from_the_defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(
            s.sla.targets.complaint,
            Some(HumanDuration(Duration::minutes(30)))
        );
        assert_eq!(
            s.sla.targets.question,
            Some(HumanDuration(Duration::hours(2)))
        );
        assert_eq!(s.sla.time_zone.0, Tz::UTC);
        assert_eq!(s.digest.time.to_string(), "18:00");
        assert_eq!(s.digest_time_zone(), Tz::UTC);
    }

    #[test]
    fn an_unknown_time_zone_is_an_error_naming_the_key() {
        let err = load(&[("ASCOLTO__SLA__TIME_ZONE", "Europe/Rom")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sla.time_zone"), "{text}");
        assert!(
            text.contains("`Europe/Rom` is not an IANA time zone name"),
            "{text}"
        );
        let err = load(&[("ASCOLTO__DIGEST__TIME_ZONE", "Mars/Olympus")]).unwrap_err();
        assert!(err.to_string().contains("digest.time_zone"), "{err}");
        let s = load(&[("ASCOLTO__DIGEST__TIME_ZONE", "America/New_York")]).unwrap();
        assert_eq!(s.digest_time_zone(), chrono_tz::America::New_York);
    }

    #[test]
    fn business_hours_must_make_sense() {
        let err = load(&[
            ("ASCOLTO__SLA__BUSINESS_HOURS__ENABLED", "true"),
            ("ASCOLTO__SLA__BUSINESS_HOURS__START", "18:00"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("sla.business_hours.end"), "{err}");
        let err = load(&[("ASCOLTO__SLA__BUSINESS_HOURS__DAYS", "mon,fry")]).unwrap_err();
        assert!(err.to_string().contains("`fry` is not a day"), "{err}");
        assert!(err.to_string().contains("sla.business_hours.days"), "{err}");
        let s = load(&[
            ("ASCOLTO__SLA__BUSINESS_HOURS__ENABLED", "true"),
            ("ASCOLTO__SLA__BUSINESS_HOURS__DAYS", "sat,sun"),
            ("ASCOLTO__SLA__BUSINESS_HOURS__END", "24:00"),
        ])
        .unwrap();
        let days: Vec<_> = s.sla.business_hours.days.iter().map(|d| d.0).collect();
        assert_eq!(days, [Weekday::Sat, Weekday::Sun]);
        assert_eq!(s.sla.business_hours.end.minutes(), 1440);
    }

    #[test]
    fn targets_need_a_unit_and_can_be_turned_off() {
        let err = load(&[("ASCOLTO__SLA__TARGETS__COMPLAINT", "30")]).unwrap_err();
        assert!(err.to_string().contains("`30` has no unit"), "{err}");
        assert!(err.to_string().contains("sla.targets.complaint"), "{err}");
        let s = load(&[("ASCOLTO__SLA__TARGETS__QUESTION", "off")]).unwrap();
        assert_eq!(s.sla.targets.question, None);
        let err = load(&[("ASCOLTO__SLA__WARN_FRACTION", "1.5")]).unwrap_err();
        assert!(err.to_string().contains("sla.warn_fraction"), "{err}");
    }

    /// A settings folder with the committed defaults and `local` as local.toml.
    fn folder_with_local(local: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            config_dir().join("default.toml"),
            dir.path().join("default.toml"),
        )
        .unwrap();
        std::fs::write(dir.path().join("local.toml"), local).unwrap();
        dir
    }

    #[test]
    fn quoted_numbers_and_booleans_in_a_file_are_refused_naming_the_file_and_key() {
        let dir = folder_with_local("[discord]\nbackfill_limit = \"200\"\n");
        let err = Settings::load_with_env(dir.path(), Some(HashMap::new()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("local.toml: invalid type: string \"200\""),
            "{err}"
        );
        assert!(err.contains("discord.backfill_limit"), "{err}");
        assert!(err.contains("without quotes"), "{err}");
        let dir = folder_with_local("[escalation]\nenabled = \"yes\"\n");
        let err = Settings::load_with_env(dir.path(), Some(HashMap::new()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("local.toml: invalid type: string \"yes\", expected a boolean"),
            "{err}"
        );
        assert!(err.contains("escalation.enabled"), "{err}");
        // Typed values in the file, and text in the environment, are read as before.
        let dir =
            folder_with_local("[discord]\nbackfill_limit = 300\n[escalation]\nenabled = false\n");
        let s = Settings::load_with_env(dir.path(), Some(HashMap::new())).unwrap();
        assert_eq!(s.discord.backfill_limit, 300);
        assert!(!s.escalation.enabled);
    }

    #[test]
    fn numbers_and_booleans_from_the_environment_are_parsed() {
        let s = load(&[
            ("ASCOLTO__DISCORD__BACKFILL_LIMIT", "200"),
            ("ASCOLTO__ESCALATION__ENABLED", "false"),
            ("ASCOLTO__SLA__WARN_FRACTION", "0.5"),
        ])
        .unwrap();
        assert_eq!(s.discord.backfill_limit, 200);
        assert!(!s.escalation.enabled);
        assert_eq!(s.sla.warn_fraction, 0.5);
    }

    #[test]
    fn a_syntax_error_in_local_toml_names_the_file_and_line() {
        let dir = folder_with_local("[discord]\nbackfill_limit = = 3\n");
        let err = Settings::load_with_env(dir.path(), Some(HashMap::new()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("local.toml: TOML parse error at line 2, column"),
            "{err}"
        );
    }

    #[test]
    fn shards_are_read_as_one_id_or_an_inclusive_range() {
        assert_eq!(parse_shards(""), Ok(ShardSelection::All));
        assert_eq!(parse_shards("  "), Ok(ShardSelection::All));
        assert_eq!(
            parse_shards("3"),
            Ok(ShardSelection::Range { first: 3, last: 3 })
        );
        assert_eq!(
            parse_shards(" 0 - 1 "),
            Ok(ShardSelection::Range { first: 0, last: 1 })
        );
        for bad in ["a", "1-", "-1", "0-1-2", "1..2", "1,2", "4294967296"] {
            let err = parse_shards(bad).unwrap_err();
            assert!(err.contains("is not a shard id"), "{bad}: {err}");
        }
        let err = parse_shards("3-1").unwrap_err();
        assert!(
            err.contains("runs backwards") && err.contains("1-3"),
            "{err}"
        );
    }

    #[test]
    fn shards_and_shard_count_come_from_the_environment() {
        let s = load(&[
            ("ASCOLTO__DISCORD__SHARDS", "2-3"),
            ("ASCOLTO__DISCORD__SHARD_COUNT", "4"),
        ])
        .unwrap();
        assert_eq!(
            s.discord.shards,
            ShardSelection::Range { first: 2, last: 3 }
        );
        assert_eq!(s.discord.shard_count, 4);
        // A bare number arrives as a number from the environment.
        let s = load(&[
            ("ASCOLTO__DISCORD__SHARDS", "1"),
            ("ASCOLTO__DISCORD__SHARD_COUNT", "2"),
        ])
        .unwrap();
        assert_eq!(
            s.discord.shards,
            ShardSelection::Range { first: 1, last: 1 }
        );
        // Unset: every shard, as many as Discord recommends.
        let s = load(&[]).unwrap();
        assert_eq!(
            (s.discord.shards, s.discord.shard_count),
            (ShardSelection::All, 0)
        );
    }

    #[test]
    fn bad_shard_settings_stop_the_start_naming_the_key() {
        for (pairs, field, says) in [
            (
                vec![
                    ("ASCOLTO__DISCORD__SHARDS", "3-1"),
                    ("ASCOLTO__DISCORD__SHARD_COUNT", "4"),
                ],
                "discord.shards",
                "runs backwards",
            ),
            (
                vec![
                    ("ASCOLTO__DISCORD__SHARDS", "zero"),
                    ("ASCOLTO__DISCORD__SHARD_COUNT", "4"),
                ],
                "discord.shards",
                "is not a shard id",
            ),
            (
                vec![
                    ("ASCOLTO__DISCORD__SHARDS", "2-4"),
                    ("ASCOLTO__DISCORD__SHARD_COUNT", "4"),
                ],
                "discord.shards",
                "shard 4 does not exist",
            ),
            (
                vec![("ASCOLTO__DISCORD__SHARDS", "0-1")],
                "discord.shards",
                "discord.shard_count is 0",
            ),
            (
                vec![("ASCOLTO__DISCORD__SHARD_COUNT", "65537")],
                "discord.shard_count",
                "over 65536",
            ),
            (
                vec![("ASCOLTO__DISCORD__SHARD_COUNT", "-1")],
                "discord.shard_count",
                "",
            ),
        ] {
            let err = load(&pairs).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains(says),
                "{pairs:?}: {err}"
            );
        }
    }

    #[test]
    fn shards_in_a_settings_file_keep_their_type() {
        let dir = folder_with_local("[discord]\nshards = \"0-1\"\nshard_count = 2\n");
        let s = Settings::load_with_env(dir.path(), Some(HashMap::new())).unwrap();
        assert_eq!(
            s.discord.shards,
            ShardSelection::Range { first: 0, last: 1 }
        );
        let dir = folder_with_local("[discord]\nshard_count = \"2\"\n");
        let err = Settings::load_with_env(dir.path(), Some(HashMap::new()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("discord.shard_count"), "{err}");
    }

    #[test]
    fn every_numeric_setting_is_range_checked() {
        for (key, value, field) in [
            ("ASCOLTO__DISCORD__CHECK_EVERY", "2h", "discord.check_every"),
            ("ASCOLTO__DISCORD__CHECK_EVERY", "0s", "discord.check_every"),
            (
                "ASCOLTO__DISCORD__BACKFILL_LIMIT",
                "10001",
                "discord.backfill_limit",
            ),
            (
                "ASCOLTO__ESCALATION__MAX_PINGS_PER_HOUR",
                "61",
                "escalation.max_pings_per_hour",
            ),
            ("ASCOLTO__SLA__WARN_FRACTION", "0", "sla.warn_fraction"),
            ("ASCOLTO__SLA__TARGETS__URGENT", "31d", "sla.targets.urgent"),
            ("ASCOLTO__SLA__TARGETS__URGENT", "0m", "sla.targets.urgent"),
            (
                "ASCOLTO__TRIAGE__MAX_COMMENT_CHARS",
                "0",
                "triage.max_comment_chars",
            ),
            (
                "ASCOLTO__TRIAGE__MAX_COMMENT_CHARS",
                "1000001",
                "triage.max_comment_chars",
            ),
            (
                "ASCOLTO__TRIAGE__NEW_MEMBER_DAYS",
                "-1",
                "triage.new_member_days",
            ),
            ("ASCOLTO__DIGEST__OLDEST", "0", "digest.oldest"),
            ("ASCOLTO__LOG__LEVEL", "ascolto=loud", "log.level"),
        ] {
            let err = load(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(field), "{key}={value}: {err}");
        }
        let s = load(&[("ASCOLTO__TRIAGE__MAX_COMMENT_CHARS", "500")]).unwrap();
        assert_eq!(s.triage.max_comment_chars, 500);
    }

    #[test]
    fn http_and_meta_settings_are_checked() {
        let s = load(&[]).unwrap();
        assert!(!s.needs_http(), "no page configured: no HTTP server");
        assert!(load(&[("ASCOLTO__HTTP__ALWAYS", "true")])
            .unwrap()
            .needs_http());
        assert_eq!(s.http.listen, "127.0.0.1:8080");
        let err = load(&[("ASCOLTO__HTTP__LISTEN", "localhost")]).unwrap_err();
        assert!(err.to_string().contains("http.listen"), "{err}");
        let err = load(&[("ASCOLTO__HTTP__MAX_BODY_KB", "0")]).unwrap_err();
        assert!(err.to_string().contains("http.max_body_kb"), "{err}");
        let err = load(&[("ASCOLTO__META__VERSION", "21")]).unwrap_err();
        assert!(err.to_string().contains("meta.version"), "{err}");
        let err = load(&[("ASCOLTO__META__GRAPH_BASE", "graph.facebook.com")]).unwrap_err();
        assert!(err.to_string().contains("meta.graph_base"), "{err}");
        assert_eq!(
            load(&[]).unwrap().meta.rate_limit_wait.0,
            Duration::seconds(60)
        );
        for out_of_range in ["0s", "2h"] {
            let err = load(&[("ASCOLTO__META__RATE_LIMIT_WAIT", out_of_range)]).unwrap_err();
            assert!(err.to_string().contains("meta.rate_limit_wait"), "{err}");
        }
        let mut s = load(&[]).unwrap();
        let page = |id: &str| MetaPageSettings {
            id: id.into(),
            name: String::new(),
            instagram_id: String::new(),
            instagram_username: String::new(),
        };
        s.meta.pages = vec![page("123")];
        s.validate().unwrap();
        assert!(s.needs_http());
        s.meta.pages = vec![page("123"), page("123")];
        let err = s.validate().unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        s.meta.pages = vec![page("my-page")];
        let err = s.validate().unwrap_err();
        assert!(err.to_string().contains("meta.pages[0].id"), "{err}");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30m"), Ok(Duration::minutes(30)));
        assert_eq!(parse_duration("24h"), Ok(Duration::hours(24)));
        assert_eq!(parse_duration("7d"), Ok(Duration::days(7)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration(" 1h 30min "), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::seconds(90)));
        assert_eq!(
            parse_duration("24"),
            Err(DurationError::NoUnit("24".into()))
        );
        assert!(matches!(
            parse_duration("3w"),
            Err(DurationError::Unit { .. })
        ));
        assert!(matches!(
            parse_duration("h"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(parse_duration(""), Err(DurationError::Empty)));
        assert!(matches!(
            parse_duration("99999999999999d"),
            Err(DurationError::TooLong(_))
        ));
    }

    /// Every leaf key of the committed `default.toml`, as `section.key` paths.
    fn default_keys() -> Vec<String> {
        fn walk(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
            for (key, value) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match value {
                    toml::Value::Table(inner) => walk(&path, inner, out),
                    _ => out.push(path),
                }
            }
        }
        let text = std::fs::read_to_string(config_dir().join("default.toml")).unwrap();
        let mut keys = Vec::new();
        walk("", &text.parse::<toml::Table>().unwrap(), &mut keys);
        keys
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// A moderator may put anything in an `ASCOLTO__SECTION__KEY` variable: the bot starts
        /// or refuses with a message naming the key, and never panics.
        #[test]
        fn any_value_for_any_key_loads_or_is_refused_naming_the_key(
            pick in proptest::prelude::any::<proptest::sample::Index>(),
            value in "(\\PC{0,12}|-?[0-9]{1,22}|[0-9]{1,6}(s|m|h|d|min)|true|false|,|[0-9]{1,20}(,[0-9]{0,20}){0,3})",
        ) {
            let keys = default_keys();
            let key = pick.get(&keys);
            let var = format!("ASCOLTO__{}", key.replace('.', "__").to_uppercase());
            let env = HashMap::from([(var, value.clone())]);
            if let Err(e) = Settings::load_with_env(&config_dir(), Some(env)) {
                let message = e.to_string();
                let last = key.rsplit('.').next().unwrap_or(key);
                proptest::prop_assert!(
                    message.contains(key.as_str()) || message.contains(last),
                    "{key} = {value:?}: {message}"
                );
            }
        }

        /// A `local.toml` with any text in it, broken TOML included, is refused with a message
        /// naming the file, or loads; it never panics.
        #[test]
        fn any_local_toml_loads_or_is_refused_naming_the_file(
            text in "(\\PC|\n|\\[|\\]|=|\"|\\.){0,80}",
            pick in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::copy(config_dir().join("default.toml"), dir.path().join("default.toml")).unwrap();
            // Half the cases put the text after a real section header, so values reach the typed
            // settings and not only the TOML parser.
            let keys = default_keys();
            let key = pick.get(&keys);
            let (section, _) = key.rsplit_once('.').unwrap_or(("", key));
            let local = if text.len() % 2 == 0 && !section.is_empty() {
                format!("[{section}]\n{text}")
            } else {
                text.clone()
            };
            std::fs::write(dir.path().join("local.toml"), &local).unwrap();
            if let Err(e) = Settings::load_with_env(dir.path(), Some(HashMap::new())) {
                let message = e.to_string();
                proptest::prop_assert!(message.contains("local.toml"), "{local:?}: {message}");
            }
        }
    }
}
