//! What a moderator sees for a flagged comment, independent of where it is shown.
//!
//! The Discord embed and the terminal output of `demo`/`replay` are both built from one
//! [`AlertView`], so the demo shows exactly what moderators will get in chat.

use chrono::{DateTime, Duration, Utc};

use crate::comment::Source;
use crate::explain;
use crate::lifecycle::{CommentState, StoredComment};
use crate::rules::{Label, Severity};
use crate::sla::{format_wait, Sla, SlaView};
use crate::text::cut_chars;

/// A moderators' room (a Discord channel today): what text from members needs before it can
/// be quoted there, and how long one message may be. Renderers that quote members (the
/// digest, escalations) ask the room instead of knowing its platform.
pub trait Room {
    /// `text` made safe to quote inline: it can neither change the layout nor ping anyone.
    fn quote(&self, text: &str) -> String;
    /// The longest message the room accepts, in characters.
    fn message_limit(&self) -> usize;
}

/// Comment text in an alert is cut to this many characters.
pub const EXCERPT_CHARS: usize = 500;

/// Everything an alert shows.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    pub comment_id: String,
    /// The platform the comment came from.
    pub source: Source,
    pub author: String,
    pub channel: String,
    pub is_dm: bool,
    pub link: Option<String>,
    pub excerpt: String,
    pub labels: Vec<Label>,
    pub severity: Option<Severity>,
    /// Why it was flagged: one line per fired rule ([`explain::why`]).
    pub why: Vec<String>,
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
                explain::why_lines(v, 5),
            ),
            None => (Vec::new(), None, Vec::new()),
        };
        let until = stored.closed_at.unwrap_or(now);
        AlertView {
            comment_id: comment.id.0.clone(),
            source: comment.source,
            author: comment.author.name.clone(),
            channel: comment.place.channel_name.clone(),
            is_dm: comment.place.is_dm,
            link: comment.link.clone(),
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

    /// Where the comment was: `#support` or "direct message" for a Discord (or unnamed
    /// replayed) comment; other platforms' channels carry their platform in their name
    /// (`Telegram · Clienti`), as [`Comment::place_described`](crate::comment::Comment::place_described).
    pub fn place(&self) -> String {
        match self.source {
            Source::Discord | Source::Replay if self.is_dm => "direct message".to_owned(),
            Source::Discord | Source::Replay => format!("#{}", self.channel),
            Source::Facebook | Source::Instagram | Source::Messenger | Source::Telegram => {
                self.channel.clone()
            }
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
        for why in &self.why {
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
