//! What a moderator sees for a flagged comment, independent of where it is shown.
//!
//! The Discord embed and the terminal output of `demo`/`replay` are both built from one
//! [`AlertView`], so the demo shows exactly what moderators will get in chat.

use chrono::{DateTime, Duration, Utc};

use crate::comment::{Comment, Source};
use crate::rules::{cut_chars, Label, Severity};
use crate::sla::{Sla, SlaView};
use crate::store::{CommentState, StoredComment};

/// Comment text in an alert is cut to this many characters.
pub const EXCERPT_CHARS: usize = 500;

/// Why a comment was flagged: one fired rule and the words that fired it.
#[derive(Debug, Clone, PartialEq)]
pub struct Why {
    pub rule: String,
    pub topic: Option<String>,
    pub matched: Vec<String>,
}

/// Everything an alert shows.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    pub comment_id: String,
    pub author: String,
    pub channel: String,
    pub is_dm: bool,
    pub link: Option<String>,
    pub excerpt: String,
    pub labels: Vec<Label>,
    pub severity: Option<Severity>,
    pub why: Vec<Why>,
    pub waited: Duration,
    pub draft: Option<String>,
    pub state: CommentState,
    /// Who closed it, for closed alerts ("Approved by Mia").
    pub closed_by: Option<String>,
    /// The response-time target and how much of it is left, when one applies
    /// (set by [`AlertView::with_sla`]).
    pub sla: Option<SlaView>,
}

impl AlertView {
    pub fn new(stored: &StoredComment, now: DateTime<Utc>) -> AlertView {
        let comment = &stored.comment;
        let (labels, severity, why) = match &stored.verdict {
            Some(v) => (
                v.labels.iter().map(|l| l.label).collect(),
                v.severity(),
                v.matches
                    .iter()
                    .map(|m| Why {
                        rule: m.rule.to_string(),
                        topic: m.topic.as_deref().map(str::to_owned),
                        matched: m.evidence.iter().take(5).map(|e| e.text.clone()).collect(),
                    })
                    .collect(),
            ),
            None => (Vec::new(), None, Vec::new()),
        };
        let until = stored.closed_at.unwrap_or(now);
        AlertView {
            comment_id: comment.id.0.clone(),
            author: comment.author.name.clone(),
            channel: comment.place.channel_name.clone(),
            is_dm: comment.place.is_dm,
            link: jump_link(comment),
            excerpt: cut_chars(&comment.text, EXCERPT_CHARS),
            labels,
            severity,
            why,
            waited: (until - comment.time).max(Duration::zero()),
            draft: stored.draft.as_ref().map(|d| d.text.clone()),
            state: stored.state,
            closed_by: stored.answered_by.clone(),
            sla: None,
        }
    }

    /// Adds the comment's response-time target reading ("target 30 min: 5 min left").
    /// Adapters call this when they refresh an alert, so it warns as the target nears.
    pub fn with_sla(mut self, stored: &StoredComment, sla: &Sla, now: DateTime<Utc>) -> Self {
        self.sla = sla.clock_for(stored).map(|clock| clock.view(now));
        self
    }

    /// "complaint, urgent".
    pub fn labels_text(&self) -> String {
        self.labels
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One line per fired rule: `rule (topic): "word", "word"`.
    pub fn why_lines(&self) -> Vec<String> {
        self.why
            .iter()
            .map(|w| {
                let topic = w
                    .topic
                    .as_ref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default();
                let matched = w
                    .matched
                    .iter()
                    .map(|m| format!("\"{m}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{}{topic}: {matched}", w.rule)
            })
            .collect()
    }

    pub fn place(&self) -> String {
        if self.is_dm {
            "direct message".to_owned()
        } else {
            format!("#{}", self.channel)
        }
    }

    /// The alert as plain text for the terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "⚑ {} — {} in {} (waiting {})\n",
            self.labels_text(),
            self.author,
            self.place(),
            format_wait(self.waited)
        );
        if let Some(sla) = &self.sla {
            out.push_str(&format!("  {} {}\n", sla.symbol(), sla.text()));
        }
        for line in self.excerpt.lines() {
            out.push_str(&format!("  │ {line}\n"));
        }
        for why in self.why_lines() {
            out.push_str(&format!("  why: {why}\n"));
        }
        match &self.draft {
            Some(draft) => {
                out.push_str("  draft:\n");
                for line in draft.lines() {
                    out.push_str(&format!("  » {line}\n"));
                }
            }
            None => out.push_str("  draft: (none)\n"),
        }
        out
    }
}

/// A link that opens the comment in Discord; none for replayed comments.
pub fn jump_link(comment: &Comment) -> Option<String> {
    if comment.source != Source::Discord {
        return None;
    }
    let guild = comment.place.guild.as_deref().unwrap_or("@me");
    Some(format!(
        "https://discord.com/channels/{guild}/{}/{}",
        comment.place.channel, comment.id
    ))
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

/// A waiting time as people say it: "45 min", "2 h 05 min", "3 d 4 h".
pub fn format_wait(d: Duration) -> String {
    let minutes = d.num_minutes().max(0);
    if minutes < 60 {
        format!("{minutes} min")
    } else if minutes < 24 * 60 {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    } else {
        format!("{} d {} h", minutes / (24 * 60), (minutes / 60) % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_naturally() {
        assert_eq!(format_wait(Duration::minutes(45)), "45 min");
        assert_eq!(format_wait(Duration::minutes(125)), "2 h 05 min");
        assert_eq!(format_wait(Duration::hours(76)), "3 d 4 h");
        assert_eq!(format_wait(Duration::minutes(-3)), "0 min");
    }

    #[test]
    fn member_text_cannot_format_or_ping_in_chat() {
        assert_eq!(
            chat_safe("**hi** @everyone <@&1>\nbye"),
            "\\*\\*hi\\*\\* @\u{200B}everyone \\<@\u{200B}&1\\> bye"
        );
    }
}
