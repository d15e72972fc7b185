//! Delivering Meta's outbox rows: an approved reply posted under a Facebook comment
//! (`POST /{comment-id}/comments`), under an Instagram comment (`POST /{ig-comment-id}/replies`)
//! or in a Messenger or Instagram conversation (`POST /{page-id}/messages` with
//! `messaging_type: RESPONSE`), through [`GraphClient::post_reply`] with the page's token.
//! The worker, its order and its retries are the outbox's (see [`outbox`](crate::outbox));
//! this is the [`Deliver`] it calls for `Destination::Meta` rows. Alerts about Meta comments
//! are the moderators' rooms' rows (Discord's, Telegram's), never these.
//!
//! Never twice: a row flagged `maybe_sent` (an earlier attempt timed out, met a 5xx, or its
//! process died holding the claim) is first looked for among the comment's replies by the
//! page with the same text, or among the conversation's messages the page sent since the
//! reply was queued ([`GraphClient::find_reply`]), and a Graph "duplicate" answer (code 506)
//! counts as delivered. Where the lookup itself is refused (a token that may not read the
//! conversations), the reply is posted anyway: a possible duplicate, logged, rather than a
//! reply never sent; the README states this residual risk.

use std::sync::Arc;

use crate::outbox::{
    self, Deliver, Delivered, DeliveryError, Destination, OutboxRow, Payload, Refusal,
};
use crate::tracker::Tracker;

use super::graph::{GraphClient, GraphError};
use super::types::page_token_variable;

/// Delivers Meta rows.
pub struct MetaDelivery {
    tracker: Arc<Tracker>,
    graph: GraphClient,
}

impl MetaDelivery {
    pub fn new(tracker: Arc<Tracker>, graph: GraphClient) -> MetaDelivery {
        MetaDelivery { tracker, graph }
    }

    async fn deliver_row(&self, row: &OutboxRow) -> Result<Delivered, DeliveryError> {
        let Payload::Reply(order) = &row.payload else {
            return Err(DeliveryError::Local(format!(
                "{} is posted in the moderators' room, not on Facebook or Instagram",
                row.payload.kind().described()
            )));
        };
        let stored = outbox::awaiting_reply(self.tracker.store(), order).await?;
        if row.maybe_sent {
            match self
                .graph
                .find_reply(&stored.comment, &order.text, row.created_at)
                .await
            {
                Ok(Some(id)) => {
                    tracing::info!(reply = %id, "already posted by an earlier attempt");
                    return Ok(Delivered {
                        message_id: Some(id),
                        pause: None,
                    });
                }
                Ok(None) => {}
                // Meta is busy or down: look again at the next attempt.
                Err(e) if e.retry_after().is_some() => return Err(for_outbox(e)),
                // The page may not read its conversations (an Instagram account of an
                // unverified business, a token without the permission): post, at the risk of
                // a duplicate, rather than never.
                Err(e) => {
                    tracing::warn!(error = %e, "could not look for an earlier attempt's reply; posting it")
                }
            }
        }
        match self.graph.post_reply(&stored.comment, &order.text).await {
            Ok(id) => Ok(Delivered {
                message_id: Some(id),
                pause: None,
            }),
            Err(e) if e.is_delivered() => {
                tracing::info!("Meta already had this reply; counted as delivered");
                Ok(Delivered::default())
            }
            Err(e) => Err(for_outbox(e)),
        }
    }
}

impl Deliver for MetaDelivery {
    fn destination(&self) -> Destination {
        Destination::Meta
    }

    async fn deliver(&self, row: &OutboxRow) -> Result<Delivered, DeliveryError> {
        self.deliver_row(row).await
    }
}

/// A Graph error in the outbox's terms: what the retry policy acts on, and (in `detail`)
/// what moderators read in the notice and on the alert.
pub fn for_outbox(error: GraphError) -> DeliveryError {
    let refused = |reason, detail: String| DeliveryError::Refused { reason, detail };
    match error {
        GraphError::Retry { after, .. } => DeliveryError::RateLimited { retry_after: after },
        GraphError::Expired { page } => refused(
            Refusal::Unauthorized,
            format!(
                "the page token expired or was revoked: create a new Page access token for page {page} and set {}, then approve again",
                page_token_variable(&page)
            ),
        ),
        e @ GraphError::Permission { .. } => refused(Refusal::MissingPermission, e.to_string()),
        e @ (GraphError::OutsideWindow { .. } | GraphError::Refused { .. }) => {
            refused(Refusal::Invalid, e.to_string())
        }
        e @ (GraphError::Network(_) | GraphError::Server { .. }) => DeliveryError::Unavailable {
            detail: e.to_string(),
        },
        // A 2xx Ascolto cannot read may still have posted; anything else was refused.
        GraphError::Unreadable { status } if (200..300).contains(&status) || status >= 500 => {
            DeliveryError::Unavailable {
                detail: GraphError::Unreadable { status }.to_string(),
            }
        }
        e @ GraphError::Unreadable { .. } => refused(Refusal::Invalid, e.to_string()),
        // Counted as delivered by the caller; here only for completeness.
        GraphError::Duplicate => refused(Refusal::Invalid, GraphError::Duplicate.to_string()),
        e @ (GraphError::NoToken { .. } | GraphError::NotMeta { .. } | GraphError::Setup(_)) => {
            DeliveryError::Local(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::types::PageId;
    use std::time::Duration;

    #[test]
    fn graph_errors_become_what_the_outbox_and_moderators_need() {
        let page = PageId::new("42");
        let limited = for_outbox(GraphError::Retry {
            page: page.clone(),
            code: 4,
            after: Duration::from_secs(7),
        });
        assert_eq!(
            limited,
            DeliveryError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        let expired = for_outbox(GraphError::Expired { page: page.clone() });
        assert!(expired.is_final());
        assert!(matches!(
            expired,
            DeliveryError::Refused {
                reason: Refusal::Unauthorized,
                ..
            }
        ));
        let words = expired.for_moderators();
        assert!(words.contains("the page token expired"), "{words}");
        assert!(words.contains("META_PAGE_TOKEN_42"), "{words}");
        let denied = for_outbox(GraphError::Permission {
            page,
            message: "(#200) Permissions error".into(),
        });
        assert!(matches!(
            denied,
            DeliveryError::Refused {
                reason: Refusal::MissingPermission,
                ..
            }
        ));
        let down = for_outbox(GraphError::Server {
            status: 503,
            message: String::new(),
        });
        assert!(!down.is_final() && down.maybe_sent());
        let timeout = for_outbox(GraphError::Network("timed out".into()));
        assert!(timeout.maybe_sent());
        assert!(for_outbox(GraphError::NotMeta { id: "x".into() }).is_final());
    }
}
