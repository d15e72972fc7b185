//! Ascolto: listens to community comments, flags complaints and unanswered questions, and drafts replies.

pub mod answer;
pub mod comment;
pub mod rules;
pub mod text;
pub mod triage;
