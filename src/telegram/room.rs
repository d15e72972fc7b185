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

use std::time::Duration;

use sqlx::Row;
use tracing::{info, warn, Instrument};

use crate::alert::{AlertView, Room};
use crate::comment::CommentId;
use crate::discord::alerts::Outcome;
use crate::discord::buttons::explain;
use crate::lifecycle::{AlertRef, StoredComment};
use crate::sla::format_wait;
use crate::tracker::{Moderator, TrackerError};

use super::api::{InlineButton, InlineKeyboard, SendMessage, TelegramApi, TelegramError};
use super::ingest::{current_chat, record_move, TgRef};
use super::types::{CallbackQuery, ChatId, Message, TgMessageId, UserId};
use super::{Telegram, TelegramChannelError};

/// Telegram refuses messages longer than this (counted in UTF-16 code units).
pub const MESSAGE_LIMIT: usize = 4096;

/// What a non-moderator is told when they press an alert's button.
pub const REFUSAL: &str = "Only Ascolto's moderators can act on alerts. Nothing was done.";

/// Longest flood-control wait the direct reply path sits out before giving the comment back.
const MAX_FLOOD_WAIT: Duration = Duration::from_secs(30);

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
pub fn render(view: &AlertView, outcome: &Outcome) -> String {
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

/// Posts an alert in the moderators' chat and returns its message id. Only the HTTP call: the
/// caller records where the alert is (the outbox will call this with what it queued).
pub async fn post_alert(
    api: &TelegramApi,
    chat: ChatId,
    text: &str,
    keyboard: InlineKeyboard,
) -> Result<TgMessageId, TelegramError> {
    let mut message = SendMessage::new(chat, text);
    message.reply_markup = Some(keyboard);
    message.link_preview_options = Some(serde_json::json!({"is_disabled": true}));
    Ok(api.send_message(&message).await?.message_id)
}

/// Posts an approved reply as a reply to the member's message (in its forum topic) and
/// returns the reply's message id. Only the HTTP call: the caller records it (the outbox will
/// call this with what it queued, and decide about retries).
pub async fn post_reply(
    api: &TelegramApi,
    to: TgRef,
    text: &str,
) -> Result<TgMessageId, TelegramError> {
    api.send_reply(to.chat, to.message, to.thread, text).await
}

async fn alert_text(
    tg: &Telegram,
    stored: &StoredComment,
) -> Result<(String, InlineKeyboard), TelegramChannelError> {
    let actions = tg.tracker.store().actions_for(&stored.comment.id).await?;
    let outcome = Outcome::of(stored, &actions);
    let now = tg.tracker.clock().now();
    let view = AlertView::new(stored, now).with_sla(stored, &tg.sla, now);
    let mut text = render(&view, &outcome);
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

/// Posts the alert for a flagged comment and records where it is.
pub async fn alert(tg: &Telegram, stored: &StoredComment) -> Result<(), TelegramChannelError> {
    let id = &stored.comment.id;
    let chat = tg.moderators_chat();
    let (text, keyboard) = alert_text(tg, stored).await?;
    let message = with_flood_wait(|| post_alert(&tg.api, chat, &text, keyboard.clone())).await?;
    tg.tracker
        .mark_alerted(
            id,
            AlertRef {
                channel: chat.to_string(),
                message: message.to_string(),
                posted_at: tg.tracker.clock().now(),
            },
        )
        .await?;
    info!(comment = %id, alert = %message, "alert posted");
    // Someone may have answered while the alert was being posted: show that now.
    if let Some(now) = tg.tracker.store().comment(id).await? {
        if !now.state.is_open() {
            refresh(tg, id).await?;
        }
    }
    Ok(())
}

/// As [`alert`], logging a failure: the comment stays flagged in the database.
pub async fn alert_logged(tg: &Telegram, stored: &StoredComment) {
    match alert(tg, stored).await {
        Ok(()) => {}
        Err(TelegramChannelError::Api(TelegramError::Migrated { to })) => warn!(
            comment = %stored.comment.id,
            "alert not posted: the moderators' chat was upgraded to a supergroup; set telegram.moderators_chat = {to}"
        ),
        Err(e) => {
            warn!(comment = %stored.comment.id, error = %e, "alert not posted; it will be posted at the next start")
        }
    }
}

/// Where a comment's alert is in the moderators' chat, if it is there (an alert in another
/// room, such as Discord's, is that room's to update).
pub(super) fn alert_message(tg: &Telegram, stored: &StoredComment) -> Option<TgMessageId> {
    let alert = stored.alert.as_ref()?;
    if alert.channel != tg.moderators_chat().to_string() {
        return None;
    }
    alert.message.parse().ok().map(TgMessageId)
}

/// Rewrites a comment's alert to show how the comment stands now.
pub async fn refresh(tg: &Telegram, id: &CommentId) -> Result<(), TelegramChannelError> {
    let Some(stored) = tg.tracker.store().comment(id).await? else {
        return Ok(());
    };
    let Some(message) = alert_message(tg, &stored) else {
        return Ok(());
    };
    let (text, keyboard) = alert_text(tg, &stored).await?;
    with_flood_wait(|| {
        tg.api
            .edit_message_text(tg.moderators_chat(), message, &text, &keyboard)
    })
    .await?;
    info!(comment = %id, state = stored.state.as_str(), "alert updated");
    Ok(())
}

/// As [`refresh`], logging instead of failing.
pub async fn refresh_logged(tg: &Telegram, id: &CommentId) {
    if let Err(e) = refresh(tg, id).await {
        warn!(comment = %id, error = %e, "could not update the alert");
    }
}

/// Sits out Telegram's flood control (up to [`MAX_FLOOD_WAIT`] each time, three tries).
async fn with_flood_wait<T, F, Fut>(mut call: F) -> Result<T, TelegramError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TelegramError>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(TelegramError::RetryAfter(wait)) if tries < 2 && wait <= MAX_FLOOD_WAIT => {
                warn!(
                    ?wait,
                    "Telegram asks to slow down; waiting, then trying again"
                );
                tokio::time::sleep(wait).await;
                tries += 1;
            }
            other => return other,
        }
    }
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

/// Answers a click, logging a failure (the click then just stops spinning by itself).
async fn answer(tg: &Telegram, query: &CallbackQuery, text: Option<&str>, show_alert: bool) {
    if let Err(e) = tg
        .api
        .answer_callback_query(&query.id, text, show_alert)
        .await
    {
        warn!(error = %e, "could not answer the click");
    }
}

/// A button click in the moderators' chat.
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
        let result = match data.action {
            CallbackAction::Approve => {
                return approve(tg, id, &moderator, None, Reply::Click(query)).await;
            }
            CallbackAction::AnotherWording => tg.tracker.another_wording(id, &moderator).await,
            CallbackAction::Dismiss => tg.tracker.dismiss(id, &moderator).await,
            CallbackAction::MarkAnswered => tg.tracker.mark_answered(id, &moderator).await,
        };
        match result {
            Ok(stored) => {
                info!(state = stored.state.as_str(), "done");
                answer(tg, query, Some("Done."), false).await;
            }
            Err(TrackerError::Store(e)) => {
                answer(tg, query, Some(&explain(&TrackerError::Store(e))), true).await;
                return Ok(());
            }
            Err(e) => {
                info!(reason = %e, "not done");
                answer(tg, query, Some(&explain(&e)), true).await;
            }
        }
        // Also after a refusal: the alert may be stale (an answer it missed, a restart).
        refresh(tg, id).await
    }
    .instrument(span)
    .await
}

/// Where to tell the moderator how an approval went.
#[derive(Clone, Copy)]
enum Reply<'a> {
    /// An Approve click: answered once, at once.
    Click(&'a CallbackQuery),
    /// An edit by reply: notes go as replies to the moderator's message.
    Message(&'a Message),
}

impl Reply<'_> {
    async fn refused(&self, tg: &Telegram, text: &str) {
        match self {
            Reply::Click(query) => answer(tg, query, Some(text), true).await,
            Reply::Message(msg) => note(tg, msg, text).await,
        }
    }
}

/// A note in the moderators' chat, as a reply to `msg`.
async fn note(tg: &Telegram, msg: &Message, text: &str) {
    let mut send = SendMessage::new(msg.chat.id, fit(text, MESSAGE_LIMIT));
    send.reply_parameters = Some(super::api::ReplyTo {
        message_id: msg.message_id,
        allow_sending_without_reply: true,
    });
    send.message_thread_id = msg.message_thread_id.filter(|_| msg.is_topic_message);
    if let Err(e) = tg.api.send_message(&send).await {
        warn!(error = %e, "could not post a note in the moderators' chat");
    }
}

/// Approve (or an edit by reply): claim, post the reply, record it, update the alert.
async fn approve(
    tg: &Telegram,
    id: &CommentId,
    moderator: &Moderator,
    edited: Option<String>,
    reply: Reply<'_>,
) -> Result<(), TelegramChannelError> {
    let claim = match tg.tracker.claim_reply(id, moderator, edited).await {
        Ok(claim) => claim,
        Err(e) => {
            info!(reason = %e, "not sent");
            reply.refused(tg, &explain(&e)).await;
            refresh_logged(tg, id).await;
            return Ok(());
        }
    };
    if let Reply::Click(query) = reply {
        answer(tg, query, Some("Sending the reply…"), false).await;
    }
    // No second click while the reply is on its way.
    if let Some(message) = alert_message(tg, &claim.comment) {
        if let Err(e) = tg
            .api
            .edit_message_reply_markup(tg.moderators_chat(), message, &InlineKeyboard::none())
            .await
        {
            warn!(error = %e, "could not take the buttons off while sending");
        }
    }
    let sent = match TgRef::of(&claim.comment.comment) {
        Some(to) => send_following_moves(tg, to, &claim.text).await,
        None => Err(TelegramError::BadRequest(format!(
            "comment {id} is not a Telegram message, so it cannot be answered on Telegram"
        ))
        .into()),
    };
    let message = match sent {
        Ok(message) => message,
        Err(e) => {
            warn!(error = %e, "reply not posted; the alert is open again");
            tg.tracker.abandon_reply(&claim).await?;
            let text = format!("The reply could not be posted: {e}. Nothing was sent and the alert is open again, so you can retry.");
            match reply {
                Reply::Message(msg) => note(tg, msg, &text).await,
                // The click was answered already: the note goes under the alert.
                Reply::Click(query) => {
                    if let Some(msg) = &query.message {
                        note(tg, msg, &text).await;
                    }
                }
            }
            refresh_logged(tg, id).await;
            return Ok(());
        }
    };
    if let Err(e) = tg
        .tracker
        .complete_reply(&claim, Some(message.to_string()))
        .await
    {
        // The reply is out but the database does not know: say so loudly, it needs a human.
        tracing::error!(reply = %message, error = %e, "reply POSTED but not recorded; check the alert by hand");
        return Err(e.into());
    }
    info!(reply = %message, edited = claim.edited, "reply posted");
    refresh(tg, id).await
}

/// Posts a reply, following a group's upgrade to a supergroup (known already, or learnt from
/// Telegram's answer), and sitting out flood control.
async fn send_following_moves(
    tg: &Telegram,
    to: TgRef,
    text: &str,
) -> Result<TgMessageId, TelegramChannelError> {
    let mut to = TgRef {
        chat: current_chat(tg, to.chat).await?,
        ..to
    };
    match with_flood_wait(|| post_reply(&tg.api, to, text)).await {
        Err(TelegramError::Migrated { to: new_chat }) => {
            record_move(tg, to.chat, new_chat).await?;
            to.chat = new_chat;
            Ok(with_flood_wait(|| post_reply(&tg.api, to, text)).await?)
        }
        other => Ok(other?),
    }
}

/// A message in the moderators' chat: a moderator replying to an alert with text sends that
/// text instead of the draft (an edited approval). Everything else there is their own chat.
pub async fn on_moderators_message(
    tg: &Telegram,
    msg: &Message,
) -> Result<(), TelegramChannelError> {
    let (Some(to), Some(from), Some(text)) = (&msg.reply_to_message, &msg.from, msg.words()) else {
        return Ok(());
    };
    if from.is_bot {
        return Ok(());
    }
    let row = sqlx::query("SELECT comment_id FROM alerts WHERE channel_id = ? AND message_id = ?")
        .bind(msg.chat.id.to_string())
        .bind(to.message_id.to_string())
        .fetch_optional(tg.tracker.store().writer())
        .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let id = CommentId(row.try_get("comment_id")?);
    tracing::Span::current().record("comment", id.as_str());
    if !is_moderator(tg, from.id).await {
        info!(user = %from.id, "a reply to an alert by someone who is not a moderator; ignored");
        return Ok(());
    }
    info!(comment = %id, "edited reply from the moderators' chat");
    approve(
        tg,
        &id,
        &moderator_of(from),
        Some(text.to_owned()),
        Reply::Message(msg),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::CommentState;
    use proptest::prelude::*;

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
            let text = render(&view, &Outcome::Open);
            prop_assert!(text.encode_utf16().count() <= MESSAGE_LIMIT);
        }
    }

    fn sample_view() -> AlertView {
        AlertView {
            comment_id: "telegram:-1009:42".into(),
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
        let text = render(&view, &Outcome::Open);
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
        );
        assert!(text.contains("Status: ✅ Replied by Mia"), "{text}");
        assert!(text.ends_with("Reply sent by Mia:\nCiao Nora"), "{text}");
        assert!(!text.contains("Reply to this message"));
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
