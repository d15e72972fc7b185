//! The Bot API's objects Ascolto reads, as serde types, and the ids that name them.
//!
//! Only the fields Ascolto uses are declared: serde ignores the rest, so Telegram adding fields
//! never breaks the bot. Ids are typed (a chat id is not a message id is not a user id), and
//! every optional field the Bot API may leave out is an `Option`, so an update that lacks what
//! Ascolto needs is noticed where it is read, not by a panic.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! tg_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

tg_id!(
    /// A chat: a private chat (the user's id), a group or supergroup (negative;
    /// supergroups start with -100) or a channel.
    ChatId
);
tg_id!(
    /// A message, unique within its chat only.
    TgMessageId
);
tg_id!(
    /// A Telegram user (or bot).
    UserId
);
tg_id!(
    /// A forum topic inside a supergroup (the id of the topic's first message).
    ThreadId
);
tg_id!(
    /// An update from `getUpdates`; they increase, and the next offset is the last one + 1.
    UpdateId
);

impl ChatId {
    /// The id in `t.me/c/<id>/<message>` links: a supergroup's id without its `-100`.
    pub fn internal_id(self) -> Option<i64> {
        let text = self.0.to_string();
        text.strip_prefix("-100")
            .and_then(|rest| rest.parse().ok())
            .filter(|id: &i64| *id > 0)
    }
}

/// The Bot API's envelope: `{"ok": true, "result": ...}` or the error fields.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope<T> {
    pub ok: bool,
    pub result: Option<T>,
    pub error_code: Option<u16>,
    pub description: Option<String>,
    pub parameters: Option<ResponseParameters>,
}

/// Why a request failed, and what to do about it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseParameters {
    /// Seconds to wait before trying again (flood control).
    pub retry_after: Option<u64>,
    /// The group became this supergroup: send there.
    pub migrate_to_chat_id: Option<ChatId>,
}

/// The kinds of chat; kinds Telegram adds later are [`ChatKind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Private,
    Group,
    Supergroup,
    Channel,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    #[serde(rename = "type")]
    pub kind: ChatKind,
    pub title: Option<String>,
    /// Public groups and channels have one; their messages have `t.me/<username>/<id>` links.
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: UserId,
    pub is_bot: bool,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    /// Only in `getMe`: false while privacy mode keeps group messages from the bot.
    pub can_read_all_group_messages: Option<bool>,
}

impl User {
    /// "Nora Rossi", as people see the name in the chat.
    pub fn display_name(&self) -> String {
        match &self.last_name {
            Some(last) if !last.is_empty() => format!("{} {last}", self.first_name),
            _ => self.first_name.clone(),
        }
    }
}

/// A `text_mention` entity names a user without a username; the others Ascolto ignores.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageEntity {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: TgMessageId,
    /// The forum topic (or reply thread) the message belongs to.
    pub message_thread_id: Option<ThreadId>,
    pub from: Option<User>,
    /// Set when a chat wrote it: an anonymous administrator posts as the group itself.
    pub sender_chat: Option<Chat>,
    /// Unix seconds.
    pub date: i64,
    pub chat: Chat,
    /// True for messages in a forum topic.
    #[serde(default)]
    pub is_topic_message: bool,
    pub reply_to_message: Option<Box<Message>>,
    pub text: Option<String>,
    /// Media messages carry their words here.
    pub caption: Option<String>,
    #[serde(default)]
    pub entities: Vec<MessageEntity>,
    pub migrate_to_chat_id: Option<ChatId>,
    pub migrate_from_chat_id: Option<ChatId>,
}

impl Message {
    /// What the member wrote: the text, or a photo's caption.
    pub fn words(&self) -> Option<&str> {
        self.text
            .as_deref()
            .or(self.caption.as_deref())
            .filter(|t| !t.trim().is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    /// The message with the button; absent for inline-mode messages, which Ascolto never sends.
    /// A message too old for the bot to read arrives with `date` 0 and only its ids.
    pub message: Option<Message>,
    pub data: Option<String>,
}

/// A chat member as `getChatMember` and `getChatAdministrators` return it.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMember {
    pub status: MemberStatus,
    pub user: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Creator,
    Administrator,
    Member,
    Restricted,
    Left,
    Kicked,
    #[serde(other)]
    Other,
}

impl MemberStatus {
    pub fn is_admin(self) -> bool {
        matches!(self, MemberStatus::Creator | MemberStatus::Administrator)
    }
}

/// One update as `getUpdates` returns it, read into what Ascolto does with it.
#[derive(Debug, Clone)]
pub struct Update {
    pub id: UpdateId,
    pub kind: UpdateKind,
}

/// What an update is about. Ascolto asks only for these (`allowed_updates`); anything else that
/// still arrives is [`UpdateKind::Other`] and skipped.
#[derive(Debug, Clone)]
pub enum UpdateKind {
    Message(Message),
    EditedMessage(Message),
    CallbackQuery(CallbackQuery),
    Other,
}

/// The update kinds requested from `getUpdates`.
pub const ALLOWED_UPDATES: [&str; 3] = ["message", "edited_message", "callback_query"];

#[derive(Deserialize)]
struct RawUpdate {
    update_id: UpdateId,
    message: Option<Message>,
    edited_message: Option<Message>,
    callback_query: Option<CallbackQuery>,
}

/// Why one update could not be read. The offset still moves past it when its id is known.
#[derive(Debug, thiserror::Error)]
#[error("update {id:?} is malformed: {reason}")]
pub struct MalformedUpdate {
    /// The update's id, if even that could be read.
    pub id: Option<UpdateId>,
    pub reason: String,
}

impl Update {
    /// Reads one update. Kept apart from the batch, so one malformed update cannot take the
    /// others down with it.
    pub fn parse(value: &serde_json::Value) -> Result<Update, MalformedUpdate> {
        let id = value
            .get("update_id")
            .and_then(serde_json::Value::as_i64)
            .map(UpdateId);
        let raw = RawUpdate::deserialize(value).map_err(|e| MalformedUpdate {
            id,
            reason: e.to_string(),
        })?;
        let kind = if let Some(m) = raw.message {
            UpdateKind::Message(m)
        } else if let Some(m) = raw.edited_message {
            UpdateKind::EditedMessage(m)
        } else if let Some(q) = raw.callback_query {
            UpdateKind::CallbackQuery(q)
        } else {
            UpdateKind::Other
        };
        Ok(Update {
            id: raw.update_id,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn supergroup_ids_lose_their_prefix_in_links() {
        assert_eq!(ChatId(-1001234567890).internal_id(), Some(1234567890));
        assert_eq!(ChatId(-4567).internal_id(), None);
        assert_eq!(ChatId(42).internal_id(), None);
    }

    #[test]
    fn a_malformed_update_keeps_its_id_when_it_has_one() {
        let bad = json!({"update_id": 7, "message": {"message_id": "x"}});
        let err = Update::parse(&bad).unwrap_err();
        assert_eq!(err.id, Some(UpdateId(7)));
        let worse = json!({"message": {}});
        assert_eq!(Update::parse(&worse).unwrap_err().id, None);
        let other = json!({"update_id": 8, "poll": {"id": "1"}});
        assert!(matches!(
            Update::parse(&other).unwrap().kind,
            UpdateKind::Other
        ));
    }

    /// Any JSON: from scalars up to nested objects with the keys Telegram's updates use, so
    /// the parser is driven deep into messages, chats, users and callbacks.
    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let keys = prop::sample::select(vec![
            "update_id",
            "message",
            "edited_message",
            "callback_query",
            "chat",
            "id",
            "type",
            "from",
            "date",
            "edit_date",
            "text",
            "caption",
            "message_id",
            "reply_to_message",
            "message_thread_id",
            "is_topic_message",
            "first_name",
            "last_name",
            "username",
            "title",
            "is_bot",
            "data",
            "migrate_to_chat_id",
            "migrate_from_chat_id",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,24}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 96, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..8).prop_map(|fields| {
                    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_json_is_read_as_an_update_or_refused_without_panicking(value in arbitrary_json()) {
            if let Ok(update) = Update::parse(&value) {
                if let UpdateKind::Message(msg) | UpdateKind::EditedMessage(msg) = &update.kind {
                    let _ = msg.words();
                }
            }
        }
    }
}
