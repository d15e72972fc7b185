//! Triage: the pure function from (comment, rule library) to a [`Verdict`].
//!
//! It never does I/O, so the live bot, the demo, `rules test` and the evaluation all get the
//! same answer for the same text, and the benchmarks time exactly what the bot runs.

pub mod language;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::comment::Comment;
use crate::rules::{
    AuthorFilter, Condition, Label, Lang, Lexicon, Library, Rule, RuleId, Severity, TemplateId,
    TermHit, TermId, TermUse,
};
use crate::text::{key_at, normalize, split_words, Normalized, Word, WordSet};

pub use language::Detected;

/// Settings triage depends on (from `[triage]` in the config).
#[derive(Debug, Clone)]
pub struct TriageOptions {
    /// Reply language when a comment gives no clue.
    pub fallback_language: Lang,
    /// Members who joined fewer days ago than this count as new members for rule filters.
    pub new_member_days: i64,
}

impl Default for TriageOptions {
    fn default() -> Self {
        Self {
            fallback_language: Lang::En,
            new_member_days: 7,
        }
    }
}

/// A byte range of the comment's original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// One piece of text that made a rule fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub span: Span,
    /// The comment's own words at `span`.
    pub text: String,
    /// What the rule was looking for (the word or pattern as in the library).
    pub term: Arc<str>,
    /// The contribution to a lexicon score (after negation and intensifiers); `None` for terms.
    pub weight: Option<f32>,
}

/// A rule that fired on the comment, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleMatch {
    pub rule: RuleId,
    pub labels: Arc<[Label]>,
    pub topic: Option<Arc<str>>,
    pub severity: Severity,
    pub priority: i32,
    /// 1.0 for a term rule; a lexicon's total divided by its threshold.
    pub score: f32,
    pub evidence: Vec<Evidence>,
}

/// How strongly a label applies, and which rule said so most strongly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelScore {
    pub label: Label,
    pub score: f32,
    pub rule: RuleId,
}

/// The reply to draft: which template answers the comment, and in which language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyChoice {
    pub rule: RuleId,
    pub template: TemplateId,
    pub lang: Lang,
}

/// Everything triage decided about one comment, with enough detail to explain every flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub language: Lang,
    pub language_confident: bool,
    pub labels: Vec<LabelScore>,
    pub matches: Vec<RuleMatch>,
    /// Labels a rule cancelled (e.g. closing thanks cancel `question`), and which rule did.
    pub suppressed: Vec<(Label, RuleId)>,
    pub reply: Option<ReplyChoice>,
}

impl Verdict {
    pub fn has(&self, label: Label) -> bool {
        self.labels.iter().any(|l| l.label == label)
    }

    /// "it", or "it (unsure)" when the text was too short or mixed to tell.
    pub fn language_text(&self) -> String {
        let unsure = if self.language_confident {
            ""
        } else {
            " (unsure)"
        };
        format!("{}{unsure}", self.language)
    }

    /// "complaint, question": the labels standing, without scores.
    pub fn label_names(&self) -> String {
        let names: Vec<&str> = self.labels.iter().map(|l| l.label.as_str()).collect();
        names.join(", ")
    }

    /// "complaint (0.80), question (0.55)", or "none".
    pub fn scores_text(&self) -> String {
        if self.labels.is_empty() {
            return "none".to_owned();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|l| format!("{} ({:.2})", l.label, l.score))
            .collect();
        labels.join(", ")
    }

    /// Whether a moderator should see this comment: someone is waiting for an answer.
    pub fn needs_reply(&self) -> bool {
        self.labels.iter().any(|l| l.label.needs_reply())
    }

    /// Whether a question is the comment's only reason to be answered (no complaint, nothing
    /// urgent): such a comment can wait for the community before moderators see it.
    pub fn only_question(&self) -> bool {
        let mut needing = self
            .labels
            .iter()
            .map(|l| l.label)
            .filter(|label| label.needs_reply());
        needing.next() == Some(Label::Question) && needing.all(|label| label == Label::Question)
    }

    /// The highest severity among rules that gave a label still standing.
    pub fn severity(&self) -> Option<Severity> {
        self.matches
            .iter()
            .filter(|m| m.labels.iter().any(|l| self.has(*l)))
            .map(|m| m.severity)
            .max()
    }

    /// The rule whose template drafts the reply, else the strongest rule.
    pub fn main_match(&self) -> Option<&RuleMatch> {
        match &self.reply {
            Some(choice) => self.matches.iter().find(|m| m.rule == choice.rule),
            None => self.matches.first(),
        }
    }
}

/// Triage one comment against the library.
pub fn triage(comment: &Comment, library: &Library, options: &TriageOptions) -> Verdict {
    let normalized = normalize(&comment.text);
    // The words and hits buffers are reused from comment to comment on this thread (triage
    // is per comment and this is its hot path); they are handed back at the end.
    let mut words = WORDS.take();
    split_words(&normalized.text, &mut words);
    let detected = language::detect(&words, options.fallback_language);
    let mut hits = HITS.take();
    hits.clear();
    library.matcher.find(&normalized.text, &words, &mut hits);

    // What the hits mean to each rule, read off once: the rules worth reading (as a bitset,
    // so they are visited in index order whatever order the hits came in), and per rule its
    // first `any` hit, how many `all` terms were found, and whether a veto was. Typical
    // libraries' bitsets fit on the stack.
    let bitset_len = library.rules.len().div_ceil(64);
    let mut inline = [0u64; INLINE_RULE_WORDS];
    let mut heap = Vec::new();
    let candidates: &mut [u64] = if bitset_len <= INLINE_RULE_WORDS {
        &mut inline[..bitset_len]
    } else {
        heap.resize(bitset_len, 0);
        &mut heap
    };
    let mut states = STATES.take();
    if states.len() != library.rules.len() {
        states = vec![RuleState::default(); library.rules.len()];
    }
    for (at, hit) in hits.iter().enumerate() {
        for &(index, how) in &library.uses_by_term[hit.term.0 as usize] {
            let state = &mut states[index as usize];
            match how {
                TermUse::Any => {
                    state.any_hit.get_or_insert(at as u32);
                }
                TermUse::All => state.all_found += 1,
                TermUse::Veto => state.vetoed = true,
                TermUse::Weighted => {}
            }
            if how.is_positive() {
                candidates[index as usize / 64] |= 1 << (index % 64);
            }
        }
    }
    for &index in &library.always_check {
        candidates[index as usize / 64] |= 1 << (index % 64);
    }

    let text = Text {
        original: &comment.text,
        normalized: &normalized,
        words: &words,
        library,
    };
    // Shouting cues matter only when they could tip a lexicon over its threshold: read them
    // once, and only then.
    let cues = std::cell::OnceCell::new();
    let mut matches: Vec<(u32, RuleMatch)> = Vec::with_capacity(8);
    for index in set_bits(candidates) {
        let rule = &library.rules[index as usize];
        if !applies(rule, comment, detected, options) {
            continue;
        }
        let state = states[index as usize];
        let fired = match &rule.condition {
            Condition::Terms { any, all, .. } => {
                let fires = (any.is_empty() || state.any_hit.is_some())
                    && state.all_found as usize == all.len()
                    && !state.vetoed;
                fires.then(|| {
                    let found = |t: &TermId| hits.iter().find(|h| h.term == *t);
                    // Sized up front: the explanation is built for every rule that fires.
                    let mut list = Vec::with_capacity(1 + all.len());
                    list.extend(
                        state
                            .any_hit
                            .map(|at| &hits[at as usize])
                            .into_iter()
                            .chain(all.iter().filter_map(found))
                            .map(|h| evidence(&text, h, None)),
                    );
                    (1.0, list)
                })
            }
            Condition::Lexicon(_) if state.vetoed => None,
            Condition::Lexicon(lex) => lexicon_score(&text, lex, &hits, || {
                *cues.get_or_init(|| Cues::of(&comment.text))
            }),
        };
        if let Some((score, evidence)) = fired {
            matches.push((
                index,
                RuleMatch {
                    rule: rule.id.clone(),
                    labels: rule.labels.clone(),
                    topic: rule.topic.clone(),
                    severity: rule.severity,
                    priority: rule.priority,
                    score,
                    evidence,
                },
            ));
        }
    }
    // Strongest first: this order is what moderators read and what picks the reply.
    matches.sort_by(|(_, a), (_, b)| {
        (b.priority, b.severity)
            .cmp(&(a.priority, a.severity))
            .then(b.score.total_cmp(&a.score))
            .then(a.rule.cmp(&b.rule))
    });
    // Only the rules the hits touched have state to clear for the next comment.
    for hit in hits.iter() {
        for &(index, _) in &library.uses_by_term[hit.term.0 as usize] {
            states[index as usize] = RuleState::default();
        }
    }
    STATES.set(states);
    HITS.set(hits);
    WORDS.set(words);
    verdict(library, comment, detected, matches)
}

/// What one comment's hits mean to one rule.
#[derive(Debug, Clone, Copy, Default)]
struct RuleState {
    /// The first hit (index into the hits) among the rule's `any` terms.
    any_hit: Option<u32>,
    /// How many of the rule's `all` terms were found (each is listed once).
    all_found: u32,
    vetoed: bool,
}

thread_local! {
    /// Per rule of the library, all cleared between comments: only the few rules a comment
    /// touches are written, so the vector is kept rather than rebuilt.
    static STATES: std::cell::Cell<Vec<RuleState>> = const { std::cell::Cell::new(Vec::new()) };
    /// The words and term hits of the comment being triaged, kept between comments for their
    /// capacity.
    static WORDS: std::cell::Cell<Vec<Word>> = const { std::cell::Cell::new(Vec::new()) };
    static HITS: std::cell::Cell<Vec<TermHit>> = const { std::cell::Cell::new(Vec::new()) };
}

fn verdict(
    library: &Library,
    comment: &Comment,
    detected: Detected,
    indexed: Vec<(u32, RuleMatch)>,
) -> Verdict {
    let mut suppressed = Vec::new();
    for (index, m) in &indexed {
        for label in &library.rules[*index as usize].suppresses {
            if !suppressed.iter().any(|(l, _)| l == label) {
                suppressed.push((*label, m.rule.clone()));
            }
        }
    }
    let mut labels: Vec<LabelScore> = Vec::new();
    for (_, m) in &indexed {
        for label in m.labels.iter() {
            if suppressed.iter().any(|(l, _)| l == label) {
                continue;
            }
            match labels.iter_mut().find(|l| l.label == *label) {
                Some(existing) if existing.score >= m.score => {}
                Some(existing) => {
                    existing.score = m.score;
                    existing.rule = m.rule.clone();
                }
                None => labels.push(LabelScore {
                    label: *label,
                    score: m.score,
                    rule: m.rule.clone(),
                }),
            }
        }
    }
    labels.sort_by_key(|l| l.label);
    let reply = indexed
        .iter()
        .find(|(_, m)| {
            m.labels
                .iter()
                .any(|l| l.needs_reply() && labels.iter().any(|s| s.label == *l))
        })
        .and_then(|(index, m)| {
            let rule = &library.rules[*index as usize];
            let pick = stable_hash(comment.id.as_str()) as usize % rule.templates.len().max(1);
            Some(ReplyChoice {
                rule: m.rule.clone(),
                template: rule.templates.get(pick)?.clone(),
                lang: detected.lang,
            })
        });
    Verdict {
        language: detected.lang,
        language_confident: detected.confident,
        labels,
        matches: indexed.into_iter().map(|(_, m)| m).collect(),
        suppressed,
        reply,
    }
}

/// Rules a comment's candidate set holds on the stack (64 per word); larger libraries use the heap.
const INLINE_RULE_WORDS: usize = 32;

/// The indices of the set bits, lowest first.
fn set_bits(words: &[u64]) -> impl Iterator<Item = u32> + '_ {
    words.iter().enumerate().flat_map(|(w, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let bit = rest.trailing_zeros();
            rest &= rest - 1;
            Some(w as u32 * 64 + bit)
        })
    })
}

/// FNV-1a: a stable choice among a rule's templates and wordings, same on every run.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn applies(rule: &Rule, comment: &Comment, detected: Detected, options: &TriageOptions) -> bool {
    if let Some(lang) = rule.language {
        if detected.confident && lang != detected.lang {
            return false;
        }
    }
    let scope = &rule.scope;
    let channel = comment.place.channel_name.as_str();
    if !scope.channels.is_empty() && !scope.channels.iter().any(|c| c == channel) {
        return false;
    }
    if scope.exclude_channels.iter().any(|c| c == channel) {
        return false;
    }
    if scope.dm.is_some_and(|dm| dm != comment.place.is_dm) {
        return false;
    }
    match scope.author {
        AuthorFilter::Any => true,
        AuthorFilter::Member => !comment.author.is_staff,
        AuthorFilter::NewMember => comment.is_from_new_member(options.new_member_days),
    }
}

fn evidence(text: &Text<'_>, hit: &TermHit, weight: Option<f32>) -> Evidence {
    let (start, end) = text.library.matcher.locate(hit, &text.normalized.text);
    let (start, end) = text.normalized.original_range(start, end);
    // `original_range` gives character boundaries of the original. Were that ever broken,
    // tests should say so, but a live comment should get empty evidence, not a crash.
    let words = text.original.get(start..end);
    debug_assert!(words.is_some(), "{start}..{end} splits {:?}", text.original);
    let (span, words) = match words {
        Some(words) => (Span { start, end }, words),
        None => (Span { start: 0, end: 0 }, ""),
    };
    Evidence {
        span,
        text: words.to_owned(),
        term: text.library.matcher.describe(hit.term).clone(),
        weight,
    }
}

/// The comment's text in both forms, its words, and the library its terms come from.
struct Text<'a> {
    original: &'a str,
    normalized: &'a Normalized,
    words: &'a [Word],
    library: &'a Library,
}

/// Shouting cues read from the original text (case is gone after normalisation).
#[derive(Debug, Clone, Copy, Default)]
struct Cues {
    all_caps: bool,
    exclamations: bool,
}

impl Cues {
    fn of(original: &str) -> Cues {
        let bytes = original.as_bytes();
        // Counting first (a loop the compiler vectorises) rules out most comments, which
        // have neither two "!" nor three capitals, before any run is looked for.
        let count = |is: fn(&u8) -> bool| bytes.iter().filter(|b| is(b)).count();
        let exclamations = count(|b| *b == b'!') >= 2
            && bytes
                .windows(2)
                .any(|pair| pair[0] == b'!' && pair[1] == b'!');
        // Most comments are ASCII, read byte by byte without decoding.
        let all_caps = if original.is_ascii() {
            count(u8::is_ascii_uppercase) >= 3
                && caps_run(bytes.iter().map(|b| (b.is_ascii_uppercase(), true)))
        } else {
            caps_run(
                original
                    .chars()
                    .map(|c| (c.is_uppercase(), !c.is_alphabetic() || c.is_lowercase())),
            )
        };
        Cues {
            all_caps,
            exclamations,
        }
    }
}

/// Whether three capitals come in a row, given (is a capital, else breaks a run) per character.
fn caps_run(chars: impl Iterator<Item = (bool, bool)>) -> bool {
    let mut run = 0;
    for (upper, breaks) in chars {
        if upper {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else if breaks {
            run = 0;
        }
    }
    false
}

fn lexicon_score(
    text: &Text<'_>,
    lex: &Lexicon,
    hits: &[TermHit],
    cues: impl FnOnce() -> Cues,
) -> Option<(f32, Vec<Evidence>)> {
    let weighted = || {
        hits.iter()
            .filter_map(|hit| Some((hit, lexicon_weight(text, lex, hit)?)))
    };
    let mut total: f32 = weighted().map(|(_, weight)| weight).sum();
    if total + lex.all_caps.max(0.0) + lex.exclamations.max(0.0) < lex.threshold {
        return None;
    }
    let cues = cues();
    if cues.all_caps {
        total += lex.all_caps;
    }
    if cues.exclamations {
        total += lex.exclamations;
    }
    if total < lex.threshold {
        return None;
    }
    // Most lexicons stay below their threshold: explanations are built only for those that fire.
    let mut evidence_list = Vec::with_capacity(hits.len());
    evidence_list.extend(weighted().map(|(hit, weight)| evidence(text, hit, Some(weight))));
    // The words that pushed hardest towards the verdict come first.
    evidence_list.sort_by(|a, b| b.weight.unwrap_or(0.0).total_cmp(&a.weight.unwrap_or(0.0)));
    Some((total / lex.threshold, evidence_list))
}

/// A hit's contribution to a lexicon, after negation and intensifiers; `None` if not weighted.
fn lexicon_weight(text: &Text<'_>, lex: &Lexicon, hit: &TermHit) -> Option<f32> {
    let found = lex.weight_of(hit.term)?;
    let mut weight = found.weight;
    if found.fixed {
        return Some(weight);
    }
    let at = hit.word_start();
    if reaches(text, &lex.negators, lex.negation_window, at) {
        weight = -weight;
    }
    if reaches(text, &lex.intensifiers, 1, at) {
        weight *= lex.intensifier_factor;
    }
    Some(weight)
}

/// Whether a word of `set` among the `window` words before byte `at` reaches it: a negator
/// or an intensifier reads forward only within its own clause, so it stops at a mark that
/// ends one ("Never again. Awful" does not make "awful" praise; "Really? Awful" does not make
/// it stronger).
fn reaches(text: &Text<'_>, set: &WordSet, window: usize, at: usize) -> bool {
    let bytes = text.normalized.text.as_bytes();
    let before = text.words.partition_point(|w| (w.start as usize) < at);
    // Where the gap after the word looked at ends: the hit itself, then each word in turn.
    let mut gap_end = at;
    for w in text.words[..before].iter().rev().take(window) {
        let (start, end) = (w.start as usize, w.end as usize);
        let word = if end <= at {
            if ends_clause(text, end, gap_end) || is_dash(&bytes[start..end]) {
                return false;
            }
            (w.key, &bytes[start..end])
        } else {
            (key_at(bytes, start, at - start), &bytes[start..at])
        };
        if set.contains_key(word.0, word.1) {
            return true;
        }
        gap_end = start;
    }
    false
}

/// Whether the gap `start..end` between two words of the normalised text holds a mark that
/// ends a clause: a sentence mark, a semicolon, colon or comma, or a line break of the
/// original. The comma counts too ("got nothing, awful"; "non so, pessimo"): measured on the
/// design halves, no set fell with it and the Italian tone set gained a little.
fn ends_clause(text: &Text<'_>, start: usize, end: usize) -> bool {
    let gap = &text.normalized.text.as_bytes()[start..end];
    if gap
        .iter()
        .any(|b| matches!(b, b'.' | b'!' | b'?' | b';' | b':' | b','))
    {
        return true;
    }
    // White space was collapsed to one space: a line break is seen in the original only.
    gap.contains(&b' ') && {
        let (from, to) = text.normalized.original_range(start, end);
        text.original
            .get(from..to)
            .is_some_and(|original| original.contains(['\n', '\r']))
    }
}

/// Whether a word of the normalised text is a dash standing alone ("not bad — awful").
fn is_dash(word: &[u8]) -> bool {
    word == "\u{2014}".as_bytes() || word == "\u{2013}".as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::{Author, Place, Source};
    use chrono::TimeZone;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    const TEMPLATE: &str = "[[template]]\nid = \"t\"\n[template.en]\nwordings = [\"Hi {author}\"]\n[template.it]\nwordings = [\"Ciao {author}\"]\n";

    fn library(en: &str) -> Library {
        library_in("en", en)
    }

    fn library_in(lang: &str, rules: &str) -> Library {
        let sources = vec![
            (
                PathBuf::from(format!("r/{lang}/rules.toml")),
                rules.to_owned(),
            ),
            (PathBuf::from("r/templates.toml"), TEMPLATE.to_owned()),
        ];
        Library::from_sources(Path::new("r"), &sources, &BTreeMap::new()).unwrap()
    }

    fn comment(text: &str) -> Comment {
        Comment::new(
            "1",
            Source::Replay,
            Place::channel("c", "general"),
            Author::member("a", "ann"),
            text,
            // The core is built without a clock; a fixed time also keeps these tests repeatable.
            chrono::Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap(),
        )
    }

    const LEXICON: &str = r#"
[[rule]]
id = "en.negative.tone"
labels = ["negative"]
[rule.lexicon]
threshold = 2.0
weights = { "terrible" = 1.5, "broken" = 1.0, "good" = -1.0, "happy" = -1.0 }
negators = ["not", "never"]
intensifiers = ["very", "so"]
all_caps = 0.5
exclamations = 0.5
"#;

    #[test]
    fn a_lexicon_fires_when_weights_add_up_and_explains_its_top_words() {
        let v = triage(
            &comment("terrible, it arrived broken"),
            &library(LEXICON),
            &TriageOptions::default(),
        );
        assert!(v.has(Label::Negative));
        let evidence = &v.matches[0].evidence;
        assert_eq!(evidence[0].text, "terrible");
        assert_eq!(evidence[0].weight, Some(1.5));
        assert!((v.matches[0].score - 1.25).abs() < 1e-6);
    }

    #[test]
    fn a_lexicon_stays_quiet_below_its_threshold() {
        let v = triage(
            &comment("it arrived broken"),
            &library(LEXICON),
            &TriageOptions::default(),
        );
        assert!(!v.has(Label::Negative));
    }

    #[test]
    fn negation_flips_a_word_and_intensifiers_strengthen_it() {
        let lib = library(LEXICON);
        let v = triage(
            &comment("not good at all, arrived broken"),
            &lib,
            &TriageOptions::default(),
        );
        assert!(
            v.has(Label::Negative),
            "not good (+1) + broken (+1) reaches 2"
        );
        let v = triage(&comment("very terrible"), &lib, &TriageOptions::default());
        assert!(v.has(Label::Negative), "very terrible is 2.25");
        assert_eq!(v.matches[0].evidence[0].weight, Some(2.25));
    }

    #[test]
    fn a_negation_stops_at_the_end_of_its_clause() {
        let lib = library(LEXICON);
        let opts = TriageOptions::default();
        // A word of its own sentence at the end makes the lexicon fire and explain every word.
        let loud = library(&LEXICON.replace(
            "\"terrible\" = 1.5,",
            "\"terrible\" = 1.5, \"awful\" = 9.0,",
        ));
        let weight_of = |text: &str, word: &str| {
            let v = triage(&comment(&format!("{text}. awful")), &loud, &opts);
            v.matches
                .iter()
                .flat_map(|m| &m.evidence)
                .find(|e| e.text.eq_ignore_ascii_case(word))
                .and_then(|e| e.weight)
        };
        // Within one clause the negator still turns the word around.
        assert_eq!(weight_of("not terrible at all", "terrible"), Some(-1.5));
        assert_eq!(weight_of("it's not broken", "broken"), Some(-1.0));
        // A sentence mark, semicolon, colon, comma, dash or line break ends its reach.
        for text in [
            "Never. Terrible",
            "never! terrible",
            "never? terrible",
            "never; terrible",
            "never: terrible",
            "never, terrible",
            "never \u{2014} terrible",
            "never \u{2013} terrible",
            "never\nterrible",
            "never \r\n  terrible",
            "never...terrible",
        ] {
            assert_eq!(weight_of(text, "terrible"), Some(1.5), "{text:?}");
        }
        // A hyphen inside a compound and an apostrophe do not.
        assert_eq!(weight_of("not-terrible", "terrible"), Some(-1.5));
        assert_eq!(weight_of("never 'terrible'", "terrible"), Some(-1.5));
        // A whole complaint made of a refusal and a verdict is read as one.
        // An intensifier is read the same way: "so terrible" is stronger, "so? terrible" is not.
        assert_eq!(weight_of("so terrible", "terrible"), Some(2.25));
        assert_eq!(weight_of("so? terrible", "terrible"), Some(1.5));
        assert_eq!(weight_of("very,\nterrible", "terrible"), Some(1.5));
        let v = triage(&comment("Never again.\nTERRIBLE"), &lib, &opts);
        assert!(v.has(Label::Negative), "{:?}", v.matches);
        let v = triage(&comment("Never again, terrible and broken"), &lib, &opts);
        assert!(v.has(Label::Negative), "{:?}", v.matches);
    }

    #[test]
    fn fixed_cues_are_not_turned_around_by_a_negator() {
        let lib = library(
            r#"
[[rule]]
id = "en.complaint.tone"
labels = ["negative"]
[rule.lexicon]
threshold = 1.0
weights = { "broken" = 1.0, "http*" = -1.0, "why" = 0.5 }
negators = ["not", "dont"]
intensifiers = ["seriously"]
fixed = ["http*", "why"]
"#,
        );
        let opts = TriageOptions::default();
        // Without `fixed`, "not" would turn the link's -1 into +1 and flag the post.
        let v = triage(
            &comment("prices not negotiable https://shop.test"),
            &lib,
            &opts,
        );
        assert!(!v.has(Label::Negative), "{:?}", v.matches);
        // "dont know why" stays a 0.5 question word, not a -0.5.
        let v = triage(&comment("i dont know why it arrived broken"), &lib, &opts);
        assert!(v.has(Label::Negative), "broken 1.0 + why 0.5");
        let why = v.matches[0]
            .evidence
            .iter()
            .find(|e| e.text == "why")
            .unwrap();
        assert_eq!(why.weight, Some(0.5));
    }

    #[test]
    fn a_fixed_word_must_be_one_of_the_weighted_words() {
        let sources = vec![(
            PathBuf::from("r/en/tone.toml"),
            "[[rule]]\nid = \"en.tone\"\nlabels = [\"negative\"]\n[rule.lexicon]\nthreshold = 1.0\nweights = { \"broken\" = 1.0 }\nfixed = [\"http*\"]\n".to_owned(),
        )];
        let err = Library::from_sources(Path::new("r"), &sources, &BTreeMap::new()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("en.tone"), "{text}");
        assert!(text.contains("lexicon.fixed"), "{text}");
        assert!(
            text.contains("`http*` is not one of the lexicon's weighted words"),
            "{text}"
        );
    }

    #[test]
    fn shouting_and_exclamations_count_as_cues() {
        let lib = library(LEXICON);
        let v = triage(
            &comment("This is BROKEN!!"),
            &lib,
            &TriageOptions::default(),
        );
        assert!(v.has(Label::Negative), "1.0 + 0.5 caps + 0.5 exclamations");
        let v = triage(&comment("This is broken."), &lib, &TriageOptions::default());
        assert!(!v.has(Label::Negative));
    }

    #[test]
    fn evidence_spans_point_at_the_original_text() {
        let lib = library_in(
            "it",
            "[[rule]]\nid = \"it.q\"\nlabels = [\"question\"]\ntemplates = [\"t\"]\n[rule.any]\nwords = [\"perche\"]\n",
        );
        let text = "Ma PERCHÉ no?";
        let v = triage(&comment(text), &lib, &TriageOptions::default());
        assert_eq!(v.language, Lang::It);
        assert_eq!(v.reply.as_ref().unwrap().lang, Lang::It);
        let e = &v.matches[0].evidence[0];
        assert_eq!(&text[e.span.start..e.span.end], "PERCHÉ");
        assert_eq!(e.text, "PERCHÉ");
    }

    #[test]
    fn a_match_ending_inside_a_capital_dotted_i_takes_the_whole_letter() {
        // "İ" lowercases to "i" and a combining dot: "fesseri" ends between the two.
        let lib = library_in(
            "it",
            "[[rule]]\nid = \"it.insult\"\nlabels = [\"negative\"]\n[rule.any]\nwords = [\"fesseri*\"]\n",
        );
        let text = "FESSERİ";
        let v = triage(&comment(text), &lib, &TriageOptions::default());
        let e = &v.matches[0].evidence[0];
        assert_eq!((e.span.start, e.span.end), (0, text.len()));
        assert_eq!(e.text, "FESSERİ");
    }

    #[test]
    fn a_byte_pattern_stopping_inside_a_character_takes_the_whole_character() {
        // Patterns match bytes: `.` takes only the first of the letter's three.
        let lib = library(
            "[[rule]]\nid = \"en.cafe\"\nlabels = [\"praise\"]\n[rule.any]\npatterns = [\"caf.\"]\n",
        );
        let text = "caf茶 ok";
        let v = triage(&comment(text), &lib, &TriageOptions::default());
        let e = &v.matches[0].evidence[0];
        assert_eq!(e.text, "caf茶");
        assert_eq!(&text[e.span.start..e.span.end], "caf茶");
    }

    #[test]
    fn rules_of_another_language_do_not_read_a_clearly_detected_comment() {
        let lib = library(
            "[[rule]]\nid = \"en.q\"\nlabels = [\"praise\"]\n[rule.any]\nwords = [\"come\"]\n",
        );
        let opts = TriageOptions::default();
        assert!(
            !triage(&comment("come si fa a cambiare la password?"), &lib, &opts).has(Label::Praise)
        );
        assert!(triage(&comment("come on, you can do it"), &lib, &opts).has(Label::Praise));
    }

    #[test]
    fn all_and_none_conditions_combine() {
        let lib = library(
            "[[rule]]\nid = \"en.c\"\nlabels = [\"complaint\"]\ntemplates = [\"t\"]\n[rule.all]\nwords = [\"order\", \"late\"]\n[rule.none]\nwords = [\"not late\"]\n",
        );
        let opts = TriageOptions::default();
        assert!(triage(&comment("my order is late"), &lib, &opts).has(Label::Complaint));
        assert!(!triage(&comment("my order"), &lib, &opts).has(Label::Complaint));
        assert!(!triage(&comment("my order is not late"), &lib, &opts).has(Label::Complaint));
    }

    #[test]
    fn what_one_comment_found_does_not_carry_over_to_the_next() {
        let lib = library(
            "[[rule]]\nid = \"en.c\"\nlabels = [\"complaint\"]\ntemplates = [\"t\"]\n[rule.any]\nwords = [\"refund\", \"broken\"]\n[rule.all]\nwords = [\"order\", \"late\", \"order\"]\n[rule.none]\nwords = [\"joke\"]\n",
        );
        let opts = TriageOptions::default();
        let fires = |text: &str| triage(&comment(text), &lib, &opts).has(Label::Complaint);
        // A word written twice in `all` is needed once.
        assert!(fires("late order, refund please"));
        // Vetoed, then the same words without the veto: the veto is not remembered.
        assert!(!fires("late order, refund? joke"));
        assert!(fires("late order, broken"));
        // `all` words found by an earlier comment do not count for this one.
        assert!(fires("order late refund"));
        assert!(!fires("refund"));
        let verdict = triage(&comment("broken and late, my order"), &lib, &opts);
        let terms: Vec<&str> = verdict.matches[0]
            .evidence
            .iter()
            .map(|e| e.text.as_str())
            .collect();
        assert_eq!(
            terms,
            ["broken", "order", "late"],
            "the any hit, then `all` as written"
        );
    }

    #[test]
    fn channel_and_author_filters_limit_a_rule() {
        let lib = library(
            "[[rule]]\nid = \"en.c\"\nlabels = [\"question\"]\ntemplates = [\"t\"]\nchannels = [\"support\"]\nauthor = \"new_member\"\n[rule.any]\nwords = [\"help\"]\n",
        );
        let opts = TriageOptions::default();
        let mut c = comment("help please");
        assert!(
            !triage(&c, &lib, &opts).has(Label::Question),
            "wrong channel"
        );
        c.place.channel_name = "support".into();
        assert!(
            !triage(&c, &lib, &opts).has(Label::Question),
            "not a new member"
        );
        c.author.joined_at = Some(c.time - chrono::Duration::days(2));
        assert!(triage(&c, &lib, &opts).has(Label::Question));
    }

    #[test]
    fn libraries_too_large_for_the_stack_bitset_still_reach_every_rule() {
        let count = INLINE_RULE_WORDS * 64 + 40;
        let rules: String = (0..count)
            .map(|i| {
                format!("[[rule]]\nid = \"en.r{i}\"\nlabels = [\"praise\"]\n[rule.any]\nwords = [\"word{i}\"]\n")
            })
            .collect();
        let lib = library(&rules);
        let opts = TriageOptions::default();
        for i in [0, 63, 64, INLINE_RULE_WORDS * 64, count - 1] {
            let v = triage(&comment(&format!("say word{i} please")), &lib, &opts);
            let fired: Vec<&str> = v.matches.iter().map(|m| m.rule.as_str()).collect();
            assert_eq!(fired, [format!("en.r{i}")], "rule {i}");
        }
    }

    #[test]
    fn priority_picks_the_reply_template() {
        let lib = library(
            "[[rule]]\nid = \"en.low\"\nlabels = [\"question\"]\ntemplates = [\"t\"]\npriority = 1\n[rule.any]\nwords = [\"refund\"]\n\n[[rule]]\nid = \"en.high\"\nlabels = [\"complaint\"]\ntemplates = [\"t\"]\npriority = 9\n[rule.any]\nwords = [\"refund\"]\n",
        );
        let v = triage(&comment("refund"), &lib, &TriageOptions::default());
        assert_eq!(v.reply.unwrap().rule.as_str(), "en.high");
        assert_eq!(v.matches[0].rule.as_str(), "en.high");
    }
}
