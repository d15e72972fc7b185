//! Ascolto's core: what a comment is, what the rule library says about it, and what a
//! moderator should be shown. Pure functions over plain data; Cargo keeps it that way, since
//! this crate depends on no platform client, database driver or async runtime.
//!
//! # Layout
//!
//! Data flows down this list:
//!
//! - [`comment`]: the one platform-neutral record every channel produces ([`comment::Comment`],
//!   its ids, where it was written and by whom), and the [`comment::Channel`] facts a platform
//!   lends it (links, thread roots, message limits).
//! - [`text`]: normalisation (case, accents, spacing) with a map back to the original text,
//!   and the word splitting that triage, language detection and answer detection share.
//! - [`rules`]: the rule library: loading and validating the TOML files, the single-pass
//!   matcher (`words` for word lists, one regex set for patterns) and the reply templates.
//! - [`triage`]: the pure function from (comment, library) to a [`triage::Verdict`], with
//!   language detection.
//! - [`draft`]: a verdict's template turned into the reply text a moderator approves.
//! - [`explain`]: a verdict worded for people, the same in the terminal, in chat and in eval.
//! - [`answer`]: does a new message answer an open question? Cues by name, turn-taking and
//!   content, for channels where people answer without replying.
//! - [`lifecycle`]: the states of a flagged comment, the moves allowed between them, and the
//!   records (stored comment, moderator action) the tracker keeps.
//! - [`eval`]: scoring detection on labelled data with one confusion matrix for every task.

pub mod answer;
pub mod comment;
pub mod draft;
pub mod eval;
pub mod explain;
pub mod lifecycle;
pub mod rules;
pub mod text;
pub mod triage;
