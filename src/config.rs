//! Settings: `config/default.toml`, then `config/local.toml`, then `ASCOLTO__SECTION__KEY`
//! environment variables, deserialised into one typed [`Settings`] and validated at start.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default), and the
//! Discord token is read only from the `DISCORD_TOKEN` environment variable, never from files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::rules::Lang;
use crate::triage::TriageOptions;

/// Why the settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("setting `{field}` is invalid: {message}")]
    Invalid { field: String, message: String },
    #[error("the DISCORD_TOKEN environment variable is not set (the token is never read from config files)")]
    MissingToken,
}

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
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// sqlx database URL, e.g. `sqlite://data/ascolto.db`.
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
    #[serde(default)]
    pub watched_channels: Vec<u64>,
    /// Channel ids never watched (the alert channel is always excluded).
    #[serde(default)]
    pub excluded_channels: Vec<u64>,
    /// Where moderators get alerts.
    #[serde(default)]
    pub alert_channel: u64,
    /// Roles whose members may act on alerts.
    #[serde(default)]
    pub moderator_roles: Vec<u64>,
    /// Roles whose messages count as answers.
    #[serde(default)]
    pub staff_roles: Vec<u64>,
    /// When true, a reply by anyone but the author counts as an answer, not only staff.
    #[serde(default)]
    pub anyone_answers: bool,
    /// Most messages fetched per channel when catching up after downtime.
    pub backfill_limit: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `ascolto=debug,serenity=warn`.
    pub level: String,
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
        let mut environment = config::Environment::with_prefix("ASCOLTO")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("discord.watched_channels")
            .with_list_parse_key("discord.excluded_channels")
            .with_list_parse_key("discord.moderator_roles")
            .with_list_parse_key("discord.staff_roles");
        if let Some(env) = env {
            environment = environment.source(Some(env));
        }
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(default))
            .add_source(config::File::from(dir.join("local.toml")).required(false))
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
        if !(self.store.url.starts_with("sqlite:")) {
            return Err(invalid(
                "store.url",
                format!(
                    "`{}` is not a sqlite: URL (the embedded store)",
                    self.store.url
                ),
            ));
        }
        self.fallback_language()?;
        if self.triage.new_member_days < 0 {
            return Err(invalid("triage.new_member_days", "must be 0 or more"));
        }
        if self.discord.backfill_limit > 10_000 {
            return Err(invalid("discord.backfill_limit", "must be at most 10000"));
        }
        let base = &self.discord.api_base;
        if !base.is_empty() && !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(invalid(
                "discord.api_base",
                "must start with http:// or https:// (or be empty for discord.com)",
            ));
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

    /// Checks the settings the live Discord bot needs, before connecting.
    pub fn validate_for_discord(&self) -> Result<(), ConfigError> {
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

/// The bot token, from the environment only; wrapped so it never appears in logs.
pub fn discord_token() -> Result<SecretString, ConfigError> {
    match std::env::var("DISCORD_TOKEN") {
        Ok(token) if !token.trim().is_empty() => Ok(SecretString::from(token.trim().to_owned())),
        _ => Err(ConfigError::MissingToken),
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
    fn a_typo_in_a_key_is_an_error_naming_it() {
        let env = HashMap::from([(
            "ASCOLTO__TRIAGE__FALLBACK_LANGUAG".to_owned(),
            "it".to_owned(),
        )]);
        let err = Settings::load_with_env(&config_dir(), Some(env)).unwrap_err();
        assert!(err.to_string().contains("fallback_languag"), "{err}");
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
}
