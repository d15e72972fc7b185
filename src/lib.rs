//! Ascolto: listens to community comments, flags complaints and unanswered questions, and drafts replies.

pub mod alert;
pub mod answer;
pub mod app;
pub mod clock;
pub mod comment;
pub mod config;
pub mod digest;
pub mod discord;
pub mod draft;
pub mod escalation;
pub mod eval;
pub mod replay;
pub mod rules;
pub mod sla;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod tracker;
pub mod triage;
