//! Messages in: group, supergroup (forum topics included) and private messages, and their
//! edits, become the core's [`Comment`]s and go to the tracker. What only Telegram knows is
//! written onto the comment here: its `t.me` link where one exists, which forum topic it is
//! in, and whether a `reply_to_message` is a real reply.
//!
//! Ids: a comment is `telegram:<chat>:<message>` (message ids are unique per chat only), its
//! channel `telegram:<chat>` or, in a forum topic, `telegram:<chat>/<topic>`. [`TgRef`] reads
//! them back when a reply is sent.

use crate::store::db_time;
use chrono::{DateTime, Utc};
use sqlx::Row;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::comment::{Author, AuthorId, ChannelId, Comment, CommentId, Place, Source};
use crate::tracker::{Edited, Ingested};

use super::room;
use super::types::{ChatId, ChatKind, Message, TgMessageId, ThreadId};
use super::{Telegram, TelegramChannelError};

/// Where a Telegram comment is, read back from its ids: enough to reply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TgRef {
    pub chat: ChatId,
    pub message: TgMessageId,
    pub thread: Option<ThreadId>,
}

impl TgRef {
    pub fn comment_id(&self) -> CommentId {
        comment_id(self.chat, self.message)
    }

    /// The Telegram message behind a stored comment; `None` for other platforms' comments.
    pub fn of(comment: &Comment) -> Option<TgRef> {
        if comment.source != Source::Telegram {
            return None;
        }
        let rest = comment.id.as_str().strip_prefix("telegram:")?;
        let (chat, message) = rest.rsplit_once(':')?;
        let thread = comment
            .place
            .channel
            .as_str()
            .split_once('/')
            .and_then(|(_, topic)| topic.parse().ok())
            .map(ThreadId);
        Some(TgRef {
            chat: ChatId(chat.parse().ok()?),
            message: TgMessageId(message.parse().ok()?),
            thread,
        })
    }
}

pub fn comment_id(chat: ChatId, message: TgMessageId) -> CommentId {
    CommentId(format!("telegram:{chat}:{message}"))
}

fn channel_id(chat: ChatId, thread: Option<ThreadId>) -> ChannelId {
    match thread {
        Some(topic) => ChannelId(format!("telegram:{chat}/{topic}")),
        None => ChannelId(format!("telegram:{chat}")),
    }
}

/// The forum topic a message is in. Outside forums `message_thread_id` names a reply thread,
/// which is not a place of its own.
fn topic(msg: &Message) -> Option<ThreadId> {
    msg.message_thread_id.filter(|_| msg.is_topic_message)
}

/// The message this one really replies to. In a forum topic every message carries the topic's
/// first message as `reply_to_message` though nobody replied; that one is not a reply.
pub fn replied_to(msg: &Message) -> Option<TgMessageId> {
    let to = msg.reply_to_message.as_ref()?.message_id;
    match topic(msg) {
        Some(ThreadId(root)) if root == to.0 => None,
        _ => Some(to),
    }
}

/// The link that opens a message: public supergroups by username, private supergroups by
/// internal id. Basic groups and private chats have none.
pub fn message_link(msg: &Message) -> Option<String> {
    let chat = &msg.chat;
    if chat.kind != ChatKind::Supergroup {
        return None;
    }
    match (&chat.username, chat.id.internal_id()) {
        (Some(username), _) if !username.is_empty() => {
            Some(format!("https://t.me/{username}/{}", msg.message_id))
        }
        (_, Some(internal)) => Some(format!("https://t.me/c/{internal}/{}", msg.message_id)),
        _ => None,
    }
}

/// "Telegram · Clienti", the name moderators read for a group.
pub fn chat_name(msg: &Message) -> String {
    let chat = &msg.chat;
    match chat.kind {
        ChatKind::Private => "Telegram · direct message".to_owned(),
        _ => format!(
            "Telegram · {}",
            chat.title
                .clone()
                .or_else(|| chat.username.clone())
                .unwrap_or_else(|| chat.id.to_string())
        ),
    }
}

/// Messages worth triaging: written by a person (not a bot, not a channel), with words.
pub fn is_comment(msg: &Message) -> bool {
    let by_person = match (&msg.from, &msg.sender_chat) {
        // An anonymous administrator writes as the group itself.
        (_, Some(sender)) => sender.id == msg.chat.id,
        (Some(user), None) => !user.is_bot,
        (None, None) => false,
    };
    by_person
        && matches!(
            msg.chat.kind,
            ChatKind::Private | ChatKind::Group | ChatKind::Supergroup
        )
        && msg.words().is_some()
}

/// Translates a message into the core's [`Comment`]; `None` if it has no text or no valid date.
pub fn to_comment(msg: &Message, is_staff: bool) -> Option<Comment> {
    let text = msg.words()?;
    let time: DateTime<Utc> = DateTime::from_timestamp(msg.date, 0)?;
    let chat = msg.chat.id;
    let topic = topic(msg);
    let is_dm = msg.chat.kind == ChatKind::Private;
    let (author_id, name) = match (&msg.sender_chat, &msg.from) {
        (Some(sender), _) => (
            sender.id.to_string(),
            sender
                .title
                .clone()
                .unwrap_or_else(|| "an administrator".to_owned()),
        ),
        (None, Some(user)) => (user.id.to_string(), user.display_name()),
        (None, None) => return None,
    };
    let place = Place {
        channel: channel_id(chat, topic),
        channel_name: chat_name(msg),
        guild: (!is_dm).then(|| format!("telegram:{chat}")),
        parent: topic.map(|_| channel_id(chat, None)),
        is_dm,
    };
    let author = Author {
        id: AuthorId(author_id),
        name,
        is_staff,
        is_bot: false,
        joined_at: None,
    };
    let mentions = msg
        .entities
        .iter()
        .filter(|e| e.kind == "text_mention")
        .filter_map(|e| e.user.as_ref())
        .map(|u| AuthorId(u.id.to_string()))
        .collect();
    Some(
        Comment::new(
            comment_id(chat, msg.message_id).0,
            Source::Telegram,
            place,
            author,
            text,
            time,
        )
        .with_reply_to(replied_to(msg).map(|to| comment_id(chat, to)))
        .with_mentions(mentions)
        .with_link(message_link(msg)),
    )
}

/// Whether messages in `chat` are watched: the configured chats (or every chat when none is
/// configured), never the excluded ones, never the moderators' chat.
pub fn is_watched(tg: &Telegram, chat: ChatId) -> bool {
    let config = tg.config();
    if chat == tg.moderators_chat() || config.excluded_chats.contains(&chat.0) {
        return false;
    }
    config.watched_chats.is_empty() || config.watched_chats.contains(&chat.0)
}

/// Staff are the configured user ids, or (with `staff_are_admins`) the group's administrators,
/// including an administrator writing anonymously as the group.
async fn is_staff(tg: &Telegram, msg: &Message) -> bool {
    let config = tg.config();
    if let Some(user) = &msg.from {
        if config.staff.contains(&user.id.0) {
            return true;
        }
    }
    if !config.staff_are_admins || msg.chat.kind == ChatKind::Private {
        return false;
    }
    match (&msg.sender_chat, &msg.from) {
        (Some(sender), _) => sender.id == msg.chat.id,
        (None, Some(user)) => tg.is_admin(msg.chat.id, user.id).await,
        (None, None) => false,
    }
}

/// Records that a group became a supergroup, so replies to its old comments follow it.
pub(super) async fn record_move(
    tg: &Telegram,
    from: ChatId,
    to: ChatId,
) -> Result<(), TelegramChannelError> {
    sqlx::query(
        "INSERT INTO telegram_chat_moves (from_chat, to_chat, moved_at) VALUES ($1, $2, $3)
         ON CONFLICT (from_chat) DO UPDATE SET to_chat = excluded.to_chat, moved_at = excluded.moved_at",
    )
    .bind(from.0)
    .bind(to.0)
    .bind(db_time(tg.tracker.clock().now()))
    .execute(tg.tracker.store().writer())
    .await?;
    info!(%from, %to, "the group was upgraded to a supergroup; following it");
    Ok(())
}

/// Where a chat lives now, following upgrades (a few hops at most; a cycle is cut short).
pub async fn current_chat(tg: &Telegram, chat: ChatId) -> Result<ChatId, TelegramChannelError> {
    let mut now = chat;
    for _ in 0..4 {
        let row = sqlx::query("SELECT to_chat FROM telegram_chat_moves WHERE from_chat = $1")
            .bind(now.0)
            .fetch_optional(tg.tracker.store().writer())
            .await?;
        match row {
            Some(row) => now = ChatId(row.try_get("to_chat")?),
            None => break,
        }
    }
    Ok(now)
}

/// A new message: followed upgrades, the moderators' chat (edits by reply), then triage.
pub async fn on_message(tg: &Telegram, msg: &Message) -> Result<(), TelegramChannelError> {
    let span = info_span!("telegram.message", chat = %msg.chat.id, message = %msg.message_id, comment = tracing::field::Empty);
    async {
        if let Some(to) = msg.migrate_to_chat_id {
            return record_move(tg, msg.chat.id, to).await;
        }
        if let Some(from) = msg.migrate_from_chat_id {
            return record_move(tg, from, msg.chat.id).await;
        }
        if msg.chat.id == tg.moderators_chat() {
            return room::on_moderators_message(tg, msg).await;
        }
        if !is_watched(tg, msg.chat.id) || !is_comment(msg) {
            debug!("not a comment to triage");
            return Ok(());
        }
        let staff = is_staff(tg, msg).await;
        let Some(comment) = to_comment(msg, staff) else {
            warn!("a message without a readable date or author; skipped");
            return Ok(());
        };
        tracing::Span::current().record("comment", comment.id.as_str());
        // The tracker queues the alert (one per moderators' room) and the updates of the
        // alerts this message answered, in the same transaction as the comment.
        let outcome = tg.tracker.ingest_or_set_aside(&comment).await?;
        if let Some(Ingested::Flagged(_)) = outcome.as_ref().map(|o| &o.ingested) {
            debug!("flagged; its alerts are queued");
        }
        Ok(())
    }
    .instrument(span)
    .await
}

/// An edited message: triaged again, its alert kept in step. A message never seen before
/// (sent while privacy mode was on, say) is taken in as new.
pub async fn on_edit(tg: &Telegram, msg: &Message) -> Result<(), TelegramChannelError> {
    let id = comment_id(msg.chat.id, msg.message_id);
    let span = info_span!("telegram.edit", chat = %msg.chat.id, comment = %id);
    async {
        if !is_watched(tg, msg.chat.id) || !is_comment(msg) {
            return Ok(());
        }
        let Some(stored) = tg.tracker.store().comment(&id).await? else {
            return on_message(tg, msg).await;
        };
        let Some(text) = msg.words() else {
            return Ok(());
        };
        let mut comment = stored.comment.clone();
        comment.text = text.to_owned();
        // The tracker queues the alerts' updates (or, flagged now, the alerts).
        match tg.tracker.edit_or_set_aside(&comment).await? {
            Some(Edited::Retriaged(now)) => debug!(state = now.state.as_str(), "triaged again"),
            Some(Edited::Closed(_) | Edited::Unknown) | None => {}
        }
        Ok(())
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(value: serde_json::Value) -> Message {
        serde_json::from_value(value).expect("a valid message")
    }

    fn group(extra: serde_json::Value) -> Message {
        let mut base = json!({
            "message_id": 42, "date": 1_795_165_200,
            "chat": {"id": -1001234567890_i64, "type": "supergroup", "title": "Clienti"},
            "from": {"id": 201, "is_bot": false, "first_name": "Nora", "last_name": "Rossi"},
            "text": "Il mio ordine non è arrivato"
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        message(base)
    }

    #[test]
    fn a_supergroup_message_becomes_a_comment_with_a_private_link() {
        let c = to_comment(&group(json!({})), false).unwrap();
        assert_eq!(c.id.as_str(), "telegram:-1001234567890:42");
        assert_eq!(c.source, Source::Telegram);
        assert_eq!(c.place.channel_name, "Telegram · Clienti");
        assert_eq!(c.author.name, "Nora Rossi");
        assert!(!c.place.is_dm);
        assert_eq!(c.link.as_deref(), Some("https://t.me/c/1234567890/42"));
        assert_eq!(c.reply_to, None);
        let back = TgRef::of(&c).unwrap();
        assert_eq!(back.chat, ChatId(-1001234567890));
        assert_eq!(back.message, TgMessageId(42));
        assert_eq!(back.thread, None);
    }

    #[test]
    fn a_public_supergroup_links_by_username_and_a_basic_group_not_at_all() {
        let public = group(
            json!({"chat": {"id": -1009, "type": "supergroup", "title": "Shop", "username": "shop_it"}}),
        );
        assert_eq!(
            message_link(&public).as_deref(),
            Some("https://t.me/shop_it/42")
        );
        let basic = group(json!({"chat": {"id": -4567, "type": "group", "title": "Old"}}));
        assert_eq!(message_link(&basic), None);
    }

    #[test]
    fn in_a_forum_topic_the_topic_root_is_not_a_reply() {
        let root = json!({"message_id": 7, "date": 1, "chat": {"id": -1009, "type": "supergroup"}});
        let in_topic = group(json!({
            "message_thread_id": 7, "is_topic_message": true, "reply_to_message": root
        }));
        let c = to_comment(&in_topic, false).unwrap();
        assert_eq!(c.reply_to, None);
        assert_eq!(c.place.channel.as_str(), "telegram:-1001234567890/7");
        assert_eq!(TgRef::of(&c).unwrap().thread, Some(ThreadId(7)));

        let answer =
            json!({"message_id": 30, "date": 1, "chat": {"id": -1009, "type": "supergroup"}});
        let reply = group(json!({
            "message_thread_id": 7, "is_topic_message": true, "reply_to_message": answer
        }));
        let c = to_comment(&reply, true).unwrap();
        assert_eq!(c.reply_to.unwrap().as_str(), "telegram:-1001234567890:30");
        assert!(c.author.is_staff);
    }

    #[test]
    fn private_chats_are_direct_messages_and_bots_are_not_comments() {
        let dm = group(json!({"chat": {"id": 201, "type": "private", "first_name": "Nora"}}));
        let c = to_comment(&dm, false).unwrap();
        assert!(c.place.is_dm);
        assert_eq!(c.link, None);
        let bot = group(json!({"from": {"id": 5, "is_bot": true, "first_name": "Other"}}));
        assert!(!is_comment(&bot));
        let photo = group(json!({"text": null, "caption": "Il pacco è rotto"}));
        assert!(is_comment(&photo));
        let sticker = group(json!({"text": null}));
        assert!(!is_comment(&sticker));
        let channel =
            group(json!({"sender_chat": {"id": -1005, "type": "channel", "title": "News"}}));
        assert!(
            !is_comment(&channel),
            "a linked channel's post is not a member's comment"
        );
    }
}
