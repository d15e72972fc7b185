//! The one platform-neutral record every source produces and every later stage reads.
//!
//! Discord messages, replayed JSONL lines and evaluation rows all become a [`Comment`], so
//! triage, the tracker and the digest never know where a comment came from. What only a
//! platform knows (how to link to a message, which message a thread hangs from) the channel
//! adapter writes onto the comment when it builds it: [`Comment::link`] and
//! [`Comment::thread_root`]. A new platform is a new adapter and a [`Source`] variant, not
//! edits to the stages after it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A text id newtype (`new`, `as_str`, `Display`, `From<&str>`, serialised as the bare
/// string), for the core's ids and a channel adapter's own (a Page id, a chat id): ids of
/// different things then cannot be mixed up. Callers need `serde` as a dependency.
#[macro_export]
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

id_type!(
    /// A comment's id on its platform (a Discord snowflake, or the id in a replay file).
    CommentId
);
id_type!(
    /// A channel, thread or DM conversation id on the comment's platform.
    ChannelId
);
id_type!(
    /// The id of a person (or bot) on the comment's platform.
    AuthorId
);

/// Where a comment came from; kept so an alert can link back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Discord,
    Replay,
    /// A comment on a Facebook Page's post.
    Facebook,
    /// A comment on an Instagram professional account's media, or a direct message to it.
    Instagram,
    /// A direct message to a Facebook Page.
    Messenger,
    Telegram,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Discord => "discord",
            Source::Replay => "replay",
            Source::Facebook => "facebook",
            Source::Instagram => "instagram",
            Source::Messenger => "messenger",
            Source::Telegram => "telegram",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "discord" => Some(Source::Discord),
            "replay" => Some(Source::Replay),
            "facebook" => Some(Source::Facebook),
            "instagram" => Some(Source::Instagram),
            "messenger" => Some(Source::Messenger),
            "telegram" => Some(Source::Telegram),
            _ => None,
        }
    }
}

/// Who wrote a comment, with the facts rules and answer detection depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub id: AuthorId,
    pub name: String,
    /// Staff messages count as answers to open comments.
    #[serde(default)]
    pub is_staff: bool,
    /// Bots (including Ascolto itself) are never triaged.
    #[serde(default)]
    pub is_bot: bool,
    /// When the author joined the community, if known; rules can target new members.
    #[serde(default)]
    pub joined_at: Option<DateTime<Utc>>,
}

impl Author {
    /// A member of the community: not staff, not a bot, joining date unknown.
    pub fn member(id: impl Into<String>, name: impl Into<String>) -> Author {
        Author {
            id: AuthorId::new(id),
            name: name.into(),
            is_staff: false,
            is_bot: false,
            joined_at: None,
        }
    }

    /// Staff: their messages answer the comments they reply to.
    pub fn staff(id: impl Into<String>, name: impl Into<String>) -> Author {
        Author {
            is_staff: true,
            ..Author::member(id, name)
        }
    }
}

/// Where a comment was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub channel: ChannelId,
    /// Human name of the channel (without `#`), used in alerts, templates and rule filters.
    pub channel_name: String,
    /// Guild (server) id, absent for direct messages.
    #[serde(default)]
    pub guild: Option<String>,
    /// Parent channel when the comment is in a thread.
    #[serde(default)]
    pub parent: Option<ChannelId>,
    #[serde(default)]
    pub is_dm: bool,
}

impl Place {
    /// A public channel (or group) called `name`.
    pub fn channel(id: impl Into<String>, name: impl Into<String>) -> Place {
        Place {
            channel: ChannelId::new(id),
            channel_name: name.into(),
            guild: None,
            parent: None,
            is_dm: false,
        }
    }

    /// Where it was written, as moderators read it: `#support` or "direct message".
    pub fn describe(&self) -> String {
        if self.is_dm {
            "direct message".to_owned()
        } else {
            format!("#{}", self.channel_name)
        }
    }
}

/// One message written by a member of the community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    pub source: Source,
    pub place: Place,
    pub author: Author,
    pub text: String,
    pub time: DateTime<Utc>,
    /// The comment this one explicitly replies to, if the platform says so.
    #[serde(default)]
    pub reply_to: Option<CommentId>,
    /// People this comment mentions; a mention of an open comment's author is an answer cue.
    #[serde(default)]
    pub mentions: Vec<AuthorId>,
    /// Where the comment can be opened on its platform, when the platform has such links.
    #[serde(default)]
    pub link: Option<String>,
    /// The comment whose thread this one is written in: on a platform where a thread hangs
    /// from a message, writing in that thread answers it as a reply would. Known while the
    /// comment arrives; not kept once it is stored.
    #[serde(default)]
    pub thread_root: Option<CommentId>,
}

impl Comment {
    /// Where it was written, as moderators read it: `#support` or "direct message" on Discord
    /// (and in replayed files that name no platform); other platforms' places carry their
    /// platform in their name ("Telegram · Clienti", "Messenger").
    pub fn place_described(&self) -> String {
        match self.source {
            Source::Discord | Source::Replay => self.place.describe(),
            Source::Facebook | Source::Instagram | Source::Messenger | Source::Telegram => {
                self.place.channel_name.clone()
            }
        }
    }

    /// A comment with no reply, mention, link or thread: the fields every source has. The
    /// others are set with the `with_` methods, so adding one never touches every caller.
    pub fn new(
        id: impl Into<String>,
        source: Source,
        place: Place,
        author: Author,
        text: impl Into<String>,
        time: DateTime<Utc>,
    ) -> Comment {
        Comment {
            id: CommentId::new(id),
            source,
            place,
            author,
            text: text.into(),
            time,
            reply_to: None,
            mentions: Vec::new(),
            link: None,
            thread_root: None,
        }
    }

    pub fn with_reply_to(mut self, to: Option<CommentId>) -> Comment {
        self.reply_to = to;
        self
    }

    pub fn with_mentions(mut self, mentions: Vec<AuthorId>) -> Comment {
        self.mentions = mentions;
        self
    }

    pub fn with_link(mut self, link: Option<String>) -> Comment {
        self.link = link;
        self
    }

    pub fn with_thread_root(mut self, root: Option<CommentId>) -> Comment {
        self.thread_root = root;
        self
    }

    /// Whether the author joined less than `days` days before writing this comment.
    pub fn is_from_new_member(&self, days: i64) -> bool {
        self.author.joined_at.is_some_and(|joined| {
            // A window too wide for a time span covers every member there is.
            chrono::Duration::try_days(days).is_none_or(|window| self.time - joined < window)
        })
    }
}
