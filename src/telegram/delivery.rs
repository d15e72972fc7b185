//! Delivering outbox rows on Telegram: the [`Deliver`] implementation the outbox worker calls
//! for each claimed row (see [`outbox`](crate::outbox) for states, order and retries).
//!
//! What each row becomes: an alert is a plain-text `sendMessage` with its inline buttons in
//! the moderators' chat, an alert update an `editMessageText` of this room's alert (an edit
//! that changes nothing counts as done), an approved reply a `sendMessage` replying to the
//! member's message (`reply_parameters`) in its forum topic, following a group upgraded to a
//! supergroup; escalations and notices are plain messages, and the digest is its text
//! followed by its chart (`sendPhoto`). Everything is plain text: nothing a member wrote can
//! format a message or become a mention.
//!
//! Telegram's answers, for the retry policy: 429 with `retry_after` → rate limited (waited out
//! as asked), 403 (the bot was removed from the chat, or the person blocked it) → refused for
//! good, other 4xx → refused, 5xx, timeouts and no answer → unavailable (maybe sent).
//!
//! # Never twice: the residual risk
//!
//! Discord lets a retry look for the message it may already have posted; the Bot API does not:
//! a bot cannot read a chat's history, and `sendMessage` takes no idempotency key. So a row
//! whose earlier attempt may have gone out (`maybe_sent`: an answer lost to a timeout or a
//! 5xx, or a process killed while posting) is posted again, and in that one case a message
//! can appear twice. What limits it: edits are idempotent; an alert already recorded for this
//! room is never posted again; a reply is only posted while its comment is still waiting for
//! it; and a lost answer is rare (Telegram answers or refuses within the attempt's timeout).
//! The retry is logged at `warn` with the row, so a duplicate can be traced.
//!
//! The chart of a digest is a second request: when it fails after the text went out, the
//! digest counts as delivered without its chart (logged), rather than posting the text again.

use crate::digest;
use crate::outbox::{
    self, Deliver, Delivered, DeliveryError, Destination, OutboxRow, Payload, Refusal,
};

use super::api::{SendMessage, TelegramError};
use super::ingest::{current_chat, record_move, TgRef};
use super::room::{self, fit, MESSAGE_LIMIT};
use super::types::{ChatId, TgMessageId};
use super::{Telegram, TelegramChannelError};

/// The name of the chart sent with a digest.
pub const CHART_FILE: &str = "ascolto-digest.png";

/// Delivers Telegram rows.
pub struct TelegramDelivery {
    tg: Telegram,
}

impl TelegramDelivery {
    pub fn new(tg: Telegram) -> TelegramDelivery {
        TelegramDelivery { tg }
    }

    async fn send_text(&self, chat: ChatId, text: &str) -> Result<Delivered, DeliveryError> {
        let mut message = SendMessage::new(chat, fit(text, MESSAGE_LIMIT));
        message.link_preview_options = Some(serde_json::json!({"is_disabled": true}));
        let sent = self.tg.api.send_message(&message).await.map_err(classify)?;
        Ok(delivered(sent.message_id))
    }

    async fn deliver_row(&self, row: &OutboxRow) -> Result<Delivered, DeliveryError> {
        if row.maybe_sent {
            tracing::warn!(row = %row.id, "an earlier attempt may have gone out, and Telegram offers no way to look: posting again");
        }
        let store = self.tg.tracker.store();
        let local = |e: crate::store::StoreError| DeliveryError::Local(e.to_string());
        match &row.payload {
            Payload::Alert { comment } => {
                let Some(stored) = store.comment(comment).await.map_err(local)? else {
                    return Ok(Delivered::default());
                };
                if let Some(alert) = store
                    .alert_in(comment, Destination::Telegram, &row.channel)
                    .await
                    .map_err(local)?
                {
                    return Ok(Delivered {
                        message_id: Some(alert.message),
                        pause: None,
                    });
                }
                let chat = chat_of(&row.channel)?;
                let (text, keyboard) = room::alert_text(&self.tg, &stored)
                    .await
                    .map_err(channel_error)?;
                let mut message = SendMessage::new(chat, text);
                message.reply_markup = Some(keyboard);
                message.link_preview_options = Some(serde_json::json!({"is_disabled": true}));
                let sent = self.tg.api.send_message(&message).await.map_err(classify)?;
                Ok(delivered(sent.message_id))
            }
            Payload::AlertUpdate { comment } => {
                let Some(stored) = store.comment(comment).await.map_err(local)? else {
                    return Ok(Delivered::default());
                };
                // This room's alert: another room's is that room's to update.
                let Some(alert) = store
                    .alert_in(comment, Destination::Telegram, &row.channel)
                    .await
                    .map_err(local)?
                else {
                    return Ok(Delivered::default());
                };
                let chat = chat_of(&alert.channel)?;
                let message = TgMessageId(alert.message.parse().map_err(|_| {
                    DeliveryError::Local(format!(
                        "alert message id `{}` is not a Telegram message id",
                        alert.message
                    ))
                })?);
                let (text, keyboard) = room::alert_text(&self.tg, &stored)
                    .await
                    .map_err(channel_error)?;
                self.tg
                    .api
                    .edit_message_text(chat, message, &text, &keyboard)
                    .await
                    .map_err(classify)?;
                Ok(delivered(message))
            }
            Payload::Reply(order) => {
                let stored = outbox::awaiting_reply(store, order).await?;
                let to = TgRef::of(&stored.comment).ok_or_else(|| {
                    DeliveryError::Local(format!(
                        "comment {} is not a Telegram message, so it cannot be answered on Telegram",
                        order.comment
                    ))
                })?;
                let sent = self.reply(to, &order.text).await?;
                Ok(delivered(sent))
            }
            Payload::Escalation { text, .. } | Payload::Notice { text } => {
                self.send_text(chat_of(&row.channel)?, text).await
            }
            Payload::Digest(order) => {
                let chat = chat_of(&row.channel)?;
                let window = order.window()?;
                let digest = digest::build_window(store, &window, &self.tg.settings)
                    .await
                    .map_err(local)?;
                // The terminal's plain text: Telegram shows markup-free messages only.
                let text = digest.to_text();
                let title = text.lines().next().unwrap_or_default().to_owned();
                let posted = self.send_text(chat, &text).await?;
                match digest.chart_png() {
                    Ok(png) => {
                        if let Err(e) = self.tg.api.send_photo(chat, png, CHART_FILE, &title).await
                        {
                            tracing::warn!(error = %e, "digest posted without its chart: the chart could not be sent");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "digest chart not drawn; posted the text alone")
                    }
                }
                Ok(posted)
            }
        }
    }

    /// Posts a reply, following a group's upgrade to a supergroup (known already, or learnt
    /// from Telegram's answer, which is recorded for the next replies).
    async fn reply(&self, to: TgRef, text: &str) -> Result<TgMessageId, DeliveryError> {
        let chat = current_chat(&self.tg, to.chat)
            .await
            .map_err(channel_error)?;
        let to = TgRef { chat, ..to };
        match self
            .tg
            .api
            .send_reply(to.chat, to.message, to.thread, text)
            .await
        {
            Err(TelegramError::Migrated { to: new_chat }) => {
                record_move(&self.tg, to.chat, new_chat)
                    .await
                    .map_err(channel_error)?;
                self.tg
                    .api
                    .send_reply(new_chat, to.message, to.thread, text)
                    .await
                    .map_err(classify)
            }
            other => other.map_err(classify),
        }
    }
}

impl Deliver for TelegramDelivery {
    fn destination(&self) -> Destination {
        Destination::Telegram
    }

    async fn deliver(&self, row: &OutboxRow) -> Result<Delivered, DeliveryError> {
        self.deliver_row(row).await
    }
}

fn delivered(message: TgMessageId) -> Delivered {
    Delivered {
        message_id: Some(message.to_string()),
        pause: None,
    }
}

/// A room's channel is its chat id.
fn chat_of(channel: &str) -> Result<ChatId, DeliveryError> {
    channel
        .parse()
        .map(ChatId)
        .map_err(|_| DeliveryError::Local(format!("`{channel}` is not a Telegram chat id")))
}

fn channel_error(e: TelegramChannelError) -> DeliveryError {
    match e {
        TelegramChannelError::Api(e) => classify(e),
        other => DeliveryError::Local(other.to_string()),
    }
}

/// Telegram's error, in the terms the retry policy acts on.
pub fn classify(error: TelegramError) -> DeliveryError {
    match error {
        TelegramError::RetryAfter(wait) => DeliveryError::RateLimited { retry_after: wait },
        TelegramError::Forbidden(detail) => DeliveryError::Refused {
            reason: Refusal::NotMember,
            detail: format!("Telegram 403: {detail}"),
        },
        TelegramError::Unauthorized(detail) => DeliveryError::Refused {
            reason: Refusal::Unauthorized,
            detail: format!("Telegram: {detail}"),
        },
        TelegramError::BadRequest(detail) => DeliveryError::Refused {
            reason: Refusal::Invalid,
            detail: format!("Telegram 400: {detail}"),
        },
        TelegramError::Migrated { to } => DeliveryError::Refused {
            reason: Refusal::Invalid,
            detail: format!(
                "the group was upgraded to supergroup {to}; if it is the moderators' chat, set telegram.moderators_chat = {to}"
            ),
        },
        TelegramError::Conflict(detail) | TelegramError::Transient(detail) => {
            DeliveryError::Unavailable { detail }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn telegrams_answers_map_to_what_the_retry_policy_does() {
        assert_eq!(
            classify(TelegramError::RetryAfter(Duration::from_secs(3))),
            DeliveryError::RateLimited {
                retry_after: Duration::from_secs(3)
            }
        );
        let kicked = classify(TelegramError::Forbidden(
            "Forbidden: bot was kicked from the supergroup chat".into(),
        ));
        assert!(kicked.is_final(), "{kicked}");
        assert!(kicked.to_string().contains("not a member"), "{kicked}");
        assert!(kicked.to_string().contains("kicked"), "{kicked}");
        let down = classify(TelegramError::Transient("HTTP 502 from sendMessage".into()));
        assert!(!down.is_final() && down.maybe_sent(), "{down}");
        let moved = classify(TelegramError::Migrated { to: ChatId(-1009) });
        assert!(moved.is_final());
        assert!(
            moved.to_string().contains("moderators_chat = -1009"),
            "{moved}"
        );
        assert!(chat_of("-1001").is_ok());
        assert!(matches!(
            chat_of("telegram:-1"),
            Err(DeliveryError::Local(_))
        ));
    }
}
