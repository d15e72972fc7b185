//! The life of a comment once Ascolto has seen it: its states, the moves allowed between them,
//! and the records the tracker keeps (the stored comment, where its alert is, what moderators
//! did). Defined here once, so the tracker, the store's queries and every adapter agree on
//! what "open" and "claimable" mean.
//!
//! ```text
//! new → clear                                   (nothing to do)
//!     → flagged → alerted → sending → replied   (a moderator approved a draft)
//!                   ▲          │
//!                   └──────────┘                (posting failed, or a crash mid-send)
//! flagged / alerted → dismissed | answered      (a moderator, or an answer in the channel)
//! flagged / alerted / clear → withdrawn         (the author deleted it)
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::comment::{Comment, CommentId};
use crate::draft::Draft;
use crate::triage::Verdict;

/// Where a comment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentState {
    /// Received, not yet triaged (only ever seen inside a transaction).
    New,
    /// Triaged; nothing for moderators to do.
    Clear,
    /// Needs a reply; no alert posted yet.
    Flagged,
    /// A moderators' alert is up.
    Alerted,
    /// A moderator approved; the reply is being posted (the claim that prevents doubles).
    Sending,
    /// The bot posted an approved reply.
    Replied,
    /// A moderator decided no reply is needed.
    Dismissed,
    /// Someone answered (staff, or a moderator marked it answered).
    Answered,
    /// The author deleted the comment.
    Withdrawn,
}

impl CommentState {
    pub const ALL: [CommentState; 9] = [
        CommentState::New,
        CommentState::Clear,
        CommentState::Flagged,
        CommentState::Alerted,
        CommentState::Sending,
        CommentState::Replied,
        CommentState::Dismissed,
        CommentState::Answered,
        CommentState::Withdrawn,
    ];

    /// Still waiting for someone to answer: what the queue, targets and the digest count.
    pub const OPEN: &'static [CommentState] = &[
        CommentState::Flagged,
        CommentState::Alerted,
        CommentState::Sending,
    ];

    /// Open and not being sent: a moderator may still approve, edit, dismiss or mark it.
    pub const CLAIMABLE: &'static [CommentState] = &[CommentState::Flagged, CommentState::Alerted];

    pub fn as_str(self) -> &'static str {
        match self {
            CommentState::New => "new",
            CommentState::Clear => "clear",
            CommentState::Flagged => "flagged",
            CommentState::Alerted => "alerted",
            CommentState::Sending => "sending",
            CommentState::Replied => "replied",
            CommentState::Dismissed => "dismissed",
            CommentState::Answered => "answered",
            CommentState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(value: &str) -> Option<CommentState> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Still waiting for someone to answer.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// A moderator may still act on it (see [`CommentState::CLAIMABLE`]).
    pub fn is_claimable(self) -> bool {
        Self::CLAIMABLE.contains(&self)
    }

    /// Reaching this state ends the wait: the comment's first response time is taken then.
    pub fn closes(self) -> bool {
        matches!(
            self,
            CommentState::Replied | CommentState::Dismissed | CommentState::Answered
        )
    }
}

/// One allowed move: the states it may start from and the one it ends in. The store applies
/// a move as one compare-and-set, so of two processes (or two moderators) making the same move
/// at the same moment exactly one succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: &'static [CommentState],
    pub to: CommentState,
}

impl Transition {
    /// The alert for a flagged comment is up.
    pub const ALERT: Transition = Transition {
        from: &[CommentState::Flagged],
        to: CommentState::Alerted,
    };
    /// A moderator approved: only one claim to send can exist.
    pub const CLAIM_REPLY: Transition = Transition {
        from: CommentState::CLAIMABLE,
        to: CommentState::Sending,
    };
    /// The approved reply is out.
    pub const REPLY_SENT: Transition = Transition {
        from: &[CommentState::Sending],
        to: CommentState::Replied,
    };
    /// Posting failed, or a crash left it mid-send: back to the moderators.
    pub const GIVE_BACK: Transition = Transition {
        from: &[CommentState::Sending],
        to: CommentState::Alerted,
    };
    /// A moderator decided no reply is needed.
    pub const DISMISS: Transition = Transition {
        from: CommentState::CLAIMABLE,
        to: CommentState::Dismissed,
    };
    /// Answered in the channel, or marked answered by a moderator.
    pub const ANSWER: Transition = Transition {
        from: CommentState::CLAIMABLE,
        to: CommentState::Answered,
    };
    /// The author deleted the comment.
    pub const WITHDRAW: Transition = Transition {
        from: &[
            CommentState::Flagged,
            CommentState::Alerted,
            CommentState::Clear,
        ],
        to: CommentState::Withdrawn,
    };

    pub fn allows(self, state: CommentState) -> bool {
        self.from.contains(&state)
    }
}

/// What a re-triaged (edited) comment becomes: flagged once it needs a reply (straight back to
/// alerted when its alert is still up), clear once it does not. `None` when the comment is
/// closed already and an edit changes nothing.
pub fn after_edit(
    current: CommentState,
    needs_reply: bool,
    has_alert: bool,
) -> Option<CommentState> {
    if !(current.is_open() || current == CommentState::Clear) {
        return None;
    }
    Some(match (needs_reply, current) {
        (false, _) => CommentState::Clear,
        (true, CommentState::Clear) if has_alert => CommentState::Alerted,
        (true, CommentState::Clear) => CommentState::Flagged,
        (true, state) => state,
    })
}

/// Where the alert for a comment lives in the moderators' room, so buttons and updates work
/// after a restart. The ids are the room platform's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRef {
    pub channel: String,
    pub message: String,
    pub posted_at: DateTime<Utc>,
}

/// A comment as the tracker keeps it, with everything it knows about it.
#[derive(Debug, Clone)]
pub struct StoredComment {
    pub comment: Comment,
    pub state: CommentState,
    pub state_changed_at: DateTime<Utc>,
    pub verdict: Option<Verdict>,
    pub draft: Option<Draft>,
    /// The first alert posted for it, in whichever room (with several rooms each has its own,
    /// which the store gives per room); `None` while no room shows it.
    pub alert: Option<AlertRef>,
    pub answered_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// What a moderator did (or what happened on their behalf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Approved,
    Edited,
    Dismissed,
    MarkedAnswered,
    AnotherWording,
    /// Someone in the community answered; recorded so the audit trail is complete.
    AnsweredInChannel,
}

impl ActionKind {
    const ALL: [ActionKind; 6] = [
        ActionKind::Approved,
        ActionKind::Edited,
        ActionKind::Dismissed,
        ActionKind::MarkedAnswered,
        ActionKind::AnotherWording,
        ActionKind::AnsweredInChannel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Approved => "approved",
            ActionKind::Edited => "edited",
            ActionKind::Dismissed => "dismissed",
            ActionKind::MarkedAnswered => "marked_answered",
            ActionKind::AnotherWording => "another_wording",
            ActionKind::AnsweredInChannel => "answered_in_channel",
        }
    }

    pub fn parse(value: &str) -> Option<ActionKind> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub comment: CommentId,
    pub kind: ActionKind,
    pub moderator_id: Option<String>,
    pub moderator_name: Option<String>,
    pub at: DateTime<Utc>,
    /// The draft as proposed.
    pub draft_text: Option<String>,
    /// What was actually posted (differs from the draft after an edit).
    pub sent_text: Option<String>,
    pub reply_message_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_survive_their_stored_names() {
        for state in CommentState::ALL {
            assert_eq!(CommentState::parse(state.as_str()), Some(state));
        }
        for kind in ActionKind::ALL {
            assert_eq!(ActionKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn only_open_comments_can_be_claimed_and_only_a_claim_can_be_sent() {
        for state in CommentState::ALL {
            assert_eq!(Transition::CLAIM_REPLY.allows(state), state.is_claimable());
            assert_eq!(
                Transition::REPLY_SENT.allows(state),
                state == CommentState::Sending
            );
            if state.is_claimable() {
                assert!(state.is_open());
            }
        }
        assert!(!Transition::DISMISS.allows(CommentState::Sending));
        assert!(Transition::WITHDRAW.allows(CommentState::Clear));
    }

    #[test]
    fn an_edit_reopens_a_cleared_comment_with_its_alert_still_up_as_alerted() {
        use CommentState::*;
        assert_eq!(after_edit(Clear, true, true), Some(Alerted));
        assert_eq!(after_edit(Clear, true, false), Some(Flagged));
        assert_eq!(after_edit(Alerted, true, true), Some(Alerted));
        assert_eq!(after_edit(Alerted, false, true), Some(Clear));
        assert_eq!(after_edit(Replied, true, true), None);
        assert_eq!(after_edit(Withdrawn, false, false), None);
    }
}
