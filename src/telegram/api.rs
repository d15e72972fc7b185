//! The Bot API client: one method per call Ascolto makes, each a POST of JSON (multipart for a
//! photo) to `<api_base>/bot<token>/<method>`, and one error type classified from Telegram's
//! `{"ok": false, "error_code", "description", "parameters"}` so callers decide by kind (wait,
//! give up on that chat, fix the request, try later) and never by reading descriptions.
//!
//! The token is part of every URL, so no URL is ever logged or put in an error: reqwest's
//! errors are stripped of theirs.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::types::{
    ChatId, ChatMember, Envelope, Message, TgMessageId, ThreadId, UpdateId, User, ALLOWED_UPDATES,
};

/// How long an ordinary call may take before it counts as a network failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time a long poll gets beyond its own timeout before the client gives up on it.
const POLL_GRACE: Duration = Duration::from_secs(15);

/// Why a Bot API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TelegramError {
    #[error("Telegram asks to wait {0:?} before calling again (flood control)")]
    RetryAfter(Duration),
    #[error("Telegram refused ({0}): the bot was removed from the chat, or the person blocked it")]
    Forbidden(String),
    #[error("Telegram rejected the request: {0}")]
    BadRequest(String),
    #[error("the group was upgraded to supergroup {to}; messages go there now")]
    Migrated { to: ChatId },
    #[error("Telegram rejected the bot token ({0}); ask @BotFather for the token again (/token) and put it in TELEGRAM_TOKEN")]
    Unauthorized(String),
    #[error("Telegram says another process reads this bot's updates ({0}); run one `ascolto run` per bot, and delete any webhook (deleteWebhook)")]
    Conflict(String),
    #[error("Telegram could not be reached or failed ({0}); trying again later")]
    Transient(String),
}

impl TelegramError {
    /// Worth trying again as it is (after waiting, for [`TelegramError::RetryAfter`]).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TelegramError::RetryAfter(_) | TelegramError::Transient(_)
        )
    }

    /// Classifies Telegram's error answer.
    pub fn from_answer(
        status: u16,
        code: Option<u16>,
        description: Option<String>,
        parameters: Option<super::types::ResponseParameters>,
    ) -> TelegramError {
        let description = description.unwrap_or_else(|| format!("HTTP {status}"));
        let parameters = parameters.unwrap_or_default();
        match code.unwrap_or(status) {
            429 => TelegramError::RetryAfter(Duration::from_secs(
                parameters.retry_after.unwrap_or(1).max(1),
            )),
            400 => match parameters.migrate_to_chat_id {
                Some(to) => TelegramError::Migrated { to },
                None => TelegramError::BadRequest(description),
            },
            // A malformed token is "404 Not Found" on every method.
            401 | 404 => TelegramError::Unauthorized(description),
            403 => TelegramError::Forbidden(description),
            409 => TelegramError::Conflict(description),
            _ => TelegramError::Transient(description),
        }
    }
}

/// An inline keyboard: rows of buttons whose clicks come back as callback queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineKeyboard {
    pub inline_keyboard: Vec<Vec<InlineButton>>,
}

impl InlineKeyboard {
    /// No buttons: what an alert shows once nothing is left to do.
    pub fn none() -> InlineKeyboard {
        InlineKeyboard {
            inline_keyboard: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineButton {
    pub text: String,
    pub callback_data: String,
}

/// A message to send. Always plain text: no `parse_mode`, so nothing a member wrote can
/// format the message or smuggle in a link or mention entity.
#[derive(Debug, Clone, Serialize)]
pub struct SendMessage {
    pub chat_id: ChatId,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_thread_id: Option<ThreadId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_parameters: Option<ReplyTo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<InlineKeyboard>,
    /// Member links would unfurl into previews in the moderators' chat; alerts show them bare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_preview_options: Option<Value>,
}

impl SendMessage {
    pub fn new(chat_id: ChatId, text: impl Into<String>) -> SendMessage {
        SendMessage {
            chat_id,
            text: text.into(),
            message_thread_id: None,
            reply_parameters: None,
            reply_markup: None,
            link_preview_options: None,
        }
    }
}

/// `reply_parameters`: the message a reply answers. `allow_sending_without_reply` keeps the
/// reply from failing when the member deleted their message meanwhile.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyTo {
    pub message_id: TgMessageId,
    pub allow_sending_without_reply: bool,
}

/// The Bot API, reached with one token.
#[derive(Clone)]
pub struct TelegramApi {
    http: reqwest::Client,
    base: String,
    token: SecretString,
}

impl std::fmt::Debug for TelegramApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl TelegramApi {
    /// A client for `base` (`https://api.telegram.org`, or a local Bot API server or fake).
    pub fn new(base: &str, token: SecretString) -> Result<TelegramApi, TelegramError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TelegramError::Transient(e.without_url().to_string()))?;
        Ok(TelegramApi {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{method}", self.base, self.token.expose_secret())
    }

    /// One call with a JSON body.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, TelegramError> {
        let request = self.http.post(self.url(method)).json(body).timeout(timeout);
        self.send(method, request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, TelegramError> {
        let network = |e: reqwest::Error| TelegramError::Transient(e.without_url().to_string());
        let response = request.send().await.map_err(network)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(network)?;
        let envelope: Envelope<T> = match serde_json::from_slice(&bytes) {
            Ok(envelope) => envelope,
            // A proxy's HTML error page, or a 5xx without a body.
            Err(_) if status >= 400 => {
                return Err(TelegramError::from_answer(
                    status,
                    None,
                    Some(format!("HTTP {status} from {method}")),
                    None,
                ))
            }
            Err(e) => {
                return Err(TelegramError::Transient(format!(
                    "the answer to {method} is not what the Bot API describes: {e}"
                )))
            }
        };
        match (envelope.ok, envelope.result) {
            (true, Some(result)) => Ok(result),
            (true, None) => Err(TelegramError::Transient(format!(
                "{method} answered ok without a result"
            ))),
            (false, _) => Err(TelegramError::from_answer(
                status,
                envelope.error_code,
                envelope.description,
                envelope.parameters,
            )),
        }
    }

    /// The bot itself, with whether privacy mode lets it read group messages.
    pub async fn get_me(&self) -> Result<User, TelegramError> {
        self.call("getMe", &json!({}), CALL_TIMEOUT).await
    }

    /// Updates from `offset` on, waiting up to `timeout` for the first one. Returned raw, so
    /// the caller reads each on its own and one malformed update cannot hide the others.
    pub async fn get_updates(
        &self,
        offset: Option<UpdateId>,
        timeout: Duration,
    ) -> Result<Vec<Value>, TelegramError> {
        let mut body = json!({
            "timeout": timeout.as_secs(),
            "allowed_updates": ALLOWED_UPDATES,
        });
        if let Some(offset) = offset {
            body["offset"] = json!(offset.0);
        }
        self.call("getUpdates", &body, timeout + POLL_GRACE).await
    }

    pub async fn send_message(&self, message: &SendMessage) -> Result<Message, TelegramError> {
        self.call("sendMessage", message, CALL_TIMEOUT).await
    }

    /// Posts `text` as a reply to `message` in `chat`, in the same forum topic. Plain text:
    /// nothing in it formats or becomes a mention entity. This is the one call a reply to a
    /// member needs; the outbox calls it with what it queued.
    pub async fn send_reply(
        &self,
        chat: ChatId,
        message: TgMessageId,
        thread: Option<ThreadId>,
        text: &str,
    ) -> Result<TgMessageId, TelegramError> {
        let mut send = SendMessage::new(chat, text);
        send.message_thread_id = thread;
        send.reply_parameters = Some(ReplyTo {
            message_id: message,
            allow_sending_without_reply: true,
        });
        Ok(self.send_message(&send).await?.message_id)
    }

    /// Rewrites a message the bot sent, with its keyboard (an empty one removes the buttons).
    /// Telegram refuses an edit that changes nothing; that counts as done.
    pub async fn edit_message_text(
        &self,
        chat: ChatId,
        message: TgMessageId,
        text: &str,
        keyboard: &InlineKeyboard,
    ) -> Result<(), TelegramError> {
        let body = json!({
            "chat_id": chat,
            "message_id": message,
            "text": text,
            "reply_markup": keyboard,
            "link_preview_options": {"is_disabled": true},
        });
        unchanged_is_fine(
            self.call::<Value>("editMessageText", &body, CALL_TIMEOUT)
                .await,
        )
    }

    /// Replaces only a message's buttons.
    pub async fn edit_message_reply_markup(
        &self,
        chat: ChatId,
        message: TgMessageId,
        keyboard: &InlineKeyboard,
    ) -> Result<(), TelegramError> {
        let body = json!({"chat_id": chat, "message_id": message, "reply_markup": keyboard});
        unchanged_is_fine(
            self.call::<Value>("editMessageReplyMarkup", &body, CALL_TIMEOUT)
                .await,
        )
    }

    /// Answers a button click: a short notice, or with `show_alert` a box the person must close.
    pub async fn answer_callback_query(
        &self,
        query_id: &str,
        text: Option<&str>,
        show_alert: bool,
    ) -> Result<(), TelegramError> {
        let mut body = json!({"callback_query_id": query_id});
        if let Some(text) = text {
            // Telegram's limit for callback answers.
            body["text"] = json!(crate::text::cut_chars(text, 200));
            body["show_alert"] = json!(show_alert);
        }
        self.call::<bool>("answerCallbackQuery", &body, CALL_TIMEOUT)
            .await
            .map(|_| ())
    }

    pub async fn get_chat_member(
        &self,
        chat: ChatId,
        user: super::types::UserId,
    ) -> Result<ChatMember, TelegramError> {
        let body = json!({"chat_id": chat, "user_id": user});
        self.call("getChatMember", &body, CALL_TIMEOUT).await
    }

    /// A group's administrators (bots left out: they do not answer members).
    pub async fn get_chat_administrators(
        &self,
        chat: ChatId,
    ) -> Result<Vec<ChatMember>, TelegramError> {
        self.call(
            "getChatAdministrators",
            &json!({"chat_id": chat}),
            CALL_TIMEOUT,
        )
        .await
    }

    /// Has Telegram POST every update to `url` with `secret` in the
    /// `X-Telegram-Bot-Api-Secret-Token` header (webhook mode); `getUpdates` stops working
    /// until the webhook is deleted. Updates still waiting are kept and delivered there.
    pub async fn set_webhook(&self, url: &str, secret: &SecretString) -> Result<(), TelegramError> {
        let body = json!({
            "url": url,
            "secret_token": secret.expose_secret(),
            "allowed_updates": ALLOWED_UPDATES,
        });
        self.call::<bool>("setWebhook", &body, CALL_TIMEOUT)
            .await
            .map(|_| ())
    }

    /// Sends a PNG (the digest's chart) with a plain-text caption.
    pub async fn send_photo(
        &self,
        chat: ChatId,
        png: Vec<u8>,
        file_name: &str,
        caption: &str,
    ) -> Result<TgMessageId, TelegramError> {
        let part = reqwest::multipart::Part::bytes(png)
            .file_name(file_name.to_owned())
            .mime_str("image/png")
            .map_err(|e| TelegramError::BadRequest(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .text("chat_id", chat.0.to_string())
            // Telegram's limit for captions.
            .text("caption", crate::text::cut_chars(caption, 1024))
            .part("photo", part);
        let request = self
            .http
            .post(self.url("sendPhoto"))
            .multipart(form)
            .timeout(CALL_TIMEOUT);
        let message: Message = self.send("sendPhoto", request).await?;
        Ok(message.message_id)
    }
}

fn unchanged_is_fine(result: Result<Value, TelegramError>) -> Result<(), TelegramError> {
    match result {
        Ok(_) => Ok(()),
        Err(TelegramError::BadRequest(d)) if d.contains("message is not modified") => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::types::ResponseParameters;

    #[test]
    fn errors_are_classified_by_code_and_parameters() {
        let wait = ResponseParameters {
            retry_after: Some(7),
            migrate_to_chat_id: None,
        };
        assert!(matches!(
            TelegramError::from_answer(429, Some(429), None, Some(wait)),
            TelegramError::RetryAfter(d) if d == Duration::from_secs(7)
        ));
        let moved = ResponseParameters {
            retry_after: None,
            migrate_to_chat_id: Some(ChatId(-1009)),
        };
        assert!(matches!(
            TelegramError::from_answer(400, Some(400), None, Some(moved)),
            TelegramError::Migrated { to: ChatId(-1009) }
        ));
        assert!(matches!(
            TelegramError::from_answer(403, Some(403), Some("Forbidden: bot was kicked".into()), None),
            TelegramError::Forbidden(d) if d.contains("kicked")
        ));
        assert!(matches!(
            TelegramError::from_answer(400, Some(400), Some("Bad Request: x".into()), None),
            TelegramError::BadRequest(_)
        ));
        assert!(TelegramError::from_answer(502, None, None, None).is_retryable());
        assert!(!TelegramError::from_answer(401, Some(401), None, None).is_retryable());
    }
}
