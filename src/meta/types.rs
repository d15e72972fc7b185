//! The Meta channel's vocabulary: typed ids, the pages it serves, where a Meta comment lives
//! (encoded in the core's platform-neutral ids and decoded again to answer it), and the
//! secrets it reads from the environment.
//!
//! Comment and channel ids carry a platform prefix (`fb:`, `ig:`, `facebook:`...) because the
//! store keys comments by id alone: a numeric Instagram id must never meet a Discord snowflake
//! of the same digits.

use std::collections::HashMap;
use std::fmt;

use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::comment::{ChannelId, CommentId};
use crate::config::MetaSettings;

ascolto_core::id_type!(
    /// A Facebook Page's id: what page access tokens are issued for.
    PageId
);
ascolto_core::id_type!(
    /// An Instagram professional account's id (the `entry.id` of `instagram` webhooks).
    InstagramAccountId
);

/// One configured page and the Instagram account linked to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub id: PageId,
    pub name: String,
    pub instagram: Option<InstagramAccountId>,
    pub instagram_username: String,
}

impl Page {
    /// "Facebook · Acme Shop", or the page id when it has no name.
    pub fn facebook_channel_name(&self) -> String {
        let name = if self.name.trim().is_empty() {
            self.id.as_str()
        } else {
            self.name.trim()
        };
        format!("Facebook · {name}")
    }

    /// "Instagram · @acme", or the account id when no username is configured.
    pub fn instagram_channel_name(&self) -> String {
        match (&self.instagram, self.instagram_username.trim()) {
            (_, username) if !username.is_empty() => {
                format!("Instagram · @{}", username.trim_start_matches('@'))
            }
            (Some(id), _) => format!("Instagram · {id}"),
            (None, _) => "Instagram".to_owned(),
        }
    }

    /// How moderators know the page in its own replies.
    pub fn display_name(&self) -> String {
        if self.name.trim().is_empty() {
            format!("Page {}", self.id)
        } else {
            self.name.trim().to_owned()
        }
    }
}

/// The configured pages, found by page id or by linked Instagram account.
#[derive(Debug, Clone, Default)]
pub struct Pages {
    pages: Vec<Page>,
}

impl Pages {
    pub fn from_settings(settings: &MetaSettings) -> Pages {
        Pages {
            pages: settings
                .pages
                .iter()
                .map(|p| Page {
                    id: PageId::new(p.id.trim()),
                    name: p.name.clone(),
                    instagram: Some(p.instagram_id.trim())
                        .filter(|id| !id.is_empty())
                        .map(InstagramAccountId::new),
                    instagram_username: p.instagram_username.clone(),
                })
                .collect(),
        }
    }

    pub fn new(pages: Vec<Page>) -> Pages {
        Pages { pages }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Page> {
        self.pages.iter()
    }

    pub fn by_id(&self, id: &str) -> Option<&Page> {
        self.pages.iter().find(|p| p.id.as_str() == id)
    }

    pub fn by_instagram(&self, id: &str) -> Option<&Page> {
        self.pages
            .iter()
            .find(|p| p.instagram.as_ref().is_some_and(|ig| ig.as_str() == id))
    }
}

/// Which of Meta's direct-message products a conversation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectKind {
    Messenger,
    Instagram,
}

impl DirectKind {
    fn prefix(self) -> &'static str {
        match self {
            DirectKind::Messenger => "messenger",
            DirectKind::Instagram => "igdirect",
        }
    }
}

/// Where a Meta comment was written, as encoded in its [`ChannelId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaChannel {
    /// Comments under one post of a page.
    FacebookPost { page: PageId, post: String },
    /// Comments under one Instagram media.
    InstagramMedia {
        account: InstagramAccountId,
        media: String,
    },
    /// A person's direct-message conversation with a page (or its Instagram account).
    Conversation {
        kind: DirectKind,
        page: PageId,
        person: String,
    },
}

impl MetaChannel {
    pub fn to_channel_id(&self) -> ChannelId {
        ChannelId::new(match self {
            MetaChannel::FacebookPost { page, post } => format!("facebook:{page}:{post}"),
            MetaChannel::InstagramMedia { account, media } => {
                format!("instagram:{account}:{media}")
            }
            MetaChannel::Conversation { kind, page, person } => {
                format!("{}:{page}:{person}", kind.prefix())
            }
        })
    }

    /// Decodes a channel id written by [`MetaChannel::to_channel_id`].
    pub fn parse(channel: &ChannelId) -> Option<MetaChannel> {
        let mut parts = channel.as_str().splitn(3, ':');
        let (kind, owner, rest) = (parts.next()?, parts.next()?, parts.next()?);
        if owner.is_empty() || rest.is_empty() {
            return None;
        }
        Some(match kind {
            "facebook" => MetaChannel::FacebookPost {
                page: PageId::new(owner),
                post: rest.to_owned(),
            },
            "instagram" => MetaChannel::InstagramMedia {
                account: InstagramAccountId::new(owner),
                media: rest.to_owned(),
            },
            "messenger" | "igdirect" => MetaChannel::Conversation {
                kind: if kind == "messenger" {
                    DirectKind::Messenger
                } else {
                    DirectKind::Instagram
                },
                page: PageId::new(owner),
                person: rest.to_owned(),
            },
            _ => return None,
        })
    }
}

/// A Meta comment's id in the store, and the platform's own id it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommentId {
    /// A Facebook comment id (`{post}_{comment}`), as the Graph API takes it.
    Facebook(String),
    /// An Instagram comment id.
    Instagram(String),
    /// A direct message. Stored as a hash of Meta's message id: those run past 90 characters,
    /// and Discord allows 100 for a button's id, which carries the comment id.
    Direct(String),
}

impl MetaCommentId {
    pub fn facebook(id: &str) -> CommentId {
        CommentId::new(format!("fb:{id}"))
    }

    pub fn instagram(id: &str) -> CommentId {
        CommentId::new(format!("ig:{id}"))
    }

    /// The same message id always gives the same comment id, so Meta's retries and edits find it.
    pub fn direct(kind: DirectKind, mid: &str) -> CommentId {
        let digest = Sha256::digest(mid.as_bytes());
        let short = digest.get(..16).map(hex::encode).unwrap_or_default();
        let prefix = match kind {
            DirectKind::Messenger => "fbdm",
            DirectKind::Instagram => "igdm",
        };
        CommentId::new(format!("{prefix}:{short}"))
    }

    pub fn parse(id: &CommentId) -> Option<MetaCommentId> {
        let (kind, rest) = id.as_str().split_once(':')?;
        if rest.is_empty() {
            return None;
        }
        match kind {
            "fb" => Some(MetaCommentId::Facebook(rest.to_owned())),
            "ig" => Some(MetaCommentId::Instagram(rest.to_owned())),
            "fbdm" | "igdm" => Some(MetaCommentId::Direct(rest.to_owned())),
            _ => None,
        }
    }
}

/// Why the Meta channel cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "the {0} environment variable is not set (Meta secrets are read only from the environment)"
    )]
    Missing(String),
}

/// The Meta secrets, read only from the environment and never logged or stored.
#[derive(Clone)]
pub struct MetaSecrets {
    /// Signs every webhook body (App Dashboard → App settings → Basic → App secret).
    pub app_secret: SecretString,
    /// Our answer to Meta's subscription check, chosen when the webhook is set up.
    pub verify_token: SecretString,
    /// One Page access token per configured page, for the Graph API.
    pub page_tokens: HashMap<PageId, SecretString>,
}

impl fmt::Debug for MetaSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaSecrets")
            .field("pages", &self.page_tokens.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl MetaSecrets {
    /// `META_APP_SECRET`, `META_VERIFY_TOKEN` and `META_PAGE_TOKEN_<PAGE_ID>` for each page.
    pub fn from_env(pages: &Pages) -> Result<MetaSecrets, SecretsError> {
        Self::from_lookup(pages, |name| std::env::var(name).ok())
    }

    /// As [`MetaSecrets::from_env`], reading variables through `lookup` (for tests).
    pub fn from_lookup(
        pages: &Pages,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<MetaSecrets, SecretsError> {
        let read = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(SecretString::from)
                .ok_or_else(|| SecretsError::Missing(name.to_owned()))
        };
        let mut page_tokens = HashMap::new();
        for page in pages.iter() {
            let token = read(&page_token_variable(&page.id))?;
            page_tokens.insert(page.id.clone(), token);
        }
        Ok(MetaSecrets {
            app_secret: read("META_APP_SECRET")?,
            verify_token: read("META_VERIFY_TOKEN")?,
            page_tokens,
        })
    }
}

/// The environment variable holding a page's access token.
pub fn page_token_variable(page: &PageId) -> String {
    format!("META_PAGE_TOKEN_{page}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_ids_round_trip() {
        let channels = [
            MetaChannel::FacebookPost {
                page: PageId::new("1"),
                post: "1_2".into(),
            },
            MetaChannel::InstagramMedia {
                account: InstagramAccountId::new("17"),
                media: "99".into(),
            },
            MetaChannel::Conversation {
                kind: DirectKind::Instagram,
                page: PageId::new("1"),
                person: "555".into(),
            },
        ];
        for channel in channels {
            assert_eq!(MetaChannel::parse(&channel.to_channel_id()), Some(channel));
        }
        assert_eq!(MetaChannel::parse(&ChannelId::new("123456")), None);
        assert_eq!(
            MetaCommentId::parse(&MetaCommentId::facebook("1_2")),
            Some(MetaCommentId::Facebook("1_2".into()))
        );
        let dm = MetaCommentId::direct(DirectKind::Messenger, &"m_".repeat(60));
        assert!(dm.as_str().len() < 40, "{dm}");
        assert_eq!(
            dm,
            MetaCommentId::direct(DirectKind::Messenger, &"m_".repeat(60))
        );
    }

    #[test]
    fn a_missing_secret_is_named() {
        let pages = Pages::new(vec![Page {
            id: PageId::new("42"),
            name: String::new(),
            instagram: None,
            instagram_username: String::new(),
        }]);
        let err = MetaSecrets::from_lookup(&pages, |n| {
            (n != "META_PAGE_TOKEN_42").then(|| "x".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains("META_PAGE_TOKEN_42"), "{err}");
        let ok = MetaSecrets::from_lookup(&pages, |_| Some("secret-value".to_owned())).unwrap();
        assert!(!format!("{ok:?}").contains("secret-value"));
    }
}
