//! Who may do what: the one place that answers "is this member a moderator?" (and "is this
//! member staff?"), used by the buttons and attached to the slash commands that change things.

use poise::serenity_prelude as serenity;
use poise::CreateReply;

use crate::config::DiscordSettings;

use super::types::{Context, DiscordError};

/// A member with one of the configured moderator roles may act on alerts.
pub fn is_moderator(roles: &[serenity::RoleId], discord: &DiscordSettings) -> bool {
    roles
        .iter()
        .any(|role| discord.moderator_roles.contains(&role.get()))
}

/// Staff messages answer open comments and are never flagged themselves. Moderators count as
/// staff: a moderator answering in the channel is exactly the answer the alert waits for.
pub fn is_staff(roles: &[serenity::RoleId], discord: &DiscordSettings) -> bool {
    is_moderator(roles, discord)
        || roles
            .iter()
            .any(|role| discord.staff_roles.contains(&role.get()))
}

/// The same question for an interaction's member; outside a guild (a DM) nobody is a moderator.
pub fn member_is_moderator(member: Option<&serenity::Member>, discord: &DiscordSettings) -> bool {
    member.is_some_and(|m| is_moderator(&m.roles, discord))
}

/// What a member without a moderator role is told.
pub const REFUSAL: &str =
    "Only moderators can do this. Nothing was sent or changed. (Ask an admin for a moderator role.)";

/// poise check for commands that change something: refuses, privately, anyone else.
pub async fn moderator(ctx: Context<'_>) -> Result<bool, DiscordError> {
    let allowed = match ctx.author_member().await {
        Some(member) => is_moderator(&member.roles, ctx.data().discord()),
        None => false,
    };
    if !allowed {
        ctx.send(CreateReply::default().content(REFUSAL).ephemeral(true))
            .await?;
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DiscordSettings {
        DiscordSettings::for_tests()
    }

    #[test]
    fn only_moderator_roles_moderate_and_moderators_are_staff() {
        let s = settings();
        let r = |id| serenity::RoleId::new(id);
        assert!(is_moderator(&[r(5), r(10)], &s));
        assert!(!is_moderator(&[r(20)], &s));
        assert!(!is_moderator(&[], &s));
        assert!(is_staff(&[r(20)], &s));
        assert!(is_staff(&[r(10)], &s));
        assert!(!is_staff(&[r(5)], &s));
        assert!(!member_is_moderator(None, &s));
    }
}
