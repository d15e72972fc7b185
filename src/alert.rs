//! What a moderator sees for a flagged comment, independent of where it is shown.
//!
//! The Discord embed and the terminal output of `demo`/`replay` are both built from one
//! [`AlertView`], so the demo shows exactly what moderators will get in chat. The queue a
//! moderator asks for (`/ascolto queue` on Discord, `/queue` on Telegram) is one renderer,
//! [`queue_message`], written into either room through [`Room`].

use chrono::{DateTime, Duration, Utc};

use crate::comment::Source;
use crate::explain;
use crate::lifecycle::{CommentState, StoredComment};
use crate::rules::{Label, Severity};
use crate::sla::{format_wait, Sla, SlaView};
use crate::store::OpenQueue;
use crate::text::cut_chars;

/// A moderators' room (a Discord channel or a Telegram chat): what text from members needs
/// before it can be quoted there, how it marks emphasis and links, and how long one message
/// may be. Renderers that quote members (the digest, escalations, the queue) ask the room
/// instead of knowing its platform.
pub trait Room {
    /// `text` made safe to quote inline: it can neither change the layout nor ping anyone.
    fn quote(&self, text: &str) -> String;
    /// The longest message the room accepts, in [`Room::length`] units.
    fn message_limit(&self) -> usize;
    /// How long `text` is as the room counts it against [`Room::message_limit`].
    fn length(&self, text: &str) -> usize {
        text.chars().count()
    }
    /// `text` (written by Ascolto, never by a member) in bold, where the room has markup.
    fn strong(&self, text: &str) -> String {
        text.to_owned()
    }
    /// A link to `url` reading `label`, where the room has markup; else the address.
    fn link(&self, _label: &str, url: &str) -> String {
        url.to_owned()
    }
}

/// Comments listed at most by [`queue_message`].
pub const QUEUE_SHOWN: usize = 15;

/// The moderators' queue as one message of `room`: how many comments wait, the oldest of them
/// (as many whole lines as fit), and how many more. Lines are never cut, so the count of the
/// rest always shows.
pub fn queue_message(queue: &OpenQueue, now: DateTime<Utc>, room: &dyn Room) -> String {
    // Counted apart from the page read: a comment closed in between must not show "0 waiting".
    let waiting = queue.waiting.max(queue.oldest.len() as u64);
    if waiting == 0 {
        return "Nothing is waiting for an answer. 🎉".to_owned();
    }
    let mut text = format!(
        "{} (oldest first)\n",
        room.strong(&format!("{waiting} waiting for an answer"))
    );
    let mut shown = 0u64;
    for stored in &queue.oldest {
        let view = AlertView::new(stored, now);
        let labels = match view.labels_text() {
            l if l.is_empty() => "flagged".to_owned(),
            l => l,
        };
        let link = view
            .link
            .as_deref()
            .map(|url| format!(" — {}", room.link("open", url)))
            .unwrap_or_default();
        let line = format!(
            "• {} — {} in {}, waiting {}{link}\n  > {}\n",
            room.strong(&labels),
            room.quote(&view.author),
            room.quote(&view.place()),
            format_wait(view.waited),
            room.quote(&cut_chars(&view.excerpt, 80)),
        );
        let rest = more_waiting(waiting - shown - 1);
        if room.length(&text) + room.length(&line) + room.length(&rest) > room.message_limit() {
            break;
        }
        text.push_str(&line);
        shown += 1;
    }
    text.push_str(&more_waiting(waiting - shown));
    text
}

fn more_waiting(more: u64) -> String {
    if more == 0 {
        String::new()
    } else {
        format!("…and {more} more.\n")
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::markdown::{DiscordRoom, MESSAGE_LIMIT as DISCORD_LIMIT};
    use crate::escalation::tests::{stored, t0};
    use crate::telegram::room::TelegramRoom;

    fn queue(waiting: u64, shown: usize, text: &str, author: &str) -> OpenQueue {
        OpenQueue {
            waiting,
            oldest: (0..shown)
                .map(|i| {
                    let mut s = stored(
                        &format!("c{i}"),
                        i as i64,
                        Label::Complaint,
                        CommentState::Alerted,
                    );
                    s.comment.text = text.to_owned();
                    s.comment.author.name = author.to_owned();
                    s
                })
                .collect(),
        }
    }

    /// Comments listed: every line of the list starts a line with "• ", and member text
    /// never does (rooms quote it on one line).
    fn listed(message: &str) -> u64 {
        message.matches("\n• ").count() as u64
    }

    #[test]
    fn a_long_queue_shows_whole_lines_within_one_message_and_counts_the_rest() {
        let long = "è ".repeat(200);
        let text = queue_message(&queue(40, QUEUE_SHOWN, &long, "nora"), t0(), &DiscordRoom);
        assert!(text.chars().count() <= DISCORD_LIMIT, "{}", text.len());
        let lines = listed(&text);
        assert!((5..QUEUE_SHOWN as u64).contains(&lines), "{lines}: {text}");
        assert!(
            text.ends_with(&format!("…and {} more.\n", 40 - lines)),
            "{text}"
        );
        // Oldest first: the first comments of the queue are the ones shown.
        assert!(text.contains("/c0>)") && !text.contains(&format!("/c{lines}>)")));
    }

    #[test]
    fn a_short_queue_is_shown_whole_in_each_rooms_markup() {
        let short = queue(2, 2, "Where is my *parcel*? @everyone", "nora");
        let discord = queue_message(&short, t0(), &DiscordRoom);
        assert!(discord.starts_with("**2 waiting for an answer** (oldest first)\n"));
        assert!(discord.contains("• **complaint** — nora in #support, waiting "));
        assert!(discord.contains("[open](<https://discord.com/channels/7/42/c0>)"));
        assert!(discord.contains("> Where is my \\*parcel\\*?"), "{discord}");
        assert_eq!(listed(&discord), 2);
        assert!(!discord.contains("more."), "{discord}");
        let telegram = queue_message(&short, t0(), &TelegramRoom);
        assert!(telegram.starts_with("2 waiting for an answer (oldest first)\n"));
        assert!(telegram.contains("• complaint — nora in #support, waiting "));
        assert!(telegram.contains(" — https://discord.com/channels/7/42/c0\n"));
        assert!(
            telegram.contains("@\u{2060}everyone"),
            "mentions defused: {telegram}"
        );
        assert_eq!(listed(&telegram), 2);
    }

    #[test]
    fn an_empty_queue_says_so_and_a_closed_comment_never_shows_zero_waiting() {
        assert_eq!(
            queue_message(&queue(0, 0, "", "nora"), t0(), &TelegramRoom),
            "Nothing is waiting for an answer. 🎉"
        );
        // Closed between the count and the read: never "0 waiting" above a listed comment.
        let raced = queue_message(&queue(0, 1, "hi", "nora"), t0(), &DiscordRoom);
        assert!(raced.starts_with("**1 waiting"), "{raced}");
    }

    proptest::proptest! {
        /// Whatever members write and however long the queue, the answer is one message the
        /// room accepts, of whole lines, and the lines shown plus the "…and N more" add up to
        /// the count.
        #[test]
        fn any_queue_fits_one_message_and_accounts_for_every_comment(
            text in "\\PC{0,300}",
            author in "\\PC{1,40}",
            shown in 0usize..=QUEUE_SHOWN,
            more in 0u64..100_000,
            on_telegram in proptest::bool::ANY,
        ) {
            let room: &dyn Room = if on_telegram { &TelegramRoom } else { &DiscordRoom };
            let waiting = shown as u64 + more;
            let message = queue_message(&queue(waiting, shown, &text, &author), t0(), room);
            proptest::prop_assert!(room.length(&message) <= room.message_limit());
            let rest = waiting - listed(&message);
            if rest > 0 {
                let tail = format!("…and {rest} more.\n");
                proptest::prop_assert!(message.ends_with(&tail), "{}", message);
            } else {
                proptest::prop_assert!(!message.contains("\n…and "), "{}", message);
            }
        }
    }
}
