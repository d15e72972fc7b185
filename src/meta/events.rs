//! Meta's webhook bodies into the core's terms: new comments and messages (the page's own
//! included, as staff answers), edits and removals.
//!
//! Parsing is pure and forgiving in the right places: one body batches many entries, and an
//! entry Meta changed the shape of, or one for a page we do not serve, is skipped with a
//! reason while the rest of the body is still taken in. Posts, reactions, likes, read and
//! delivery receipts are not comments: they are counted as ignored, not as problems.
//!
//! Time stamps: Messenger's are milliseconds, the feed's seconds; both are read with one rule
//! (values past the year 5000 in seconds are milliseconds), so a field that changes unit is
//! still read right.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::comment::{Author, ChannelId, Comment, CommentId, Place, Source};

use super::types::{DirectKind, MetaChannel, MetaCommentId, Page, PageId, Pages};

/// One thing a webhook body tells us.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaEvent {
    /// A new comment or direct message; a page's own comment is a staff answer with
    /// `reply_to` set to what it answers.
    New {
        comment: Comment,
        /// For a person's direct message: the conversation whose 24-hour window it opens.
        conversation: Option<Conversation>,
    },
    /// A message the page sent (an echo): it answers the person's last open message in the
    /// conversation, which only the store knows, so `reply_to` is filled in when processed.
    Echo {
        comment: Comment,
        conversation: Conversation,
    },
    /// The author changed the text; `whole` is the full comment when Meta sent one (the
    /// feed does, Messenger's edit event does not), so an unknown comment can be taken in.
    Edited {
        id: CommentId,
        text: String,
        whole: Option<Comment>,
    },
    /// The author (or the page) removed it.
    Removed(CommentId),
}

impl MetaEvent {
    /// The comment the event is about, for logs.
    pub fn comment_id(&self) -> &CommentId {
        match self {
            MetaEvent::New { comment, .. } | MetaEvent::Echo { comment, .. } => &comment.id,
            MetaEvent::Edited { id, .. } | MetaEvent::Removed(id) => id,
        }
    }
}

/// A person's direct-message conversation with a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub channel: ChannelId,
    pub page: PageId,
    /// The person's page-scoped (or Instagram-scoped) id: the recipient of our replies.
    pub person: String,
}

/// An entry or event left out, with why; never the body's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where in the body: `entry[0].changes[1]`.
    pub at: String,
    pub reason: String,
}

/// What a body held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub events: Vec<MetaEvent>,
    /// Malformed or unknown entries (logged).
    pub skipped: Vec<Skipped>,
    /// Things that are not comments (posts, reactions, receipts): nothing to do.
    pub ignored: usize,
}

/// Why a body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not a webhook notification: {0}")]
    NotJson(String),
    #[error("webhooks for `{0}` objects are not handled (only page and instagram)")]
    UnknownObject(String),
}

/// Which product an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Page,
    Instagram,
}

/// Reads one webhook body. `received_at` stands in for events that carry no time.
pub fn parse(body: &[u8], pages: &Pages, received_at: DateTime<Utc>) -> Result<Parsed, BodyError> {
    let raw: RawBody =
        serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let object = match raw.object.as_str() {
        "page" => Object::Page,
        "instagram" => Object::Instagram,
        other => return Err(BodyError::UnknownObject(other.chars().take(40).collect())),
    };
    let mut parsed = Parsed::default();
    for (i, entry) in raw.entry.into_iter().enumerate() {
        let at = format!("entry[{i}]");
        let entry: RawEntry = match serde_json::from_value(entry) {
            Ok(entry) => entry,
            Err(e) => {
                parsed.skip(at, format!("unreadable entry: {e}"));
                continue;
            }
        };
        let page = match object {
            Object::Page => pages.by_id(&entry.id.0),
            Object::Instagram => pages.by_instagram(&entry.id.0),
        };
        let Some(page) = page else {
            parsed.skip(
                at,
                format!(
                    "{} {} is not configured in [[meta.pages]]",
                    if object == Object::Page {
                        "page"
                    } else {
                        "Instagram account"
                    },
                    entry.id.0
                ),
            );
            continue;
        };
        let entry_time = entry.time.and_then(unix_time).unwrap_or(received_at);
        for (j, change) in entry.changes.into_iter().enumerate() {
            let at = format!("{at}.changes[{j}]");
            match change_event(object, page, change, entry_time) {
                Ok(Some(event)) => parsed.events.push(event),
                Ok(None) => parsed.ignored += 1,
                Err(reason) => parsed.skip(at, reason),
            }
        }
        for (j, item) in entry.messaging.into_iter().enumerate() {
            let at = format!("{at}.messaging[{j}]");
            match messaging_event(object, page, item, entry_time) {
                Ok(Some(event)) => parsed.events.push(event),
                Ok(None) => parsed.ignored += 1,
                Err(reason) => parsed.skip(at, reason),
            }
        }
    }
    Ok(parsed)
}

impl Parsed {
    fn skip(&mut self, at: String, reason: String) {
        self.skipped.push(Skipped { at, reason });
    }
}

fn change_event(
    object: Object,
    page: &Page,
    change: Value,
    time: DateTime<Utc>,
) -> Result<Option<MetaEvent>, String> {
    let change: RawChange =
        serde_json::from_value(change).map_err(|e| format!("unreadable change: {e}"))?;
    match (object, change.field.as_str()) {
        (Object::Page, "feed") => feed_event(page, change.value, time),
        (Object::Instagram, "comments") => instagram_comment(page, change.value, time).map(Some),
        // Live video comments take no replies; mentions and the rest are not comments to us.
        _ => Ok(None),
    }
}

fn feed_event(page: &Page, value: Value, time: DateTime<Utc>) -> Result<Option<MetaEvent>, String> {
    let value: RawFeed =
        serde_json::from_value(value).map_err(|e| format!("unreadable feed change: {e}"))?;
    if value.item != "comment" {
        return Ok(None);
    }
    let comment_id = value
        .comment_id
        .ok_or("a feed comment without comment_id")?
        .0;
    let id = MetaCommentId::facebook(&comment_id);
    let build = || -> Result<Comment, String> {
        let post = value
            .post_id
            .as_ref()
            .ok_or("a feed comment without post_id")?;
        let from = value.from.as_ref().ok_or("a feed comment without from")?;
        let text = value.message.clone().unwrap_or_default();
        let time = value
            .created_time
            .as_ref()
            .and_then(read_time)
            .unwrap_or(time);
        let is_page = from.id.0 == page.id.as_str();
        let author = if is_page {
            Author::staff(&from.id.0, page.display_name())
        } else {
            Author::member(
                &from.id.0,
                from.name
                    .clone()
                    .unwrap_or_else(|| "Facebook user".to_owned()),
            )
        };
        let channel = MetaChannel::FacebookPost {
            page: page.id.clone(),
            post: post.0.clone(),
        };
        // A parent that is the post itself means a top-level comment: it answers nothing.
        let reply_to = value
            .parent_id
            .as_ref()
            .filter(|parent| parent.0 != post.0)
            .map(|parent| MetaCommentId::facebook(&parent.0));
        let link = format!(
            "https://www.facebook.com/{}?comment_id={}",
            post.0, comment_id
        );
        Ok(Comment::new(
            id.0.clone(),
            Source::Facebook,
            Place::channel(channel.to_channel_id().0, page.facebook_channel_name()),
            author,
            text,
            time,
        )
        .with_reply_to(reply_to)
        .with_link(Some(link)))
    };
    match value.verb.as_str() {
        "add" => {
            let comment = build()?;
            if comment.text.trim().is_empty() {
                // A sticker or photo with no words: nothing to triage.
                return Ok(None);
            }
            Ok(Some(MetaEvent::New {
                comment,
                conversation: None,
            }))
        }
        "edited" => {
            let whole = build().ok();
            let text = value.message.clone().unwrap_or_default();
            Ok(Some(MetaEvent::Edited { id, text, whole }))
        }
        "remove" => Ok(Some(MetaEvent::Removed(id))),
        // hide, unhide and whatever comes next change nothing moderators need.
        _ => Ok(None),
    }
}

fn instagram_comment(page: &Page, value: Value, time: DateTime<Utc>) -> Result<MetaEvent, String> {
    let value: RawInstagramComment =
        serde_json::from_value(value).map_err(|e| format!("unreadable Instagram comment: {e}"))?;
    let from = value.from.ok_or("an Instagram comment without from")?;
    let media = value.media.ok_or("an Instagram comment without media")?;
    let account = page
        .instagram
        .clone()
        .ok_or("the page has no Instagram account")?;
    let is_us = from.id.0 == account.as_str();
    let name = from
        .username
        .clone()
        .map(|u| format!("@{u}"))
        .unwrap_or_else(|| "Instagram user".to_owned());
    let author = if is_us {
        Author::staff(&from.id.0, name)
    } else {
        Author::member(&from.id.0, name)
    };
    let channel = MetaChannel::InstagramMedia {
        account,
        media: media.id.0,
    };
    let comment = Comment::new(
        MetaCommentId::instagram(&value.id.0).0,
        Source::Instagram,
        Place::channel(channel.to_channel_id().0, page.instagram_channel_name()),
        author,
        value.text.unwrap_or_default(),
        time,
    )
    .with_reply_to(value.parent_id.map(|p| MetaCommentId::instagram(&p.0)))
    .with_link(media.permalink.filter(|p| p.starts_with("https://")));
    Ok(MetaEvent::New {
        comment,
        conversation: None,
    })
}

fn messaging_event(
    object: Object,
    page: &Page,
    item: Value,
    entry_time: DateTime<Utc>,
) -> Result<Option<MetaEvent>, String> {
    let item: RawMessaging =
        serde_json::from_value(item).map_err(|e| format!("unreadable messaging event: {e}"))?;
    let (kind, source, channel_name, us) = match object {
        Object::Page => (
            DirectKind::Messenger,
            Source::Messenger,
            "Messenger".to_owned(),
            page.id.as_str(),
        ),
        Object::Instagram => (
            DirectKind::Instagram,
            Source::Instagram,
            page.instagram_channel_name(),
            page.instagram.as_ref().map_or("", |ig| ig.as_str()),
        ),
    };
    if let Some(edit) = item.message_edit {
        return Ok(Some(MetaEvent::Edited {
            id: MetaCommentId::direct(kind, &edit.mid),
            text: edit.text.unwrap_or_default(),
            whole: None,
        }));
    }
    let Some(message) = item.message else {
        // Read and delivery receipts, reactions, postbacks: not messages.
        return Ok(None);
    };
    let id = MetaCommentId::direct(kind, &message.mid);
    if message.is_deleted {
        return Ok(Some(MetaEvent::Removed(id)));
    }
    let sender = item.sender.ok_or("a message without sender")?.id.0;
    let recipient = item.recipient.ok_or("a message without recipient")?.id.0;
    let echo = message.is_echo || (!us.is_empty() && sender == us);
    let person = if echo { recipient } else { sender };
    let channel = MetaChannel::Conversation {
        kind,
        page: page.id.clone(),
        person: person.clone(),
    }
    .to_channel_id();
    let conversation = Conversation {
        channel: channel.clone(),
        page: page.id.clone(),
        person: person.clone(),
    };
    let Some(text) = message.text.filter(|t| !t.trim().is_empty()) else {
        // Attachments only: nothing to triage.
        return Ok(None);
    };
    let time = item.timestamp.and_then(unix_time).unwrap_or(entry_time);
    let place = Place {
        is_dm: true,
        ..Place::channel(channel.0, channel_name)
    };
    let author = if echo {
        Author::staff(us, page.display_name())
    } else {
        let name = match kind {
            DirectKind::Messenger => "Messenger user",
            DirectKind::Instagram => "Instagram user",
        };
        Author::member(&person, name)
    };
    let comment = Comment::new(id.0, source, place, author, text, time);
    Ok(Some(if echo {
        MetaEvent::Echo {
            comment,
            conversation,
        }
    } else {
        MetaEvent::New {
            comment,
            conversation: Some(conversation),
        }
    }))
}

/// Seconds or milliseconds since 1970 (see the module documentation).
pub fn unix_time(value: i64) -> Option<DateTime<Utc>> {
    if value <= 0 {
        return None;
    }
    if value > 100_000_000_000 {
        Utc.timestamp_millis_opt(value).single()
    } else {
        Utc.timestamp_opt(value, 0).single()
    }
}

/// `created_time` is a number in webhooks, and an ISO time (`2026-11-20T09:00:00+0000`) in the
/// Graph API's own answers; both are read.
fn read_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => n.as_i64().and_then(unix_time),
        Value::String(s) => s
            .parse::<i64>()
            .ok()
            .and_then(unix_time)
            .or_else(|| {
                DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            })
            .or_else(|| s.parse::<DateTime<Utc>>().ok()),
        _ => None,
    }
}

/// An id Meta writes as a string, or sometimes as a number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Id(String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Unsigned(u64),
            Signed(i64),
        }
        let id = match Raw::deserialize(deserializer)? {
            Raw::Text(s) => s,
            Raw::Unsigned(n) => n.to_string(),
            Raw::Signed(n) => n.to_string(),
        };
        if id.is_empty() || id.len() > 200 {
            return Err(serde::de::Error::custom("an empty or oversized id"));
        }
        Ok(Id(id))
    }
}

#[derive(Deserialize)]
struct RawBody {
    object: String,
    #[serde(default)]
    entry: Vec<Value>,
}

#[derive(Deserialize)]
struct RawEntry {
    id: Id,
    #[serde(default)]
    time: Option<i64>,
    #[serde(default)]
    changes: Vec<Value>,
    #[serde(default)]
    messaging: Vec<Value>,
}

#[derive(Deserialize)]
struct RawChange {
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct RawFrom {
    id: Id,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct RawFeed {
    #[serde(default)]
    item: String,
    #[serde(default)]
    verb: String,
    #[serde(default)]
    comment_id: Option<Id>,
    #[serde(default)]
    post_id: Option<Id>,
    #[serde(default)]
    parent_id: Option<Id>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    from: Option<RawFrom>,
    #[serde(default)]
    created_time: Option<Value>,
}

#[derive(Deserialize)]
struct RawMedia {
    id: Id,
    #[serde(default)]
    permalink: Option<String>,
}

#[derive(Deserialize)]
struct RawInstagramComment {
    id: Id,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    from: Option<RawFrom>,
    #[serde(default)]
    media: Option<RawMedia>,
    #[serde(default)]
    parent_id: Option<Id>,
}

#[derive(Deserialize)]
struct RawParty {
    id: Id,
}

#[derive(Deserialize)]
struct RawMessage {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
}

#[derive(Deserialize)]
struct RawMessageEdit {
    mid: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawMessaging {
    #[serde(default)]
    sender: Option<RawParty>,
    #[serde(default)]
    recipient: Option<RawParty>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    message: Option<RawMessage>,
    #[serde(default)]
    message_edit: Option<RawMessageEdit>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::types::InstagramAccountId;
    use serde_json::json;

    fn pages() -> Pages {
        Pages::new(vec![Page {
            id: PageId::new("100"),
            name: "Acme Shop".into(),
            instagram: Some(InstagramAccountId::new("1784")),
            instagram_username: "acme".into(),
        }])
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
    }

    fn parse_json(body: Value) -> Parsed {
        parse(body.to_string().as_bytes(), &pages(), now()).unwrap()
    }

    fn feed(value: Value) -> Value {
        json!({"object": "page", "entry": [{"id": "100", "time": 1_790_000_000,
            "changes": [{"field": "feed", "value": value}]}]})
    }

    #[test]
    fn a_facebook_comment_becomes_a_comment_with_its_link_and_time_in_seconds() {
        let parsed = parse_json(feed(json!({
            "item": "comment", "verb": "add", "comment_id": "5_77", "post_id": "100_5",
            "parent_id": "100_5", "message": "My parcel is still not here",
            "from": {"id": "900", "name": "Nora"}, "created_time": 1_790_000_100
        })));
        let [MetaEvent::New {
            comment,
            conversation: None,
        }] = parsed.events.as_slice()
        else {
            panic!("{parsed:?}")
        };
        assert_eq!(comment.id.as_str(), "fb:5_77");
        assert_eq!(comment.source, Source::Facebook);
        assert_eq!(comment.place.channel_name, "Facebook · Acme Shop");
        assert_eq!(comment.author.name, "Nora");
        assert!(!comment.author.is_staff);
        assert_eq!(comment.reply_to, None);
        assert_eq!(comment.time.timestamp(), 1_790_000_100);
        assert_eq!(
            comment.link.as_deref(),
            Some("https://www.facebook.com/100_5?comment_id=5_77")
        );
    }

    #[test]
    fn the_pages_own_reply_is_a_staff_answer_to_its_parent() {
        let parsed = parse_json(feed(json!({
            "item": "comment", "verb": "add", "comment_id": "5_78", "post_id": "100_5",
            "parent_id": "5_77", "message": "Sorry! Sending a new one today.",
            "from": {"id": "100", "name": "Acme Shop"}, "created_time": 1_790_000_200
        })));
        let [MetaEvent::New { comment, .. }] = parsed.events.as_slice() else {
            panic!("{parsed:?}")
        };
        assert!(comment.author.is_staff);
        assert_eq!(comment.reply_to, Some(CommentId::new("fb:5_77")));
    }

    #[test]
    fn posts_and_reactions_are_ignored_and_edits_and_removals_are_read() {
        let body = json!({"object": "page", "entry": [{"id": "100", "changes": [
            {"field": "feed", "value": {"item": "status", "verb": "add", "post_id": "100_5"}},
            {"field": "feed", "value": {"item": "reaction", "verb": "add", "reaction_type": "like"}},
            {"field": "feed", "value": {"item": "comment", "verb": "edited", "comment_id": "5_77",
                "post_id": "100_5", "message": "ok now", "from": {"id": "900"}}},
            {"field": "feed", "value": {"item": "comment", "verb": "remove", "comment_id": "5_77",
                "post_id": "100_5"}}
        ]}]});
        let parsed = parse_json(body);
        assert_eq!(parsed.ignored, 2);
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        assert!(matches!(&parsed.events[0],
            MetaEvent::Edited { id, text, whole: Some(_) } if id.as_str() == "fb:5_77" && text == "ok now"));
        assert_eq!(
            parsed.events[1],
            MetaEvent::Removed(CommentId::new("fb:5_77"))
        );
    }

    #[test]
    fn messenger_messages_and_echoes_with_time_in_milliseconds() {
        let body = json!({"object": "page", "entry": [{"id": "100", "time": 1_790_000_000_000_i64,
        "messaging": [
            {"sender": {"id": "555"}, "recipient": {"id": "100"}, "timestamp": 1_790_000_000_123_i64,
             "message": {"mid": "m_1", "text": "Where is my refund?"}},
            {"sender": {"id": "100"}, "recipient": {"id": "555"}, "timestamp": 1_790_000_100_000_i64,
             "message": {"mid": "m_2", "text": "Checking now", "is_echo": true}},
            {"sender": {"id": "555"}, "recipient": {"id": "100"}, "read": {"watermark": 1}}
        ]}]});
        let parsed = parse_json(body);
        assert_eq!(parsed.ignored, 1);
        let MetaEvent::New {
            comment,
            conversation: Some(conversation),
        } = &parsed.events[0]
        else {
            panic!("{parsed:?}")
        };
        assert_eq!(comment.source, Source::Messenger);
        assert!(comment.place.is_dm);
        assert_eq!(comment.place.channel_name, "Messenger");
        assert_eq!(comment.time.timestamp_millis(), 1_790_000_000_123);
        assert_eq!(conversation.person, "555");
        let MetaEvent::Echo {
            comment: echo,
            conversation: same,
        } = &parsed.events[1]
        else {
            panic!("{parsed:?}")
        };
        assert!(echo.author.is_staff);
        assert_eq!(same, conversation);
    }

    #[test]
    fn instagram_comments_and_direct_messages() {
        let body = json!({"object": "instagram", "entry": [{"id": "1784", "time": 1_790_000_000,
            "changes": [{"field": "comments", "value": {"id": "1801", "text": "Is this in stock?",
                "from": {"id": "42", "username": "luca"}, "media": {"id": "1799", "media_product_type": "FEED"}}}],
            "messaging": [{"sender": {"id": "42"}, "recipient": {"id": "1784"}, "timestamp": 1_790_000_000_000_i64,
                "message": {"mid": "ig_m_1", "text": "hello?"}}]}]});
        let parsed = parse_json(body);
        let MetaEvent::New { comment, .. } = &parsed.events[0] else {
            panic!("{parsed:?}")
        };
        assert_eq!(comment.id.as_str(), "ig:1801");
        assert_eq!(comment.place.channel_name, "Instagram · @acme");
        assert_eq!(comment.author.name, "@luca");
        assert_eq!(comment.link, None);
        let MetaEvent::New {
            comment: dm,
            conversation: Some(c),
        } = &parsed.events[1]
        else {
            panic!("{parsed:?}")
        };
        assert_eq!(dm.source, Source::Instagram);
        assert!(dm.place.is_dm);
        assert_eq!(c.page.as_str(), "100");
    }

    #[test]
    fn a_malformed_entry_is_skipped_and_the_rest_is_read() {
        let body = json!({"object": "page", "entry": [
            {"id": "999", "changes": []},
            {"id": {"nested": true}},
            {"id": "100", "changes": [
                {"field": "feed", "value": {"item": "comment", "verb": "add", "post_id": "100_5"}},
                {"field": "feed", "value": {"item": "comment", "verb": "add", "comment_id": "5_9",
                    "post_id": "100_5", "message": "hi", "from": {"id": "900"}}}
            ]}
        ]});
        let parsed = parse_json(body);
        assert_eq!(parsed.skipped.len(), 3, "{:?}", parsed.skipped);
        assert!(parsed.skipped[0]
            .reason
            .contains("page 999 is not configured"));
        assert_eq!(parsed.events.len(), 1);
    }

    #[test]
    fn bodies_that_are_not_notifications_are_refused_whole() {
        assert!(matches!(
            parse(b"not json", &pages(), now()),
            Err(BodyError::NotJson(_))
        ));
        assert!(matches!(
            parse(
                br#"{"object": "whatsapp_business_account", "entry": []}"#,
                &pages(),
                now()
            ),
            Err(BodyError::UnknownObject(_))
        ));
    }

    #[test]
    fn times_in_either_unit_and_iso_form() {
        assert_eq!(unix_time(1_790_000_000).unwrap().timestamp(), 1_790_000_000);
        assert_eq!(
            unix_time(1_790_000_000_000).unwrap().timestamp(),
            1_790_000_000
        );
        assert_eq!(unix_time(-5), None);
        assert_eq!(read_time(&json!("2026-11-20T09:00:00+0000")), Some(now()));
    }
}
