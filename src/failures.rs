//! Comments Ascolto could not process: what is recorded when one comment fails (an error, or
//! a panic caught at the comment's boundary), so that ingest, catch-up and a replay move on
//! past it without losing it. The tracker records a failure and tries the comment again at the
//! next start ([`crate::tracker::Tracker::retry_failures`]); the digest counts the failures of
//! its window.

use chrono::{DateTime, Utc};

use crate::comment::Comment;

/// How many times a failed comment is tried in all before it is left for an operator.
pub const MAX_ATTEMPTS: u32 = 5;

/// What was being done with the comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Taking in a new comment.
    Ingest,
    /// Applying an edit of a stored one.
    Edit,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Edit => "edit",
        }
    }

    pub fn parse(value: &str) -> Option<Stage> {
        [Stage::Ingest, Stage::Edit]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// How it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// An error was returned (the database, most often).
    Error,
    /// Code panicked on it; caught, so only this comment was affected.
    Panic,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Panic => "panic",
        }
    }
}

/// A recorded failure still waiting for a successful attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    pub comment: Comment,
    pub stage: Stage,
    pub attempts: u32,
    pub error: String,
    pub first_failed_at: DateTime<Utc>,
}

/// The text of a caught panic's payload (a `&str` or a `String` in practice).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_read_from_either_payload_type() {
        let caught = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "boom 1");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any("plain")).unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "plain");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(7_u8)).unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "a panic without a message");
    }

    #[test]
    fn stages_round_trip_through_their_names() {
        for stage in [Stage::Ingest, Stage::Edit] {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
        assert_eq!(Stage::parse("triage"), None);
    }
}
