//! The Graph API client: replies to Facebook and Instagram comments and direct messages, with
//! the page's access token, and Meta's errors turned into what to do about them.
//!
//! Errors are classified on `error.code` (and `is_transient`) rather than on the HTTP status,
//! which Meta does not document and which varies (rate limits come back as 400 and 403
//! alike); only an HTTP 429 (a rate limit) and a 5xx (Meta's side failed, the write may have
//! happened) are read from the status. Each
//! classification says what happens next: [`GraphError::retry_after`] for the outbox, and a
//! message a moderator can act on for everything that needs a person.
//!
//! The 24-hour window of direct messages is checked here, before any request: outside it
//! Meta refuses ordinary replies, and a refusal we predict costs no rate-limit budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, info_span, warn, Instrument};

use crate::clock::Clock;
use crate::comment::{Comment, Source};
use crate::config::MetaSettings;

use super::inbox::Inbox;
use super::types::{page_token_variable, DirectKind, MetaChannel, MetaCommentId, PageId, Pages};

/// Meta's standard messaging window after a person's last message.
pub const MESSAGING_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// How long a request may take before it counts as failed (and is retried by the outbox).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a reply was not posted, worded for the moderator who has to act on it.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Rate limits (codes 4, 17, 32, 613, 80000–80014), temporary blocks (341, 368) and
    /// transient errors: try again after `after`.
    #[error("Meta asked Ascolto to slow down for page {page} (error {code}): the reply will be tried again in {} min", after.as_secs().div_ceil(60))]
    Retry {
        page: PageId,
        code: i64,
        after: Duration,
    },
    /// Codes 190 and 463: never retried, a person must replace the token.
    #[error("the Page access token for page {page} has expired or was revoked: create a new one in Meta Business Suite and set {}", page_token_variable(page))]
    Expired { page: PageId },
    /// Codes 10 and 200–299.
    #[error("the Page access token for page {page} lacks a permission this reply needs ({message}): give the app pages_manage_engagement, pages_messaging, instagram_manage_comments and instagram_manage_messages, then create a new token")]
    Permission { page: PageId, message: String },
    /// Code 506: Meta already has this exact reply, so it was delivered.
    #[error("Meta already has this reply (duplicate post): it was delivered before")]
    Duplicate,
    #[error("not sent: the person last wrote {} hours ago, and Meta only allows replies to a direct message within 24 hours of the person's last message; answer from the Page's inbox in Meta Business Suite", (*now - *last_message).num_hours())]
    OutsideWindow {
        last_message: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error(
        "no access token for page {page}: set the {} environment variable",
        page_token_variable(page)
    )]
    NoToken { page: PageId },
    #[error("comment {id} is not a Facebook, Instagram or Messenger comment Ascolto can answer")]
    NotMeta { id: String },
    #[error("Meta refused the reply: {message} (error {code})")]
    Refused { code: i64, message: String },
    #[error("could not reach the Graph API: {0}")]
    Network(String),
    /// A 5xx: Meta's side failed, and the reply may or may not have been posted.
    #[error("the Graph API failed on its side (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("the Graph API answered {status} with something that is not a Graph answer")]
    Unreadable { status: u16 },
    #[error("setting meta.graph_base: {0}")]
    Setup(String),
}

impl GraphError {
    /// When to try again, for errors that pass with time; `None` means do not retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Retry { after, .. } => Some(*after),
            GraphError::Network(_) | GraphError::Server { .. } => Some(Duration::from_secs(30)),
            _ => None,
        }
    }

    /// Whether the reply is on the platform anyway (a duplicate of one posted before).
    pub fn is_delivered(&self) -> bool {
        matches!(self, GraphError::Duplicate)
    }
}

/// Meta's error body.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    is_transient: bool,
}

/// Turns Meta's error into what to do. `usage_wait` is what the Business Use Case usage header
/// says to wait, when it says; `rate_limit_wait` is the wait after a rate limit otherwise
/// (`[meta] rate_limit_wait`).
fn classify(
    page: &PageId,
    detail: ErrorDetail,
    usage_wait: Option<Duration>,
    rate_limit_wait: Duration,
) -> GraphError {
    let retry = |code: i64, default: Duration| GraphError::Retry {
        page: page.clone(),
        code,
        after: usage_wait.unwrap_or(default),
    };
    match detail.code {
        4 | 17 | 32 | 613 | 80_000..=80_014 => retry(detail.code, rate_limit_wait),
        341 => retry(341, Duration::from_secs(5 * 60)),
        368 => retry(368, Duration::from_secs(60 * 60)),
        190 | 463 => GraphError::Expired { page: page.clone() },
        10 | 200..=299 => GraphError::Permission {
            page: page.clone(),
            message: detail.message,
        },
        506 => GraphError::Duplicate,
        code if detail.is_transient => retry(code, rate_limit_wait),
        code => GraphError::Refused {
            code,
            message: detail.message,
        },
    }
}

/// The longest `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`.
fn usage_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value: Value = headers
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok())?;
    let minutes = value
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|usage| usage.get("estimated_time_to_regain_access")?.as_u64())
        .max()?;
    (minutes > 0).then(|| Duration::from_secs(minutes.min(24 * 60) * 60))
}

/// The client.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    /// `https://graph.facebook.com/v21.0`
    base: String,
    pages: Pages,
    tokens: HashMap<PageId, SecretString>,
    clock: Arc<dyn Clock>,
    /// Where the direct-message windows are read; without it only the comment's own time is.
    inbox: Option<Inbox>,
    /// The wait after a rate limit when Meta does not say how long.
    rate_limit_wait: Duration,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    pub fn new(
        settings: &MetaSettings,
        pages: Pages,
        tokens: HashMap<PageId, SecretString>,
        clock: Arc<dyn Clock>,
        inbox: Option<Inbox>,
    ) -> Result<GraphClient, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("ascolto/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Setup(e.to_string()))?;
        Ok(GraphClient {
            http,
            base: format!(
                "{}/{}",
                settings.graph_base.trim_end_matches('/'),
                settings.version.trim_matches('/')
            ),
            pages,
            tokens,
            clock,
            inbox,
            rate_limit_wait: settings
                .rate_limit_wait
                .0
                .to_std()
                .unwrap_or(Duration::from_secs(60)),
        })
    }

    /// Posts `text` as the reply to `comment`, by the call its platform needs; returns the
    /// platform's id of the reply. The one entry point the outbox calls.
    pub async fn post_reply(&self, comment: &Comment, text: &str) -> Result<String, GraphError> {
        let not_meta = || GraphError::NotMeta {
            id: comment.id.to_string(),
        };
        let id = MetaCommentId::parse(&comment.id).ok_or_else(not_meta)?;
        let channel = MetaChannel::parse(&comment.place.channel).ok_or_else(not_meta)?;
        match (comment.source, id, channel) {
            (
                Source::Facebook,
                MetaCommentId::Facebook(id),
                MetaChannel::FacebookPost { page, .. },
            ) => self.reply_to_facebook_comment(&page, &id, text).await,
            (
                Source::Instagram,
                MetaCommentId::Instagram(id),
                MetaChannel::InstagramMedia { account, .. },
            ) => {
                let page = self
                    .pages
                    .by_instagram(account.as_str())
                    .map(|p| p.id.clone())
                    .ok_or_else(not_meta)?;
                self.reply_to_instagram_comment(&page, &id, text).await
            }
            (
                Source::Messenger | Source::Instagram,
                MetaCommentId::Direct(_),
                MetaChannel::Conversation { page, person, .. },
            ) => {
                let stored = match &self.inbox {
                    Some(inbox) => inbox
                        .last_inbound(&comment.place.channel)
                        .await
                        .map_err(|e| GraphError::Setup(e.to_string()))?,
                    None => None,
                };
                let own = (comment.author.id.as_str() == person).then_some(comment.time);
                let last = stored.max(own).unwrap_or(comment.time);
                self.send_message(&page, &person, text, last).await
            }
            _ => Err(not_meta()),
        }
    }

    /// `POST /{comment-id}/comments` with `message`: a reply under a Facebook comment.
    pub async fn reply_to_facebook_comment(
        &self,
        page: &PageId,
        comment_id: &str,
        text: &str,
    ) -> Result<String, GraphError> {
        let path = format!("{}/comments", path_segment(comment_id)?);
        self.post(page, &path, json!({ "message": text })).await
    }

    /// `POST /{ig-comment-id}/replies` with `message`: a reply under an Instagram comment.
    pub async fn reply_to_instagram_comment(
        &self,
        page: &PageId,
        comment_id: &str,
        text: &str,
    ) -> Result<String, GraphError> {
        let path = format!("{}/replies", path_segment(comment_id)?);
        self.post(page, &path, json!({ "message": text })).await
    }

    /// `POST /{page-id}/messages`: a direct message in answer to the person's, refused here
    /// (no request made) outside the 24-hour window after `last_inbound`.
    pub async fn send_message(
        &self,
        page: &PageId,
        recipient: &str,
        text: &str,
        last_inbound: DateTime<Utc>,
    ) -> Result<String, GraphError> {
        let now = self.clock.now();
        if now - last_inbound > MESSAGING_WINDOW {
            return Err(GraphError::OutsideWindow {
                last_message: last_inbound,
                now,
            });
        }
        let path = format!("{}/messages", path_segment(page.as_str())?);
        let body = json!({
            "recipient": { "id": recipient },
            "message": { "text": text },
            "messaging_type": "RESPONSE",
        });
        self.post(page, &path, body).await
    }

    async fn post(&self, page: &PageId, path: &str, body: Value) -> Result<String, GraphError> {
        let token = self
            .tokens
            .get(page)
            .ok_or_else(|| GraphError::NoToken { page: page.clone() })?;
        let span = info_span!("graph.post", page = %page, path = %path);
        async {
            let response = self
                .http
                .post(format!("{}/{path}", self.base))
                // In a header, not the query: URLs end up in proxies' logs.
                .bearer_auth(token.expose_secret())
                .json(&body)
                .send()
                .await
                // Without the URL: it names the path only, but keep logs to what helps.
                .map_err(|e| GraphError::Network(e.without_url().to_string()))?;
            let answer = self.answer(page, response).await?;
            let id = ["id", "message_id"]
                .iter()
                .find_map(|key| answer.get(key).and_then(Value::as_str))
                .ok_or(GraphError::Unreadable { status: 200 })?;
            info!(reply = %id, "reply posted on Meta");
            Ok(id.to_owned())
        }
        .instrument(span)
        .await
    }
}

impl GraphClient {
    /// A message with `text` the page (or its Instagram account) sent `person` since `since`.
    async fn find_message(
        &self,
        kind: DirectKind,
        page: &PageId,
        person: &str,
        text: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, GraphError> {
        let (platform, author) = match kind {
            DirectKind::Messenger => ("messenger", page.to_string()),
            DirectKind::Instagram => {
                let Some(account) = self
                    .pages
                    .by_id(page.as_str())
                    .and_then(|p| p.instagram.clone())
                else {
                    return Ok(None);
                };
                ("instagram", account.to_string())
            }
        };
        let path = format!("{}/conversations", path_segment(page.as_str())?);
        let query = [
            ("platform", platform),
            ("user_id", person),
            ("fields", "messages.limit(25){id,message,from,created_time}"),
        ];
        let answer = self.get(page, &path, &query).await?;
        // Clocks differ a little between Meta and this machine.
        let since = since - chrono::Duration::minutes(5);
        Ok(answer["data"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|conversation| {
                conversation["messages"]["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .filter(|m| m["from"]["id"] == author.as_str() && m["message"] == text)
            .filter(|m| {
                m["created_time"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z").ok())
                    .is_some_and(|t| t.with_timezone(&Utc) >= since)
            })
            .find_map(|m| m["id"].as_str().map(str::to_owned)))
    }

    /// Reads an answer: its JSON on success, else the error classified. An HTTP 429 is a rate
    /// limit whatever its body says, and a 5xx a failure on Meta's side (the write may have
    /// happened), whatever code it carries.
    async fn answer(
        &self,
        page: &PageId,
        response: reqwest::Response,
    ) -> Result<Value, GraphError> {
        let status = response.status();
        let wait = usage_wait(response.headers());
        let text = response
            .text()
            .await
            .map_err(|e| GraphError::Network(e.without_url().to_string()))?;
        let answer: Option<Value> = serde_json::from_str(&text).ok();
        let error = answer
            .as_ref()
            .and_then(|a| serde_json::from_value::<ErrorBody>(a.clone()).ok());
        let error = match (status.as_u16(), error) {
            (429, error) => Some(GraphError::Retry {
                page: page.clone(),
                code: error.map(|e| e.error.code).unwrap_or(0),
                after: wait.unwrap_or(self.rate_limit_wait),
            }),
            (500..=599, error) => Some(GraphError::Server {
                status: status.as_u16(),
                message: error.map(|e| e.error.message).unwrap_or_default(),
            }),
            (_, Some(error)) => Some(classify(page, error.error, wait, self.rate_limit_wait)),
            (_, None) => None,
        };
        if let Some(error) = error {
            warn!(error = %error, "Graph API refused");
            return Err(error);
        }
        match answer {
            Some(answer) if status.is_success() => Ok(answer),
            _ => Err(GraphError::Unreadable {
                status: status.as_u16(),
            }),
        }
    }

    async fn get(
        &self,
        page: &PageId,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, GraphError> {
        let token = self
            .tokens
            .get(page)
            .ok_or_else(|| GraphError::NoToken { page: page.clone() })?;
        let response = self
            .http
            .get(format!("{}/{path}", self.base))
            .query(query)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| GraphError::Network(e.without_url().to_string()))?;
        self.answer(page, response).await
    }

    /// Looks for a reply with exactly `text` that the page already posted for `comment`: an
    /// earlier attempt whose answer was lost. Facebook (`GET /{comment-id}/comments`, the
    /// newest 100, by `from.id`) and Instagram (`GET /{ig-comment-id}/replies`, by `from.id`)
    /// list a comment's replies. A direct message is looked for among the conversation's
    /// latest messages (`GET /{page-id}/conversations?user_id=…`), sent by the page since
    /// `since` (the reply was queued then; an older message with the same words is another
    /// reply).
    pub async fn find_reply(
        &self,
        comment: &Comment,
        text: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, GraphError> {
        let (Some(id), Some(channel)) = (
            MetaCommentId::parse(&comment.id),
            MetaChannel::parse(&comment.place.channel),
        ) else {
            return Ok(None);
        };
        if let MetaChannel::Conversation { kind, page, person } = &channel {
            return self.find_message(*kind, page, person, text, since).await;
        }
        let (page, path, author, field) = match (id, channel) {
            (MetaCommentId::Facebook(id), MetaChannel::FacebookPost { page, .. }) => {
                let path = format!("{}/comments", path_segment(&id)?);
                let author = page.to_string();
                (page, path, author, "message")
            }
            (MetaCommentId::Instagram(id), MetaChannel::InstagramMedia { account, .. }) => {
                let Some(page) = self
                    .pages
                    .by_instagram(account.as_str())
                    .map(|p| p.id.clone())
                else {
                    return Ok(None);
                };
                (
                    page,
                    format!("{}/replies", path_segment(&id)?),
                    account.to_string(),
                    "text",
                )
            }
            _ => return Ok(None),
        };
        let fields = format!("id,from,{field}");
        let mut query = vec![("fields", fields.as_str()), ("limit", "100")];
        if field == "message" {
            query.push(("order", "reverse_chronological"));
        }
        let answer = self.get(&page, &path, &query).await?;
        Ok(answer["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|reply| reply["from"]["id"] == author.as_str() && reply[field] == text)
            .and_then(|reply| reply["id"].as_str().map(str::to_owned)))
    }
}

/// An id as one URL path segment; ids are digits, letters, `_`, `-` and `.`, so anything else
/// is refused rather than escaped into another endpoint.
fn path_segment(id: &str) -> Result<&str, GraphError> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(id)
    } else {
        Err(GraphError::NotMeta { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_60(page: &PageId, detail: ErrorDetail, usage: Option<Duration>) -> GraphError {
        classify(page, detail, usage, Duration::from_secs(60))
    }

    fn detail(code: i64, transient: bool) -> ErrorDetail {
        ErrorDetail {
            message: "m".into(),
            code,
            is_transient: transient,
        }
    }

    #[test]
    fn errors_are_classified_on_the_code() {
        let page = PageId::new("42");
        for code in [4, 17, 32, 613, 80_000, 80_014] {
            let e = classify_60(&page, detail(code, false), None);
            assert_eq!(
                e.retry_after(),
                Some(Duration::from_secs(60)),
                "{code}: {e}"
            );
        }
        assert!(classify_60(&page, detail(341, false), None)
            .retry_after()
            .is_some());
        let expired = classify_60(&page, detail(190, false), None);
        assert!(matches!(expired, GraphError::Expired { .. }));
        assert_eq!(expired.retry_after(), None);
        assert!(
            expired.to_string().contains("META_PAGE_TOKEN_42"),
            "{expired}"
        );
        assert!(matches!(
            classify_60(&page, detail(200, false), None),
            GraphError::Permission { .. }
        ));
        assert!(classify_60(&page, detail(506, false), None).is_delivered());
        assert!(classify_60(&page, detail(1, true), None)
            .retry_after()
            .is_some());
        assert!(matches!(
            classify_60(&page, detail(100, false), None),
            GraphError::Refused { code: 100, .. }
        ));
        let waited = classify_60(&page, detail(80_001, false), Some(Duration::from_secs(600)));
        assert_eq!(waited.retry_after(), Some(Duration::from_secs(600)));
    }

    #[test]
    fn the_usage_header_says_how_long_to_wait() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-business-use-case-usage",
            r#"{"42":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":7}]}"#
                .parse()
                .unwrap(),
        );
        assert_eq!(usage_wait(&headers), Some(Duration::from_secs(420)));
        assert_eq!(usage_wait(&reqwest::header::HeaderMap::new()), None);
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert!(path_segment("100_5").is_ok());
        assert!(path_segment("../me").is_err());
        assert!(path_segment("1?fields=x").is_err());
        assert!(path_segment("").is_err());
    }
}
