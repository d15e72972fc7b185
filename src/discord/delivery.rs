//! Delivering outbox rows on Discord: the [`Deliver`] implementation the outbox worker calls
//! for each claimed row (see [`outbox`](crate::outbox) for states, order and retries).
//!
//! Writes go through reqwest directly rather than serenity's `Http`: serenity turns a failed
//! request into an error without its headers, and its JSON error type drops a 429's
//! `retry_after`, so retries could not honour what Discord asked. The bodies are still built
//! with serenity's builders (`CreateMessage`, `EditMessage`), so they are exactly what the bot
//! sent before. Behind `discord.api_base` (a proxy) requests go there, as serenity's do.
//!
//! Never twice: every create carries the row's nonce with `enforce_nonce`, and a row flagged
//! `maybe_sent` is first looked for among the channel's latest messages by what identifies it
//! (an alert's footer, a reply's reference to the original, the exact text of an escalation
//! or notice, a digest's title line).

use std::sync::OnceLock;
use std::time::Duration;

use poise::serenity_prelude as serenity;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use serenity::{
    CreateAllowedMentions, CreateMessage, EditMessage, MessageId, MessageReference, Nonce,
};

use crate::digest;
use crate::outbox::{
    self, Deliver, Delivered, DeliveryError, Destination, OutboxRow, Payload, Refusal,
};

use super::alerts;
use super::markdown::DiscordRoom;
use super::types::Data;

/// The name of the chart attached to a digest.
pub const CHART_FILE: &str = "ascolto-digest.png";

/// How many of a channel's latest messages are searched for a write that may have gone out.
const LOOK_BACK: u32 = 50;

/// Delivers Discord rows.
pub struct DiscordDelivery {
    client: reqwest::Client,
    /// `https://discord.com/api/v10`, or the proxy's equivalent.
    api: String,
    token: SecretString,
    data: Data,
    /// The bot's user id, asked once (to recognise its own messages).
    me: OnceLock<String>,
}

/// A request body.
enum Body {
    Json(Value),
    /// `payload_json` and one PNG file.
    WithFile(Value, Vec<u8>, &'static str),
}

impl DiscordDelivery {
    pub fn new(data: Data, token: SecretString) -> DiscordDelivery {
        let base = data.discord().api_base.trim_end_matches('/');
        let base = if base.is_empty() {
            "https://discord.com"
        } else {
            base
        };
        DiscordDelivery {
            client: reqwest::Client::new(),
            api: format!("{base}/api/v10"),
            token,
            data,
            me: OnceLock::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<(Value, Option<Duration>), DeliveryError> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.api))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Bot {}", self.token.expose_secret()),
            )
            .header(
                reqwest::header::USER_AGENT,
                "DiscordBot (https://github.com/ascolto, 0.1) Ascolto",
            );
        request = match body {
            None => request,
            Some(Body::Json(json)) => request.json(&json),
            Some(Body::WithFile(json, bytes, name)) => {
                let file = reqwest::multipart::Part::bytes(bytes)
                    .file_name(name)
                    .mime_str("image/png")
                    .map_err(|e| DeliveryError::Local(e.to_string()))?;
                let form = reqwest::multipart::Form::new()
                    .text("payload_json", json.to_string())
                    .part("files[0]", file);
                request.multipart(form)
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| DeliveryError::Unavailable {
                detail: format!("no answer from Discord: {e}"),
            })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| DeliveryError::Unavailable {
                detail: format!("Discord's answer was cut off: {e}"),
            })?;
        let pause = classify(status, &headers, &text)?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Ok((json, pause))
    }

    async fn create(&self, channel: &str, body: Body) -> Result<Delivered, DeliveryError> {
        let path = format!("/channels/{channel}/messages");
        let (json, pause) = self.call(reqwest::Method::POST, &path, Some(body)).await?;
        Ok(Delivered {
            message_id: json["id"].as_str().map(str::to_owned),
            pause,
        })
    }

    /// The bot's own user id.
    async fn me(&self) -> Result<String, DeliveryError> {
        if let Some(id) = self.me.get() {
            return Ok(id.clone());
        }
        if let Some(id) = self.data.bot_id() {
            let id = id.to_string();
            let _ = self.me.set(id.clone());
            return Ok(id);
        }
        let (json, _) = self.call(reqwest::Method::GET, "/users/@me", None).await?;
        let id = json["id"]
            .as_str()
            .ok_or_else(|| DeliveryError::Unavailable {
                detail: "Discord did not say who the bot is".to_owned(),
            })?
            .to_owned();
        let _ = self.me.set(id.clone());
        Ok(id)
    }

    /// A message of the bot's among the channel's latest that `matches`: a write that went
    /// out although its answer was lost.
    async fn already_posted(
        &self,
        channel: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Option<String>, DeliveryError> {
        let me = self.me().await?;
        let path = format!("/channels/{channel}/messages?limit={LOOK_BACK}");
        let (json, _) = self.call(reqwest::Method::GET, &path, None).await?;
        Ok(json
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["author"]["id"] == me.as_str())
            .find(|m| matches(m))
            .and_then(|m| m["id"].as_str().map(str::to_owned)))
    }

    /// Looks for the row's write first when an earlier attempt may have gone out.
    async fn found(
        &self,
        row: &OutboxRow,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Option<Delivered>, DeliveryError> {
        if !row.maybe_sent {
            return Ok(None);
        }
        Ok(self.already_posted(&row.channel, matches).await?.map(|id| {
            tracing::info!(message = %id, "already posted by an earlier attempt");
            Delivered {
                message_id: Some(id),
                pause: None,
            }
        }))
    }

    fn message_body(&self, message: CreateMessage, row: &OutboxRow) -> Result<Body, DeliveryError> {
        let message = message
            .nonce(Nonce::String(row.nonce()))
            .enforce_nonce(true);
        serde_json::to_value(&message)
            .map(Body::Json)
            .map_err(|e| DeliveryError::Local(e.to_string()))
    }

    async fn deliver_row(&self, row: &OutboxRow) -> Result<Delivered, DeliveryError> {
        let store = self.data.tracker.store();
        let local = |e: crate::store::StoreError| DeliveryError::Local(e.to_string());
        match &row.payload {
            Payload::Alert { comment } => {
                let Some(stored) = store.comment(comment).await.map_err(local)? else {
                    return Ok(Delivered::default());
                };
                let here = store
                    .alert_in(comment, Destination::Discord, &row.channel)
                    .await
                    .map_err(local)?;
                if let Some(alert) = here {
                    return Ok(Delivered {
                        message_id: Some(alert.message.clone()),
                        pause: None,
                    });
                }
                let footer = format!("comment {comment}");
                if let Some(found) = self
                    .found(row, |m| m["embeds"][0]["footer"]["text"] == footer.as_str())
                    .await?
                {
                    return Ok(found);
                }
                let (embed, components) = alerts::render(&self.data, &stored)
                    .await
                    .map_err(|e| DeliveryError::Local(e.to_string()))?;
                let message = CreateMessage::new()
                    .embed(embed)
                    .components(components)
                    // The embed quotes members' words: never let it ping anyone.
                    .allowed_mentions(CreateAllowedMentions::new());
                self.create(&row.channel, self.message_body(message, row)?)
                    .await
            }
            Payload::AlertUpdate { comment } => {
                let Some(stored) = store.comment(comment).await.map_err(local)? else {
                    return Ok(Delivered::default());
                };
                // This room's alert: another room's is that room's to update.
                let Some(alert) = store
                    .alert_in(comment, Destination::Discord, &row.channel)
                    .await
                    .map_err(local)?
                else {
                    return Ok(Delivered::default());
                };
                let (embed, components) = alerts::render(&self.data, &stored)
                    .await
                    .map_err(|e| DeliveryError::Local(e.to_string()))?;
                let edit = EditMessage::new()
                    .embed(embed)
                    .components(components)
                    .allowed_mentions(CreateAllowedMentions::new());
                let body =
                    serde_json::to_value(&edit).map_err(|e| DeliveryError::Local(e.to_string()))?;
                let path = format!("/channels/{}/messages/{}", alert.channel, alert.message);
                let (json, pause) = self
                    .call(reqwest::Method::PATCH, &path, Some(Body::Json(body)))
                    .await?;
                Ok(Delivered {
                    message_id: json["id"].as_str().map(str::to_owned),
                    pause,
                })
            }
            Payload::Reply(order) => {
                // Only while the comment still waits for this reply.
                outbox::awaiting_reply(store, order).await?;
                let original = order.comment.as_str();
                if let Some(found) = self
                    .found(row, |m| m["message_reference"]["message_id"] == original)
                    .await?
                {
                    return Ok(found);
                }
                let channel = serenity::ChannelId::new(snowflake(&row.channel)?);
                let message = MessageId::new(snowflake(original)?);
                let reply = CreateMessage::new()
                    .content(&order.text)
                    .reference_message(MessageReference::from((channel, message)))
                    // Pings nobody whatever the text says, not even the author.
                    .allowed_mentions(CreateAllowedMentions::new().replied_user(false));
                self.create(&row.channel, self.message_body(reply, row)?)
                    .await
            }
            Payload::Escalation {
                text, ping_role, ..
            } => {
                if let Some(found) = self.found(row, |m| m["content"] == text.as_str()).await? {
                    return Ok(found);
                }
                let mentions = match ping_role {
                    Some(role) => {
                        CreateAllowedMentions::new().roles([serenity::RoleId::new(*role)])
                    }
                    None => CreateAllowedMentions::new(),
                };
                let message = CreateMessage::new()
                    .content(text)
                    .allowed_mentions(mentions);
                self.create(&row.channel, self.message_body(message, row)?)
                    .await
            }
            Payload::Notice { text } => {
                if let Some(found) = self.found(row, |m| m["content"] == text.as_str()).await? {
                    return Ok(found);
                }
                let message = CreateMessage::new()
                    .content(text)
                    .allowed_mentions(CreateAllowedMentions::new());
                self.create(&row.channel, self.message_body(message, row)?)
                    .await
            }
            Payload::Digest(order) => {
                let window = order.window()?;
                let digest = digest::build_window(store, &window, &self.data.settings)
                    .await
                    .map_err(local)?;
                let content = digest.to_markdown(&DiscordRoom);
                let title = content.lines().next().unwrap_or_default().to_owned();
                if let Some(found) = self
                    .found(row, |m| {
                        m["content"]
                            .as_str()
                            .is_some_and(|c| c.lines().next() == Some(title.as_str()))
                    })
                    .await?
                {
                    return Ok(found);
                }
                let mut payload = json!({
                    "content": content,
                    "allowed_mentions": {"parse": []},
                    "nonce": row.nonce(),
                    "enforce_nonce": true,
                });
                let body = match digest.chart_png() {
                    Ok(png) => {
                        payload["attachments"] = json!([{"id": 0, "filename": CHART_FILE}]);
                        Body::WithFile(payload, png, CHART_FILE)
                    }
                    // The figures are in the text; a chart that cannot be drawn must not
                    // hold them back.
                    Err(e) => {
                        tracing::warn!(error = %e, "digest chart not drawn; posting the text alone");
                        Body::Json(payload)
                    }
                };
                self.create(&row.channel, body).await
            }
        }
    }
}

impl Deliver for DiscordDelivery {
    fn destination(&self) -> Destination {
        Destination::Discord
    }

    async fn deliver(&self, row: &OutboxRow) -> Result<Delivered, DeliveryError> {
        self.deliver_row(row).await
    }
}

fn snowflake(value: &str) -> Result<u64, DeliveryError> {
    alerts::parse_snowflake(value).map_err(|e| DeliveryError::Local(e.to_string()))
}

/// Reads Discord's answer: on success, how long to pause the channel if its rate-limit bucket
/// is empty; otherwise what kind of failure it is, in terms the retry policy acts on.
pub fn classify(
    status: u16,
    headers: &HeaderMap,
    body: &str,
) -> Result<Option<Duration>, DeliveryError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if (200..300).contains(&status) {
        let empty = header("x-ratelimit-remaining") == Some(0.0);
        return Ok(empty
            .then(|| header("x-ratelimit-reset-after"))
            .flatten()
            .map(Duration::from_secs_f64));
    }
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let message = json["message"].as_str().unwrap_or("").to_owned();
    let code = json["code"].as_i64().unwrap_or(0);
    let detail = if code != 0 {
        format!("Discord {status}: {message} (code {code})")
    } else {
        format!("Discord {status}: {message}")
    };
    let refused = |reason| DeliveryError::Refused {
        reason,
        detail: detail.clone(),
    };
    match status {
        429 => {
            // The body's value is exact (fractions of a second); the header is whole seconds.
            let secs = json["retry_after"]
                .as_f64()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .or_else(|| header("retry-after"))
                .or_else(|| header("x-ratelimit-reset-after"))
                .unwrap_or(1.0)
                .min(3600.0);
            Err(DeliveryError::RateLimited {
                retry_after: Duration::from_secs_f64(secs),
            })
        }
        401 => Err(refused(Refusal::Unauthorized)),
        403 => Err(refused(Refusal::MissingPermission)),
        404 => Err(refused(Refusal::NotFound)),
        400..=499 => Err(refused(Refusal::Invalid)),
        _ => Err(DeliveryError::Unavailable { detail }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn a_429_waits_as_long_as_discord_asks() {
        let body =
            r#"{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}"#;
        let got = classify(429, &headers(&[("retry-after", "2")]), body);
        assert_eq!(
            got,
            Err(DeliveryError::RateLimited {
                retry_after: Duration::from_millis(1500)
            })
        );
        let got = classify(429, &headers(&[("retry-after", "3")]), "");
        assert_eq!(
            got,
            Err(DeliveryError::RateLimited {
                retry_after: Duration::from_secs(3)
            })
        );
    }

    #[test]
    fn an_empty_bucket_pauses_the_channel_and_refusals_are_final() {
        let pause = classify(
            200,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset-after", "0.25"),
            ]),
            "{}",
        );
        assert_eq!(pause, Ok(Some(Duration::from_millis(250))));
        assert_eq!(
            classify(200, &headers(&[("x-ratelimit-remaining", "3")]), "{}"),
            Ok(None)
        );
        let denied = classify(
            403,
            &HeaderMap::new(),
            r#"{"message": "Missing Permissions", "code": 50013}"#,
        )
        .unwrap_err();
        assert!(denied.is_final());
        assert!(
            denied.to_string().contains("missing a permission"),
            "{denied}"
        );
        assert!(denied.to_string().contains("50013"), "{denied}");
        let down = classify(502, &HeaderMap::new(), "bad gateway").unwrap_err();
        assert!(!down.is_final() && down.maybe_sent());
    }
}
