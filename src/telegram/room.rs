//! The moderators' room on Telegram: one plain-text alert per flagged comment in the
//! moderators' chat, with the buttons **Approve**, **Another wording**, **Dismiss** and **Mark
//! answered**; the clicks (callback queries); and **Edit** by replying to the alert with the
//! text to send instead of the draft.
//!
//! Alerts are rendered from the database every time (the same [`AlertView`] and
//! [`Outcome`] the Discord room shows), so any update shows the same truth. A button's
//! `callback_data` carries the action and the comment id ([`CallbackData`]), so buttons on
//! alerts posted before a restart keep working.
//!
//! Only moderators may act: the configured user ids, or the administrators of the moderators'
//! chat. Anyone else's click is answered with a refusal and changes nothing, and every click
//! is answered, so no button keeps spinning.
//!
//! The chat also takes commands ([`RoomCommand`]): `/queue`, `/digest` and `/reload`
//! (moderators), `/test <text>` and `/help`, answered there through the outbox.

use tracing::{info, warn, Instrument};

use crate::alert::{queue_message, AlertView, Room, QUEUE_SHOWN};
use crate::comment::CommentId;
use crate::digest::DigestWindow;
use crate::discord::alerts::{failed_reply_line, Outcome};
use crate::discord::buttons::explain;
use crate::escalation::Escalation;
use crate::explain;
use crate::lifecycle::StoredComment;
use crate::outbox::{Destination, DigestOrder, Room as OutboxRoom};
use crate::sla::format_wait;
use crate::tracker::{Moderator, TrackerError};

use super::api::{InlineButton, InlineKeyboard};
use super::ingest::to_comment;
use super::types::{CallbackQuery, Message, User, UserId};
use super::{Telegram, TelegramChannelError};

/// Telegram refuses messages longer than this (counted in UTF-16 code units).
pub const MESSAGE_LIMIT: usize = 4096;

/// What a non-moderator is told when they press an alert's button.
pub const REFUSAL: &str = "Only Ascolto's moderators can act on alerts. Nothing was done.";

/// The moderators' chat on Telegram, as renderers of digests and escalations see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct TelegramRoom;

impl Room for TelegramRoom {
    /// Plain text has no markup to escape; what is left is keeping a quote on one line and
    /// its `@names` from becoming mentions that notify people.
    fn quote(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                // A word joiner after @ keeps Telegram from reading a mention.
                '@' => out.push_str("@\u{2060}"),
                '\n' | '\r' => out.push(' '),
                _ => out.push(c),
            }
        }
        out
    }

    fn message_limit(&self) -> usize {
        MESSAGE_LIMIT
    }

    fn length(&self, text: &str) -> usize {
        text.encode_utf16().count()
    }
}

impl TelegramRoom {
    /// An escalation as plain text: no markup, and no role to ping (Telegram has none; the
    /// escalation is a new message in the moderators' chat, which notifies its members).
    pub fn escalation(e: &Escalation) -> String {
        let room = TelegramRoom;
        let mut out = format!(
            "⛔ Response {} — {} by {} in {}, waiting {}",
            e.headline(),
            e.labels,
            room.quote(&e.author),
            room.quote(&e.place),
            format_wait(e.waited)
        );
        if let Some(link) = &e.link {
            out.push_str(&format!("\n🔗 {link}"));
        }
        out.push_str(&format!("\n│ {}", room.quote(&e.excerpt)));
        fit(&out, MESSAGE_LIMIT)
    }
}

/// A button on an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackAction {
    Approve,
    AnotherWording,
    Dismiss,
    MarkAnswered,
}

impl CallbackAction {
    pub const ALL: [CallbackAction; 4] = [
        CallbackAction::Approve,
        CallbackAction::AnotherWording,
        CallbackAction::Dismiss,
        CallbackAction::MarkAnswered,
    ];

    /// The first byte of the callback data; stable, because posted alerts carry it.
    fn code(self) -> char {
        match self {
            CallbackAction::Approve => 'A',
            CallbackAction::AnotherWording => 'W',
            CallbackAction::Dismiss => 'D',
            CallbackAction::MarkAnswered => 'M',
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CallbackAction::Approve => "Approve",
            CallbackAction::AnotherWording => "Another wording",
            CallbackAction::Dismiss => "Dismiss",
            CallbackAction::MarkAnswered => "Mark answered",
        }
    }
}

/// Telegram's limit for `callback_data`.
pub const CALLBACK_DATA_MAX: usize = 64;

/// What a button's `callback_data` asks for: `<action><kind><payload>`, at most 64 bytes.
///
/// - action: `A` approve, `W` another wording, `D` dismiss, `M` mark answered;
/// - kind `t`: a Telegram comment, payload `<chat>:<message>` (the comment id without its
///   `telegram:` prefix), e.g. `At-1001234567890:42` (20 bytes);
/// - kind `=`: any other comment id, verbatim.
///
/// A comment id that would not fit is refused when the alert is built ([`CallbackData::encode`]),
/// never cut: a cut id would act on another comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackData {
    pub action: CallbackAction,
    pub comment: CommentId,
}

/// Why a comment's buttons cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackDataError {
    #[error("the comment id is empty")]
    Empty,
    #[error("comment id `{0}` is too long for a Telegram button ({1} bytes of at most {CALLBACK_DATA_MAX})")]
    TooLong(CommentId, usize),
}

impl CallbackData {
    pub fn encode(
        action: CallbackAction,
        comment: &CommentId,
    ) -> Result<String, CallbackDataError> {
        let id = comment.as_str();
        if id.is_empty() {
            return Err(CallbackDataError::Empty);
        }
        let data = match id.strip_prefix("telegram:").filter(|rest| !rest.is_empty()) {
            Some(rest) => format!("{}t{rest}", action.code()),
            None => format!("{}={id}", action.code()),
        };
        if data.len() > CALLBACK_DATA_MAX {
            return Err(CallbackDataError::TooLong(comment.clone(), data.len()));
        }
        Ok(data)
    }

    /// `None` for data Ascolto did not write.
    pub fn parse(data: &str) -> Option<CallbackData> {
        let mut chars = data.chars();
        let code = chars.next()?;
        let kind = chars.next()?;
        let payload = chars.as_str();
        if payload.is_empty() {
            return None;
        }
        let action = CallbackAction::ALL.into_iter().find(|a| a.code() == code)?;
        let comment = match kind {
            't' => CommentId(format!("telegram:{payload}")),
            '=' => CommentId::new(payload),
            _ => return None,
        };
        Some(CallbackData { action, comment })
    }
}

/// The buttons while the comment waits for a moderator; none once it is settled, or when the
/// comment id cannot be carried (the alert then says so).
pub fn keyboard(comment: &CommentId, open: bool) -> Result<InlineKeyboard, CallbackDataError> {
    if !open {
        return Ok(InlineKeyboard::none());
    }
    let button = |action: CallbackAction| {
        CallbackData::encode(action, comment).map(|data| InlineButton {
            text: action.label().to_owned(),
            callback_data: data,
        })
    };
    Ok(InlineKeyboard {
        inline_keyboard: vec![
            vec![
                button(CallbackAction::Approve)?,
                button(CallbackAction::AnotherWording)?,
            ],
            vec![
                button(CallbackAction::Dismiss)?,
                button(CallbackAction::MarkAnswered)?,
            ],
        ],
    })
}

/// `text` cut so Telegram accepts it: at most `limit` UTF-16 code units, ending with `…` when cut.
pub fn fit(text: &str, limit: usize) -> String {
    if text.encode_utf16().count() <= limit {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        // Room for the ellipsis (one unit).
        if used + c.len_utf16() > limit.saturating_sub(1) {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// The alert as plain text: who wrote what where, how long it has waited, why it was flagged,
/// the draft (or what was sent), and the status once settled. Member text is quoted so it
/// cannot notify anyone; the draft comes last, so a very long one is what gets cut.
/// `given_up`: why the last approved reply could not be posted, while the comment is open
/// again because of it.
pub fn render(view: &AlertView, outcome: &Outcome, given_up: Option<&str>) -> String {
    let room = TelegramRoom;
    let labels = match view.labels_text() {
        l if l.is_empty() => "flagged".to_owned(),
        l => l,
    };
    let severity = view.severity.map(|s| format!(" · {s}")).unwrap_or_default();
    let mut out = format!(
        "⚑ {labels}{severity} — {} in {}\n",
        room.quote(&view.author),
        room.quote(&view.channel)
    );
    for line in view.excerpt.lines() {
        out.push_str("│ ");
        out.push_str(&room.quote(line));
        out.push('\n');
    }
    if let Some(link) = &view.link {
        out.push_str(&format!("🔗 {link}\n"));
    }
    let waited = format_wait(view.waited);
    out.push_str(&if outcome.is_open() {
        format!("⏳ Waiting {waited}")
    } else {
        format!("⏳ Waited {waited}")
    });
    if let Some(sla) = &view.sla {
        out.push_str(&format!(" · {} {}", sla.symbol(), sla.text()));
    }
    out.push('\n');
    for why in &view.why {
        out.push_str(&format!("Why: {}\n", room.quote(why)));
    }
    if let Some(line) = outcome.line() {
        out.push_str(&format!("Status: {line}\n"));
    } else if let Some(reason) = given_up.filter(|_| outcome.is_open()) {
        out.push_str(&format!("Status: {}\n", failed_reply_line(reason)));
    }
    out.push_str(&format!("comment {}\n", view.comment_id));
    match outcome {
        Outcome::Open | Outcome::Sending => {
            if let Some(draft) = &view.draft {
                out.push_str("\nSuggested reply:\n");
                out.push_str(draft);
                out.push('\n');
            }
            if outcome.is_open() {
                out.push_str("\n(Reply to this message to send your own wording instead.)");
            }
        }
        Outcome::Replied { by, text, .. } => {
            out.push_str(&format!("\nReply sent by {}:\n{text}", room.quote(by)));
        }
        _ => {}
    }
    fit(out.trim_end(), MESSAGE_LIMIT)
}

/// The alert's text and buttons for a comment, rendered from the database as it stands now
/// (the outbox calls this when it posts or rewrites the alert).
pub(super) async fn alert_text(
    tg: &Telegram,
    stored: &StoredComment,
) -> Result<(String, InlineKeyboard), TelegramChannelError> {
    let actions = tg.tracker.store().actions_for(&stored.comment.id).await?;
    let outcome = Outcome::of(stored, &actions);
    let now = tg.tracker.clock().now();
    let view = AlertView::new(stored, now).with_sla(stored, &tg.sla, now);
    let given_up = if outcome.is_open() {
        tg.tracker
            .store()
            .reply_given_up(&stored.comment.id)
            .await?
    } else {
        None
    };
    let mut text = render(&view, &outcome, given_up.as_deref());
    let keyboard = match keyboard(&stored.comment.id, outcome.is_open()) {
        Ok(keyboard) => keyboard,
        Err(e) => {
            warn!(error = %e, "alert without buttons");
            text = fit(
                &format!("{text}\n\n(No buttons: {e}. Answer in the group yourself.)"),
                MESSAGE_LIMIT,
            );
            InlineKeyboard::none()
        }
    };
    Ok((text, keyboard))
}

/// Whether `user` may act on alerts: a configured moderator, or an administrator of the
/// moderators' chat. When Telegram cannot say, the answer is no.
pub async fn is_moderator(tg: &Telegram, user: UserId) -> bool {
    let config = tg.config();
    if config.moderators.contains(&user.0) {
        return true;
    }
    if !config.moderators_are_admins {
        return false;
    }
    match tg.api.get_chat_member(tg.moderators_chat(), user).await {
        Ok(member) => member.status.is_admin(),
        Err(e) => {
            warn!(%user, error = %e, "could not check the moderators' chat membership; refusing");
            false
        }
    }
}

fn moderator_of(user: &super::types::User) -> Moderator {
    Moderator {
        id: user.id.to_string(),
        name: user.display_name(),
    }
}

/// Answers a click, logging a failure (the click then just stops spinning by itself). The
/// answer is the click's own acknowledgement, not a message: it is not an outbox write.
async fn answer(tg: &Telegram, query: &CallbackQuery, text: Option<&str>, show_alert: bool) {
    if let Err(e) = tg
        .api
        .answer_callback_query(&query.id, text, show_alert)
        .await
    {
        warn!(error = %e, "could not answer the click");
    }
}

/// Queues an update of the comment's alerts, logging a failure: after a refusal the alert may
/// be stale (an answer it missed, a restart).
async fn show_truth(tg: &Telegram, id: &CommentId) {
    if let Err(e) = tg.tracker.queue_alert_update(id).await {
        warn!(comment = %id, error = %e, "could not queue the alert's update");
    }
}

/// A button click in the moderators' chat. The tracker decides and queues what follows (the
/// reply on the comment's own platform, the alerts' updates in every room); the click is
/// answered at once.
pub async fn on_callback(tg: &Telegram, query: &CallbackQuery) -> Result<(), TelegramChannelError> {
    let Some(data) = query.data.as_deref().and_then(CallbackData::parse) else {
        answer(tg, query, None, false).await;
        return Ok(());
    };
    let span = tracing::info_span!("telegram.click", action = ?data.action, comment = %data.comment, moderator = %query.from.id);
    async {
        if !is_moderator(tg, query.from.id).await {
            info!("refused: not a moderator");
            answer(tg, query, Some(REFUSAL), true).await;
            return Ok(());
        }
        let moderator = moderator_of(&query.from);
        let id = &data.comment;
        // Whether a reply is now on its way.
        let result: Result<bool, TrackerError> = match data.action {
            CallbackAction::Approve => tg.tracker.approve(id, &moderator, None).await.map(|_| true),
            CallbackAction::AnotherWording => {
                match tg.tracker.another_wording(id, &moderator).await {
                    // Every room shows the new draft.
                    Ok(_) => tg.tracker.queue_alert_update(id).await.map(|()| false),
                    Err(e) => Err(e),
                }
            }
            // Every room's alert is updated through the outbox, this one included.
            CallbackAction::Dismiss => tg
                .tracker
                .dismiss(id, &moderator, None)
                .await
                .map(|_| false),
            CallbackAction::MarkAnswered => tg
                .tracker
                .mark_answered(id, &moderator, None)
                .await
                .map(|_| false),
        };
        match result {
            Ok(sending) => {
                let done = if sending {
                    "Sending the reply…"
                } else {
                    "Done."
                };
                info!("done");
                answer(tg, query, Some(done), false).await;
            }
            Err(e) => {
                info!(reason = %e, "not done");
                answer(tg, query, Some(&explain(&e)), true).await;
                if !matches!(e, TrackerError::Store(_)) {
                    show_truth(tg, id).await;
                }
            }
        }
        Ok(())
    }
    .instrument(span)
    .await
}

/// What can be asked of Ascolto in the moderators' chat. Telegram delivers commands to a bot
/// even in privacy mode, so they work whatever the group's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCommand {
    /// `/queue`: how many comments wait for an answer, and the oldest (moderators only).
    Queue,
    /// `/test <text>`: how a text would be triaged, and the draft; nothing is stored.
    Test(String),
    /// `/digest`: the digest of the last 24 hours, posted in the chat now (moderators only).
    Digest,
    /// `/reload`: the rule library read again; a broken one is refused (moderators only).
    Reload,
    /// `/help` (or `/start`): what the commands are.
    Help,
}

impl RoomCommand {
    /// Reads a message as a command to this bot, whose username is `bot`. A command addressed
    /// to another bot in the chat (`/queue@other_bot`), a command Ascolto does not know, and
    /// any other text are `None`: moderators' chat is theirs.
    pub fn parse(text: &str, bot: Option<&str>) -> Option<RoomCommand> {
        let rest = text.trim_start().strip_prefix('/')?;
        let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let name = match word.split_once('@') {
            Some((name, to)) if bot.is_some_and(|bot| bot.eq_ignore_ascii_case(to)) => name,
            Some(_) => return None,
            None => word,
        };
        match name.to_lowercase().as_str() {
            "queue" => Some(RoomCommand::Queue),
            "test" => Some(RoomCommand::Test(args.trim().to_owned())),
            "digest" => Some(RoomCommand::Digest),
            "reload" => Some(RoomCommand::Reload),
            "help" | "start" => Some(RoomCommand::Help),
            _ => None,
        }
    }
}

/// The answer to `/help`.
pub const HELP: &str = "Ascolto in this chat:
/queue — how many comments wait for an answer, and the oldest (moderators)
/test <text> — how a text would be flagged, and the reply it would get; nothing is stored
/digest — the digest of the last 24 hours, now (moderators)
/reload — read the rule library again; a broken one is refused (moderators)
Reply to an alert with your own wording to send it instead of the draft.";

/// What a non-moderator asking for the queue, the digest or a reload is told.
pub const COMMAND_REFUSAL: &str =
    "Only Ascolto's moderators can use this command: it shows members' private messages or changes the rules.";

/// Answers a command in the moderators' chat, through the outbox like every other message
/// Ascolto writes there.
async fn on_command(
    tg: &Telegram,
    msg: &Message,
    from: &User,
    command: RoomCommand,
) -> Result<(), TelegramChannelError> {
    info!(?command, user = %from.id, "command in the moderators' chat");
    // Answered in this chat, whether or not alerts go here (`[alerts] rooms`).
    let here = OutboxRoom {
        destination: Destination::Telegram,
        channel: msg.chat.id.to_string(),
    };
    let for_moderators = matches!(
        command,
        RoomCommand::Queue | RoomCommand::Digest | RoomCommand::Reload
    );
    let answer = if for_moderators && !is_moderator(tg, from.id).await {
        COMMAND_REFUSAL.to_owned()
    } else {
        match command {
            RoomCommand::Queue => {
                let queue = tg.tracker.open_queue(QUEUE_SHOWN).await?;
                queue_message(&queue, tg.tracker.clock().now(), &TelegramRoom)
            }
            RoomCommand::Test(text) if text.is_empty() => {
                "Write the text after the command: /test Il mio ordine non è ancora arrivato"
                    .to_owned()
            }
            RoomCommand::Test(text) => match to_comment(msg, false) {
                Some(mut comment) => {
                    // As a member's message in this chat would be triaged.
                    comment.text = text;
                    let (verdict, draft) = tg.tracker.dry_run(&comment);
                    defuse_mentions(&explain::report(&verdict, draft.as_ref()))
                }
                None => "This message has no author or date Ascolto can read.".to_owned(),
            },
            RoomCommand::Digest => {
                let window = DigestWindow::ending(
                    tg.tracker.clock().now(),
                    chrono::Duration::hours(24),
                    tg.settings.digest_time_zone(),
                );
                // The digest itself is the answer.
                tg.tracker
                    .queue_digest_now(DigestOrder::of(&window), &here)
                    .await?;
                return Ok(());
            }
            RoomCommand::Reload => match tg.tracker.reload(&tg.settings.rules.dir) {
                Ok(count) => {
                    info!(rules = count, "rule library reloaded from Telegram");
                    format!("Rule library reloaded: {count} rules.")
                }
                Err(e) => {
                    warn!(error = %e, "reload refused");
                    let problems: Vec<String> =
                        e.problems().iter().map(|p| p.to_string()).collect();
                    format!(
                        "The rule library has problems, so it was not loaded; the current rules stay in use.\n{}",
                        problems.join("\n")
                    )
                }
            },
            RoomCommand::Help => HELP.to_owned(),
        }
    };
    tg.tracker
        .queue_notice_in(&here, fit(&answer, MESSAGE_LIMIT))
        .await?;
    Ok(())
}

/// `text` with every `@` followed by a word joiner, so no name in it notifies anyone.
fn defuse_mentions(text: &str) -> String {
    text.replace('@', "@\u{2060}")
}

/// A message in the moderators' chat: a command to Ascolto ([`RoomCommand`]) is answered; a
/// moderator replying to an alert with text sends that text instead of the draft (an edited
/// approval). Everything else there is their own chat. When the reply cannot be sent, the
/// moderators' chat is told why, through the outbox.
pub async fn on_moderators_message(
    tg: &Telegram,
    msg: &Message,
) -> Result<(), TelegramChannelError> {
    let (Some(from), Some(text)) = (&msg.from, msg.words()) else {
        return Ok(());
    };
    if from.is_bot {
        return Ok(());
    }
    if let Some(command) = RoomCommand::parse(text, tg.bot.username.as_deref()) {
        return on_command(tg, msg, from, command).await;
    }
    let Some(to) = &msg.reply_to_message else {
        return Ok(());
    };
    let Some(id) = tg
        .tracker
        .store()
        .comment_alerted_at(
            Destination::Telegram,
            &msg.chat.id.to_string(),
            &to.message_id.to_string(),
        )
        .await?
    else {
        return Ok(());
    };
    tracing::Span::current().record("comment", id.as_str());
    if !is_moderator(tg, from.id).await {
        info!(user = %from.id, "a reply to an alert by someone who is not a moderator; ignored");
        return Ok(());
    }
    info!(comment = %id, "edited reply from the moderators' chat");
    match tg
        .tracker
        .approve(&id, &moderator_of(from), Some(text.to_owned()))
        .await
    {
        Ok(_) => Ok(()),
        Err(TrackerError::Store(e)) => Err(TrackerError::Store(e).into()),
        Err(e) => {
            info!(reason = %e, "not sent");
            let note = format!(
                "{} Your wording for comment {id} was not sent: {}",
                from.display_name(),
                explain(&e)
            );
            tg.tracker
                .queue_notice(Destination::Telegram, fit(&note, MESSAGE_LIMIT))
                .await?;
            show_truth(tg, &id).await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::CommentState;
    use proptest::prelude::*;

    #[test]
    fn commands_are_read_with_or_without_this_bots_name_and_others_are_left_alone() {
        let bot = Some("Ascolto_Bot");
        let read = |text: &str| RoomCommand::parse(text, bot);
        assert_eq!(read("/queue"), Some(RoomCommand::Queue));
        assert_eq!(read("  /QUEUE@ascolto_bot"), Some(RoomCommand::Queue));
        assert_eq!(
            read("/test Il pacco non è arrivato!\nAiuto"),
            Some(RoomCommand::Test("Il pacco non è arrivato!\nAiuto".into()))
        );
        assert_eq!(read("/test"), Some(RoomCommand::Test(String::new())));
        assert_eq!(read("/start"), Some(RoomCommand::Help));
        assert_eq!(read("/digest"), Some(RoomCommand::Digest));
        assert_eq!(read("/reload@ascolto_bot now"), Some(RoomCommand::Reload));
        assert_eq!(read("/queue@other_bot"), None);
        assert_eq!(read("/weather Roma"), None);
        assert_eq!(read("queue"), None);
        assert_eq!(read("Chi se ne occupa? /queue"), None);
        // Without a username, only commands with no name in them are ours.
        assert_eq!(RoomCommand::parse("/queue@ascolto_bot", None), None);
        assert_eq!(RoomCommand::parse("/help", None), Some(RoomCommand::Help));
    }

    #[test]
    fn telegram_comments_take_the_short_form() {
        let id = CommentId::new("telegram:-1001234567890:2147483647");
        let data = CallbackData::encode(CallbackAction::Approve, &id).unwrap();
        assert_eq!(data, "At-1001234567890:2147483647");
        assert_eq!(
            CallbackData::parse(&data),
            Some(CallbackData {
                action: CallbackAction::Approve,
                comment: id
            })
        );
        assert_eq!(CallbackData::parse("Xt-1:2"), None);
        assert_eq!(CallbackData::parse("A?-1:2"), None);
        assert_eq!(CallbackData::parse("At"), None);
        assert_eq!(CallbackData::parse(""), None);
        assert_eq!(
            CallbackData::encode(CallbackAction::Dismiss, &CommentId::new("")),
            Err(CallbackDataError::Empty)
        );
    }

    proptest! {
        #[test]
        fn any_comment_id_round_trips_or_is_refused(id in "\\PC{0,70}", prefixed in any::<bool>()) {
            let id = CommentId(if prefixed { format!("telegram:{id}") } else { id });
            for action in CallbackAction::ALL {
                match CallbackData::encode(action, &id) {
                    Ok(data) => {
                        prop_assert!(data.len() <= CALLBACK_DATA_MAX);
                        prop_assert_eq!(
                            CallbackData::parse(&data),
                            Some(CallbackData { action, comment: id.clone() })
                        );
                    }
                    Err(CallbackDataError::Empty) => prop_assert!(id.as_str().is_empty()),
                    Err(CallbackDataError::TooLong(_, bytes)) => {
                        prop_assert!(bytes > CALLBACK_DATA_MAX);
                        prop_assert!(id.as_str().len() + 2 > CALLBACK_DATA_MAX);
                    }
                }
            }
        }

        #[test]
        fn an_alert_always_fits_a_message(
            excerpt in "\\PC{0,600}",
            draft in "\\PC{0,5000}",
            author in "\\PC{0,300}",
        ) {
            let mut view = sample_view();
            view.excerpt = excerpt;
            view.author = author;
            view.draft = Some(draft);
            let text = render(&view, &Outcome::Open, None);
            prop_assert!(text.encode_utf16().count() <= MESSAGE_LIMIT);
        }
    }

    proptest! {
        /// Whatever a member types in the moderators' chat, it is read as one of the commands
        /// or left alone, never a panic; a `/test` keeps the text after the command as typed.
        #[test]
        fn any_message_is_a_command_or_left_alone(text in "\\PC{0,200}", bot in "[a-z_]{0,12}") {
            let bot = (!bot.is_empty()).then_some(bot.as_str());
            let _ = RoomCommand::parse(&text, bot);
            let tried = format!("/test {text}");
            prop_assert_eq!(
                RoomCommand::parse(&tried, bot),
                Some(RoomCommand::Test(text.trim().to_owned()))
            );
        }
    }

    fn sample_view() -> AlertView {
        AlertView {
            comment_id: "telegram:-1009:42".into(),
            source: crate::comment::Source::Telegram,
            author: "Nora".into(),
            channel: "Telegram · Clienti".into(),
            is_dm: false,
            link: Some("https://t.me/c/9/42".into()),
            excerpt: "Il mio ordine non è arrivato\n@everyone".into(),
            labels: vec![crate::rules::Label::Complaint],
            severity: None,
            why: vec!["it.complaint.late (delivery): \"non è arrivato\"".into()],
            waited: chrono::Duration::minutes(12),
            draft: Some("Ci dispiace Nora".into()),
            state: CommentState::Alerted,
            closed_by: None,
            sla: None,
        }
    }

    #[test]
    fn an_open_alert_reads_as_moderators_expect_and_names_cannot_notify() {
        let mut view = sample_view();
        view.author = "@mia".into();
        let text = render(&view, &Outcome::Open, None);
        assert!(
            text.starts_with("⚑ complaint — @\u{2060}mia in Telegram · Clienti\n"),
            "{text}"
        );
        assert!(
            text.contains("│ Il mio ordine non è arrivato\n│ @\u{2060}everyone\n"),
            "{text}"
        );
        assert!(text.contains("🔗 https://t.me/c/9/42"));
        assert!(text.contains("⏳ Waiting 12 min"));
        assert!(text.contains("Why: it.complaint.late"));
        assert!(text.contains("Suggested reply:\nCi dispiace Nora"));
        let buttons = keyboard(&CommentId::new(view.comment_id.clone()), true).unwrap();
        let labels: Vec<_> = buttons
            .inline_keyboard
            .iter()
            .flatten()
            .map(|b| b.text.as_str())
            .collect();
        assert_eq!(
            labels,
            ["Approve", "Another wording", "Dismiss", "Mark answered"]
        );
        assert!(keyboard(&CommentId::new("x"), false)
            .unwrap()
            .inline_keyboard
            .is_empty());
    }

    #[test]
    fn a_settled_alert_says_who_settled_it() {
        let text = render(
            &sample_view(),
            &Outcome::Replied {
                by: "Mia".into(),
                text: "Ciao Nora".into(),
                edited: false,
            },
            Some("ignored once replied"),
        );
        assert!(!text.contains("ignored once replied"), "{text}");
        assert!(text.contains("Status: ✅ Replied by Mia"), "{text}");
        assert!(text.ends_with("Reply sent by Mia:\nCiao Nora"), "{text}");
        assert!(!text.contains("Reply to this message"));
    }

    #[test]
    fn an_alert_open_again_after_a_reply_was_given_up_says_why() {
        let text = render(
            &sample_view(),
            &Outcome::Open,
            Some("the bot is not a member of that chat any more"),
        );
        assert!(
            text.contains(
                "Status: ⚠️ The approved reply could not be posted: the bot is not a member"
            ),
            "{text}"
        );
        assert!(text.contains("Suggested reply:"), "{text}");
    }

    #[test]
    fn the_room_quotes_on_one_line_and_knows_its_limit() {
        assert_eq!(TelegramRoom.quote("a\n@b"), "a @\u{2060}b");
        assert_eq!(TelegramRoom.message_limit(), 4096);
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcd", 3), "ab…");
        assert_eq!(fit("😀😀", 3), "😀…");
    }
}
