//! What is Discord's about writing in Discord: the message length limit, Markdown escaping
//! and mention defusing for member text, and the links that open a message. The rest of
//! Ascolto asks these through [`DiscordRoom`] and [`Comment::link`](crate::comment::Comment).

use crate::alert::Room;

/// Discord refuses messages longer than this many characters.
pub const MESSAGE_LIMIT: usize = 2000;

/// The moderators' channel on Discord, as the renderers of digests and escalations see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscordRoom;

impl Room for DiscordRoom {
    fn quote(&self, text: &str) -> String {
        chat_safe(text)
    }

    fn message_limit(&self) -> usize {
        MESSAGE_LIMIT
    }

    fn strong(&self, text: &str) -> String {
        format!("**{text}**")
    }

    /// The address in angle brackets: a link, without a preview of the page under it.
    fn link(&self, label: &str, url: &str) -> String {
        format!("[{label}](<{url}>)")
    }
}

/// The link that opens a message in Discord (`@me` for direct messages).
pub fn jump_link(guild: Option<&str>, channel: &str, message: &str) -> String {
    let guild = guild.unwrap_or("@me");
    format!("https://discord.com/channels/{guild}/{channel}/{message}")
}

/// User-written text made safe to embed in a Discord message written by the bot: Markdown
/// markers are escaped and mentions defused, so a member's name or words can neither change
/// the layout nor ping anyone. Line breaks become spaces: it is meant for inline use, never
/// at the start of a line (where `#` or `-` would still start a heading or a list).
pub fn chat_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '[' | ']' | '<' => {
                out.push('\\');
                out.push(c);
            }
            // A zero-width space after @ keeps @everyone and @here from pinging.
            '@' => out.push_str("@\u{200B}"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_text_cannot_format_or_ping_in_chat() {
        assert_eq!(
            chat_safe("**hi** @everyone <@&1>\nbye"),
            "\\*\\*hi\\*\\* @\u{200B}everyone \\<@\u{200B}&1\\> bye"
        );
    }

    #[test]
    fn links_open_guild_messages_and_direct_messages() {
        assert_eq!(
            jump_link(Some("7"), "42", "1"),
            "https://discord.com/channels/7/42/1"
        );
        assert_eq!(
            jump_link(None, "42", "1"),
            "https://discord.com/channels/@me/42/1"
        );
    }
}
