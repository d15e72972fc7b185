//! The rule library: what to flag and how to answer, as community managers write it in `rules/`.
//!
//! The library is loaded once (and again on `/ascolto reload`) from TOML files, validated as a
//! whole so every problem is reported at once, and compiled into a [`Matcher`] that triage runs
//! in a single pass over each comment. Nothing here knows about Discord or the database.

mod load;
mod matcher;
mod template;
mod words;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::text::WordSet;

pub use load::{LibraryError, Problem};
pub use matcher::{Matcher, TermHit, TermId};
pub use template::{
    defuse_mentions, Placeholders, Template, TemplateError, Wording, BUILTIN_PLACEHOLDERS,
    MATCH_MAX_CHARS, REPLY_MAX_CHARS,
};

/// A language Ascolto understands and can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    It,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::It];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::It => "it",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "en" => Some(Lang::En),
            "it" => Some(Lang::It),
            _ => None,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a rule says a comment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Something breached the writer's expectations: needs an empathetic answer.
    Complaint,
    /// Someone asked something: needs an answer.
    Question,
    /// Needs a moderator now (legal threat, safety, cancelling, public outrage).
    Urgent,
    /// Thanks or praise: usually closes a conversation, never needs a reply on its own.
    Praise,
    /// Negative tone without a concrete complaint: worth a look, not always a reply.
    Negative,
}

impl Label {
    pub const ALL: [Label; 5] = [
        Label::Complaint,
        Label::Question,
        Label::Urgent,
        Label::Praise,
        Label::Negative,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Complaint => "complaint",
            Label::Question => "question",
            Label::Urgent => "urgent",
            Label::Praise => "praise",
            Label::Negative => "negative",
        }
    }

    pub fn parse(value: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.as_str() == value)
    }

    /// Whether a comment with this label waits for someone to answer it.
    pub fn needs_reply(self) -> bool {
        matches!(self, Label::Complaint | Label::Question | Label::Urgent)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad it is if a flagged comment waits.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule's id, unique across the library (e.g. `en.complaint.late_delivery`).
///
/// Shared, not copied: every verdict names the rules that fired, and triage runs per comment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(pub Arc<str>);

/// A template's id, unique across the library (e.g. `late_delivery`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateId(pub Arc<str>);

impl RuleId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TemplateId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which authors a rule applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorFilter {
    #[default]
    Any,
    /// Members who joined less than `triage.new_member_days` ago.
    NewMember,
    /// Members who are not staff.
    Member,
}

/// Where and from whom a rule applies; empty lists mean everywhere.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Channel names (without `#`) the rule is limited to.
    pub channels: Vec<String>,
    /// Channel names the rule never applies in.
    pub exclude_channels: Vec<String>,
    pub author: AuthorFilter,
    /// `Some(true)`: only direct messages; `Some(false)`: never in direct messages.
    pub dm: Option<bool>,
}

/// How a rule decides it fires, over terms compiled into the library's [`Matcher`].
#[derive(Debug, Clone)]
pub enum Condition {
    /// AutoModerator-style: at least one of `any` (if given), every one of `all`, none of `none`.
    Terms {
        any: Vec<TermId>,
        all: Vec<TermId>,
        none: Vec<TermId>,
    },
    /// Readable word weights summed against a threshold (see `rules/README.md`).
    Lexicon(Lexicon),
}

/// A weighted word list: fires when the evidence in a comment adds up.
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub weights: Vec<(TermId, f32)>,
    /// Weighted terms that negators and intensifiers leave alone: cues that are not about
    /// feeling (a link, a mention, a question word), which "not" cannot turn around. Sorted.
    pub fixed: Vec<TermId>,
    pub threshold: f32,
    /// Terms that veto the rule (like `none` in a term rule).
    pub none: Vec<TermId>,
    /// Words that flip a following weighted word ("not", "non", "mai").
    pub negators: WordSet,
    /// How many words before a weighted word a negator still counts.
    pub negation_window: usize,
    /// Words that strengthen a following weighted word ("very", "molto").
    pub intensifiers: WordSet,
    pub intensifier_factor: f32,
    /// Added once when the comment has a word of three or more letters in capitals.
    pub all_caps: f32,
    /// Added once when the comment has "!!" or more.
    pub exclamations: f32,
    /// `weights` and `fixed` by term id, filled once the library's terms are numbered: triage
    /// looks up every hit of every comment in every lexicon, so this is a direct index.
    pub(crate) by_term: Vec<Option<LexiconWeight>>,
}

/// A weighted word's weight, and whether negators and intensifiers leave it alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LexiconWeight {
    pub weight: f32,
    pub fixed: bool,
}

impl Lexicon {
    /// Indexes `weights` and `fixed` by term id, for a matcher of `term_count` terms.
    pub(crate) fn index_terms(&mut self, term_count: usize) {
        self.by_term = vec![None; term_count];
        for &(term, weight) in &self.weights {
            self.by_term[term.0 as usize] = Some(LexiconWeight {
                weight,
                fixed: self.fixed.binary_search(&term).is_ok(),
            });
        }
    }

    pub(crate) fn weight_of(&self, term: TermId) -> Option<LexiconWeight> {
        self.by_term.get(term.0 as usize).copied().flatten()
    }
}

/// One entry of the rule library.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: RuleId,
    /// The file the rule came from, for explanations and errors.
    pub file: PathBuf,
    /// The language whose comments the rule reads (from its folder), `None` for all.
    pub language: Option<Lang>,
    pub description: String,
    pub labels: Arc<[Label]>,
    /// A short topic such as `delivery` or `refund`, shown to moderators and in the digest.
    pub topic: Option<Arc<str>>,
    /// Labels this rule cancels when it fires (closing thanks cancel `question`).
    pub suppresses: Vec<Label>,
    /// Higher wins when several rules fire and each proposes a reply.
    pub priority: i32,
    pub severity: Severity,
    pub templates: Vec<TemplateId>,
    pub condition: Condition,
    pub scope: Scope,
}

/// What a term is to a rule that mentions it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TermUse {
    /// One of a term rule's `any` terms.
    Any,
    /// One of a term rule's `all` terms.
    All,
    /// A veto: in the `none` of a term rule or of a lexicon.
    Veto,
    /// One of a lexicon's weighted terms.
    Weighted,
}

impl TermUse {
    /// Whether a hit of the term can make the rule fire (so the rule is worth reading).
    pub(crate) fn is_positive(self) -> bool {
        self != TermUse::Veto
    }
}

/// The validated, compiled library triage runs against.
#[derive(Debug)]
pub struct Library {
    pub rules: Vec<Rule>,
    pub templates: HashMap<TemplateId, Template>,
    pub matcher: Matcher,
    /// For each term, the rules that mention it and how: triage reads each hit once for every
    /// rule that cares about it, and never looks at rules with no hit.
    pub(crate) uses_by_term: Vec<Vec<(u32, TermUse)>>,
    /// Rules that can fire with no term hit (lexicons whose cues alone may reach the threshold).
    pub(crate) always_check: Vec<u32>,
}

impl Library {
    pub fn rule(&self, id: &RuleId) -> Option<&Rule> {
        self.rules.iter().find(|r| &r.id == id)
    }

    pub fn template(&self, id: &TemplateId) -> Option<&Template> {
        self.templates.get(id)
    }
}
