//! Alerts in the moderators' channel: one message per flagged comment, built from the same
//! [`AlertView`] the demo prints, with the five buttons moderators act with.
//!
//! An alert is always rendered from the database (the comment's state and its audit trail),
//! never from what a handler happens to hold in memory, so any update — after a button, an
//! edit, a deletion, an answer in the channel, or a restart — shows the same truth.
//! Button ids carry the action and the comment id (`ascolto:approve:<comment id>`), so buttons
//! on alerts posted before a restart still work.
//!
//! Posting and editing alerts is the outbox's (`delivery` renders with [`render`] when it
//! delivers); this module decides what an alert looks like.

use chrono::{DateTime, Utc};
use poise::serenity_prelude as serenity;
use serenity::{ButtonStyle, CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter};
use tracing::warn;

use crate::alert::AlertView;
use crate::comment::CommentId;
use crate::lifecycle::{Action, ActionKind, CommentState, StoredComment};
use crate::rules::Severity;
use crate::sla::{format_wait, SlaStatus};
use crate::text::cut_chars;

use super::types::{Data, DiscordError};

/// What every custom id Ascolto puts on a component or modal starts with.
const PREFIX: &str = "ascolto";

/// A button on an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    Approve,
    Edit,
    AnotherWording,
    Dismiss,
    MarkAnswered,
}

impl ButtonAction {
    pub const ALL: [ButtonAction; 5] = [
        ButtonAction::Approve,
        ButtonAction::Edit,
        ButtonAction::AnotherWording,
        ButtonAction::Dismiss,
        ButtonAction::MarkAnswered,
    ];

    /// The word in the custom id; stable, because alerts already posted carry it.
    pub fn key(self) -> &'static str {
        match self {
            ButtonAction::Approve => "approve",
            ButtonAction::Edit => "edit",
            ButtonAction::AnotherWording => "reword",
            ButtonAction::Dismiss => "dismiss",
            ButtonAction::MarkAnswered => "answered",
        }
    }

    /// What the moderator reads on the button.
    pub fn label(self) -> &'static str {
        match self {
            ButtonAction::Approve => "Approve",
            ButtonAction::Edit => "Edit",
            ButtonAction::AnotherWording => "Another wording",
            ButtonAction::Dismiss => "Dismiss",
            ButtonAction::MarkAnswered => "Mark answered",
        }
    }

    fn style(self) -> ButtonStyle {
        match self {
            ButtonAction::Approve => ButtonStyle::Success,
            ButtonAction::Edit => ButtonStyle::Primary,
            ButtonAction::AnotherWording | ButtonAction::MarkAnswered => ButtonStyle::Secondary,
            ButtonAction::Dismiss => ButtonStyle::Danger,
        }
    }

    pub fn custom_id(self, comment: &CommentId) -> String {
        format!("{PREFIX}:{}:{comment}", self.key())
    }
}

/// The custom id of the modal the Edit button opens; its submit sends the edited text.
pub fn edit_modal_id(comment: &CommentId) -> String {
    format!("{PREFIX}:edited:{comment}")
}

/// What a custom id coming back from Discord asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomId {
    Button(ButtonAction, CommentId),
    EditedReply(CommentId),
}

impl CustomId {
    /// `None` for ids Ascolto did not write (another bot's components, a malformed id).
    pub fn parse(value: &str) -> Option<CustomId> {
        let mut parts = value.splitn(3, ':');
        if parts.next()? != PREFIX {
            return None;
        }
        let key = parts.next()?;
        let id = parts.next().filter(|id| !id.is_empty())?;
        let comment = CommentId::new(id);
        if key == "edited" {
            return Some(CustomId::EditedReply(comment));
        }
        ButtonAction::ALL
            .into_iter()
            .find(|a| a.key() == key)
            .map(|action| CustomId::Button(action, comment))
    }
}

/// Where an alert's comment stands, in words a moderator reads at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Sending,
    Replied {
        by: String,
        text: String,
        edited: bool,
    },
    Dismissed {
        by: String,
    },
    MarkedAnswered {
        by: String,
    },
    AnsweredInChannel {
        by: String,
    },
    Deleted,
    NoLongerFlagged,
}

impl Outcome {
    /// Reads the outcome from the comment's state and the last closing entry of its audit trail.
    pub fn of(stored: &StoredComment, actions: &[Action]) -> Outcome {
        let closing = actions
            .iter()
            .rev()
            .find(|a| a.kind != ActionKind::AnotherWording);
        let by = || {
            closing
                .and_then(|a| a.moderator_name.clone())
                .or_else(|| stored.answered_by.clone())
                .unwrap_or_else(|| "a moderator".to_owned())
        };
        match stored.state {
            CommentState::Flagged | CommentState::Alerted => Outcome::Open,
            CommentState::Sending => Outcome::Sending,
            CommentState::Replied => Outcome::Replied {
                by: by(),
                text: closing
                    .and_then(|a| a.sent_text.clone())
                    .or_else(|| stored.draft.as_ref().map(|d| d.text.clone()))
                    .unwrap_or_default(),
                edited: closing.is_some_and(|a| a.kind == ActionKind::Edited),
            },
            CommentState::Dismissed => Outcome::Dismissed { by: by() },
            CommentState::Answered => match closing.map(|a| a.kind) {
                Some(ActionKind::MarkedAnswered) => Outcome::MarkedAnswered { by: by() },
                _ => Outcome::AnsweredInChannel {
                    by: stored
                        .answered_by
                        .clone()
                        .unwrap_or_else(|| by().to_owned()),
                },
            },
            CommentState::Withdrawn => Outcome::Deleted,
            CommentState::New | CommentState::Clear => Outcome::NoLongerFlagged,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Outcome::Open)
    }

    /// One line for the alert's status field.
    pub fn line(&self) -> Option<String> {
        Some(match self {
            Outcome::Open => return None,
            Outcome::Sending => "⏳ Sending the reply…".to_owned(),
            Outcome::Replied { by, edited, .. } => {
                format!(
                    "✅ Replied by {by}{}",
                    if *edited { " (edited)" } else { "" }
                )
            }
            Outcome::Dismissed { by } => format!("🚫 Dismissed by {by}"),
            Outcome::MarkedAnswered { by } => format!("☑️ Marked answered by {by}"),
            Outcome::AnsweredInChannel { by } => format!("💬 Answered in the channel by {by}"),
            Outcome::Deleted => "🗑️ Deleted by the author".to_owned(),
            Outcome::NoLongerFlagged => {
                "✏️ The author edited it; it no longer needs a reply".to_owned()
            }
        })
    }
}

/// Discord's limits for embed parts.
const TITLE_MAX: usize = 256;
const FIELD_MAX: usize = 1024;

/// An alert's content as plain data, so it can be checked without Discord.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub title: String,
    pub url: Option<String>,
    pub description: String,
    pub fields: Vec<(String, String, bool)>,
    pub footer: String,
    pub color: u32,
    /// Buttons are shown only while the comment waits for a moderator.
    pub buttons: bool,
}

impl Card {
    pub fn new(
        view: &AlertView,
        written: DateTime<Utc>,
        author_id: &str,
        outcome: &Outcome,
    ) -> Card {
        let labels = match view.labels_text() {
            l if l.is_empty() => "flagged".to_owned(),
            l => l,
        };
        let title = cut_chars(
            &format!("⚑ {labels} — {} in {}", view.author, view.place()),
            TITLE_MAX,
        );

        let mut description = String::new();
        for line in view.excerpt.lines() {
            description.push_str("> ");
            description.push_str(line);
            description.push('\n');
        }
        match outcome {
            Outcome::Open | Outcome::Sending => {
                if let Some(draft) = &view.draft {
                    description.push_str("\n**Suggested reply**\n");
                    description.push_str(draft);
                }
            }
            Outcome::Replied { by, text, .. } => {
                description.push_str(&format!("\n**Reply sent by {by}**\n"));
                description.push_str(text);
            }
            _ => {}
        }

        let author = if !author_id.is_empty() && author_id.bytes().all(|b| b.is_ascii_digit()) {
            format!("{} (<@{author_id}>)", view.author)
        } else {
            view.author.clone()
        };
        let place = match &view.link {
            Some(link) => format!("[{}]({link})", view.place()),
            None => view.place(),
        };
        let waited = if outcome.is_open() {
            format!(
                "{} (since <t:{}:R>)",
                format_wait(view.waited),
                written.timestamp()
            )
        } else {
            format_wait(view.waited)
        };
        let severity = view.severity.map(|s| format!(" · {s}")).unwrap_or_default();
        let why = &view.why;
        let mut fields = vec![
            ("Author".to_owned(), author, true),
            ("Where".to_owned(), place, true),
            (
                if outcome.is_open() {
                    "Waiting"
                } else {
                    "Waited"
                }
                .to_owned(),
                waited,
                true,
            ),
            ("Labels".to_owned(), format!("{labels}{severity}"), true),
            (
                "Why".to_owned(),
                if why.is_empty() {
                    "—".to_owned()
                } else {
                    why.join("\n")
                },
                false,
            ),
        ];
        // The target reading: a warning as it nears, "missed by" once breached, "met" after.
        if let Some(sla) = &view.sla {
            fields.push((
                "Target".to_owned(),
                format!("{} {}", sla.symbol(), sla.text()),
                true,
            ));
        }
        if let Some(line) = outcome.line() {
            fields.push(("Status".to_owned(), line, false));
        }
        for field in &mut fields {
            field.1 = cut_chars(&field.1, FIELD_MAX);
        }

        Card {
            title,
            url: view.link.clone(),
            description,
            fields,
            footer: format!("comment {}", view.comment_id),
            color: color(outcome, view.severity, view.sla.as_ref().map(|s| s.status)),
            buttons: outcome.is_open(),
        }
    }

    pub fn embed(&self) -> CreateEmbed {
        let mut embed = CreateEmbed::new()
            .title(&self.title)
            .description(&self.description)
            .color(self.color)
            .footer(CreateEmbedFooter::new(&self.footer));
        if let Some(url) = &self.url {
            embed = embed.url(url);
        }
        for (name, value, inline) in &self.fields {
            embed = embed.field(name, value, *inline);
        }
        embed
    }

    /// The button row while open; none once closed (an empty list removes existing buttons).
    pub fn components(&self, comment: &CommentId) -> Vec<CreateActionRow> {
        if !self.buttons {
            return Vec::new();
        }
        vec![CreateActionRow::Buttons(
            ButtonAction::ALL
                .into_iter()
                .map(|action| {
                    CreateButton::new(action.custom_id(comment))
                        .label(action.label())
                        .style(action.style())
                })
                .collect(),
        )]
    }
}

/// Open alerts take their severity's colour, turning red once the target is missed so a
/// late one stands out in a scrolled channel.
fn color(outcome: &Outcome, severity: Option<Severity>, sla: Option<SlaStatus>) -> u32 {
    match outcome {
        Outcome::Open | Outcome::Sending if sla == Some(SlaStatus::Breached) => 0xC0392B,
        Outcome::Open | Outcome::Sending => match severity {
            Some(Severity::Critical) => 0xC0392B,
            Some(Severity::High) => 0xE67E22,
            Some(Severity::Low) => 0x3498DB,
            Some(Severity::Medium) | None => 0xF1C40F,
        },
        Outcome::Replied { .. } => 0x2ECC71,
        _ => 0x95A5A6,
    }
}

/// The alert's embed and buttons for a comment as it is stored now.
pub async fn render(
    data: &Data,
    stored: &StoredComment,
) -> Result<(CreateEmbed, Vec<CreateActionRow>), DiscordError> {
    let actions = data.tracker.store().actions_for(&stored.comment.id).await?;
    let outcome = Outcome::of(stored, &actions);
    let now = data.tracker.clock().now();
    let view = AlertView::new(stored, now).with_sla(stored, &data.sla, now);
    let mut card = Card::new(
        &view,
        stored.comment.time,
        stored.comment.author.id.as_str(),
        &outcome,
    );
    // A direct message past its platform's reply window: Approve can no longer post, so say
    // so, and what is still possible, while it is open.
    if outcome.is_open() {
        if let Some(closed) = data.tracker.reply_window_closed(stored).await? {
            card.fields.push((
                "Reply window".to_owned(),
                cut_chars(
                    &format!(
                        "⚠️ {}",
                        closed_window_line(closed.last_message, closed.window, now)
                    ),
                    FIELD_MAX,
                ),
                false,
            ));
        }
    }
    // A reply given up by the outbox handed the comment back: say so while it is open.
    if outcome.is_open() {
        if let Some(reason) = data
            .tracker
            .store()
            .reply_given_up(&stored.comment.id)
            .await?
        {
            card.fields.push((
                "Status".to_owned(),
                cut_chars(&failed_reply_line(&reason), FIELD_MAX),
                false,
            ));
        }
    }
    Ok((card.embed(), card.components(&stored.comment.id)))
}

/// Why a direct message can no longer be answered with Approve, and what is still possible
/// (Meta's standard messaging window; the human-agent tag Meta offers for up to 7 days is
/// for people answering in Meta's own inbox, not for a bot's approved draft).
pub fn closed_window_line(
    last_message: chrono::DateTime<chrono::Utc>,
    window: chrono::Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let ago = (now - last_message).num_minutes().max(0);
    format!(
        "the person last wrote {} h {} min ago, and Meta accepts a page's reply to a direct message only within {} hours of the person's last message, so Approve cannot post it. You can still answer by hand from the Page's inbox in Meta Business Suite, then press Mark answered; if they write again, Approve works for another {} hours.",
        ago / 60,
        ago % 60,
        window.num_hours(),
        window.num_hours(),
    )
}

/// The status line of an alert whose approved reply could not be posted.
pub fn failed_reply_line(reason: &str) -> String {
    format!("⚠️ The approved reply could not be posted: {reason}. Nothing was sent; approve again once that is fixed, or answer yourself.")
}

fn snowflake(value: &str) -> Result<u64, DiscordError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|v| *v != 0)
        .ok_or_else(|| DiscordError::NotASnowflake {
            value: value.to_owned(),
        })
}

/// Queues an update of a comment's alert, re-rendered from the database when the outbox
/// delivers it (see `delivery`); several updates in a row coalesce into one edit.
pub async fn refresh(data: &Data, id: &CommentId) -> Result<(), DiscordError> {
    data.tracker.queue_alert_update(id).await?;
    Ok(())
}

/// As [`refresh`], logging instead of failing: used where nobody waits for the answer.
pub async fn refresh_logged(data: &Data, id: &CommentId) {
    if let Err(e) = refresh(data, id).await {
        warn!(comment = %id, error = %e, "could not queue the alert's update");
    }
}

/// Keeps the alerts of Meta's comments in step with what the Meta channel reports (answered,
/// edited, withdrawn), until the channel stops.
pub fn follow_meta(
    data: Data,
    mut notices: tokio::sync::mpsc::UnboundedReceiver<crate::meta::Notice>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(notice) = notices.recv().await {
            match notice {
                // Queued in the outbox with the comment itself, as for any flagged comment.
                crate::meta::Notice::Alert(_) => {}
                crate::meta::Notice::Refresh(id) => refresh_logged(&data, &id).await,
            }
        }
    })
}

pub(crate) fn parse_snowflake(value: &str) -> Result<u64, DiscordError> {
    snowflake(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::{Author, Comment, Place, Source};
    use chrono::TimeZone;

    #[test]
    fn custom_ids_round_trip_and_strangers_are_ignored() {
        let id = CommentId::new("1234567890123456789");
        for action in ButtonAction::ALL {
            let custom = action.custom_id(&id);
            assert!(custom.len() <= 100, "{custom}");
            assert_eq!(
                CustomId::parse(&custom),
                Some(CustomId::Button(action, id.clone()))
            );
        }
        assert_eq!(
            CustomId::parse(&edit_modal_id(&id)),
            Some(CustomId::EditedReply(id.clone()))
        );
        assert_eq!(
            CustomId::parse("ascolto:approve:1"),
            Some(CustomId::Button(ButtonAction::Approve, CommentId::new("1")))
        );
        assert_eq!(CustomId::parse("other:approve:1"), None);
        assert_eq!(CustomId::parse("ascolto:launch:1"), None);
        assert_eq!(CustomId::parse("ascolto:approve:"), None);
        assert_eq!(CustomId::parse("ascolto"), None);
    }

    proptest::proptest! {
        /// A click's custom id is whatever Discord sends back: forged or another bot's, it is
        /// read or ignored, never a panic; and every id Ascolto writes reads back the same,
        /// whatever the comment id holds (colons, any script).
        #[test]
        fn any_custom_id_is_read_or_ignored_and_ours_round_trip(
            value in "\\PC{0,120}",
            id in "\\PC{1,60}",
        ) {
            let _ = CustomId::parse(&value);
            let comment = CommentId::new(id);
            for action in ButtonAction::ALL {
                proptest::prop_assert_eq!(
                    CustomId::parse(&action.custom_id(&comment)),
                    Some(CustomId::Button(action, comment.clone()))
                );
            }
            proptest::prop_assert_eq!(
                CustomId::parse(&edit_modal_id(&comment)),
                Some(CustomId::EditedReply(comment.clone()))
            );
        }
    }

    #[test]
    fn the_buttons_read_exactly_as_moderators_expect() {
        let labels: Vec<_> = ButtonAction::ALL.iter().map(|a| a.label()).collect();
        assert_eq!(
            labels,
            [
                "Approve",
                "Edit",
                "Another wording",
                "Dismiss",
                "Mark answered"
            ]
        );
    }

    fn stored(state: CommentState) -> StoredComment {
        let time = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        StoredComment {
            comment: Comment::new(
                "42",
                Source::Discord,
                Place {
                    guild: Some("1".into()),
                    ..Place::channel("7", "supporto")
                },
                Author::member("99", "Nora"),
                "Il pacco non è arrivato\n@everyone aiuto",
                time,
            )
            .with_link(Some(super::super::markdown::jump_link(
                Some("1"),
                "7",
                "42",
            ))),
            state,
            state_changed_at: time,
            verdict: None,
            draft: Some(crate::draft::Draft {
                template: crate::rules::TemplateId("late".into()),
                lang: crate::rules::Lang::It,
                wording: 0,
                text: "Ci dispiace Nora".into(),
            }),
            alert: None,
            answered_by: None,
            closed_at: None,
        }
    }

    #[test]
    fn an_open_alert_shows_comment_link_wait_and_draft_with_buttons() {
        let s = stored(CommentState::Alerted);
        let view = AlertView::new(&s, s.comment.time + chrono::Duration::minutes(12));
        let card = Card::new(&view, s.comment.time, "99", &Outcome::of(&s, &[]));
        assert!(card.buttons);
        assert!(card
            .description
            .starts_with("> Il pacco non è arrivato\n> @everyone aiuto\n"));
        assert!(card
            .description
            .contains("**Suggested reply**\nCi dispiace Nora"));
        assert_eq!(
            card.url.as_deref(),
            Some("https://discord.com/channels/1/7/42")
        );
        let field = |name: &str| {
            card.fields
                .iter()
                .find(|f| f.0 == name)
                .map(|f| f.1.clone())
                .unwrap()
        };
        assert_eq!(field("Author"), "Nora (<@99>)");
        assert!(field("Waiting").starts_with("12 min (since <t:"));
        assert!(card.fields.iter().all(|f| !f.1.is_empty()));
        assert_eq!(card.components(&s.comment.id).len(), 1);
    }

    #[test]
    fn a_closed_alert_says_who_closed_it_and_has_no_buttons() {
        let mut s = stored(CommentState::Replied);
        s.answered_by = Some("Mia".into());
        let actions = [Action {
            comment: s.comment.id.clone(),
            kind: ActionKind::Edited,
            moderator_id: Some("5".into()),
            moderator_name: Some("Mia".into()),
            at: s.comment.time,
            draft_text: Some("Ci dispiace Nora".into()),
            sent_text: Some("Ciao Nora, ci pensiamo noi".into()),
            reply_message_id: Some("77".into()),
        }];
        let outcome = Outcome::of(&s, &actions);
        let view = AlertView::new(&s, s.comment.time);
        let card = Card::new(&view, s.comment.time, "99", &outcome);
        assert!(!card.buttons);
        assert!(card.components(&s.comment.id).is_empty());
        assert!(card.description.contains("Ciao Nora, ci pensiamo noi"));
        assert!(card
            .fields
            .iter()
            .any(|f| f.0 == "Status" && f.1 == "✅ Replied by Mia (edited)"));

        let deleted = Outcome::of(&stored(CommentState::Withdrawn), &[]);
        assert_eq!(deleted, Outcome::Deleted);
        assert!(deleted.line().unwrap().contains("Deleted by the author"));
    }
}
