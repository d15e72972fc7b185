//! The single-pass matcher every rule's words and patterns compile into.
//!
//! All word lists of the library go into one index looked up once per word of the comment
//! (see `words`), and all regex patterns into one multi-pattern regex (a `RegexSet`) run once
//! over the normalised comment. The cost of triage then grows with the length of the comment
//! and the number of hits, not with the number of rules.

use std::cell::RefCell;
use std::sync::Arc;

use regex::bytes::{Regex, RegexBuilder};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{meta, Input, MatchKind as SetKind, PatternSet};

pub use super::words::{TermHit, TermId};
use super::words::{WordEntry, WordIndex};
use crate::text::Word;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TermKey {
    Word(Arc<str>),
    Pattern(Arc<str>),
}

/// Collects terms while the library loads; deduplicates so shared words are matched once.
#[derive(Debug, Default)]
pub struct MatcherBuilder {
    keys: Vec<TermKey>,
    index: std::collections::HashMap<TermKey, TermId>,
}

impl MatcherBuilder {
    /// Adds a word or phrase (already normalised, possibly with `*` wildcards at its ends).
    pub fn word(&mut self, normalized: &str) -> TermId {
        self.add(TermKey::Word(normalized.into()))
    }

    /// Adds a regex pattern (already validated).
    pub fn pattern(&mut self, source: &str) -> TermId {
        self.add(TermKey::Pattern(source.into()))
    }

    fn add(&mut self, key: TermKey) -> TermId {
        if let Some(id) = self.index.get(&key) {
            return *id;
        }
        let id = TermId(self.keys.len() as u32);
        self.keys.push(key.clone());
        self.index.insert(key, id);
        id
    }

    /// Compiles the words into their index and the patterns into one set.
    pub fn build(self) -> Result<Matcher, String> {
        let mut words = Vec::new();
        let mut patterns = Vec::new();
        let mut pattern_terms = Vec::new();
        for (i, key) in self.keys.iter().enumerate() {
            let term = TermId(i as u32);
            match key {
                TermKey::Word(word) => words.push(WordEntry::new(term, word)),
                TermKey::Pattern(source) => {
                    patterns.push(source.to_string());
                    pattern_terms.push(term);
                }
            }
        }
        let words = WordIndex::build(words);
        let set = build_set(&patterns)?;
        let regexes = patterns
            .iter()
            .map(|p| compile_pattern(p).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Matcher {
            words,
            set,
            pattern_terms,
            regexes,
            term_count: self.keys.len(),
            keys: self.keys,
        })
    }
}

/// All patterns in one automaton that reports every pattern that matches (what
/// `regex::bytes::RegexSet` builds, used directly so the result can go in a reused buffer).
fn build_set(patterns: &[String]) -> Result<meta::Regex, String> {
    meta::Builder::new()
        .configure(
            meta::Config::new()
                .match_kind(SetKind::All)
                .utf8_empty(false)
                .which_captures(WhichCaptures::None)
                .nfa_size_limit(Some(256 << 20))
                .hybrid_cache_capacity(64 << 20),
        )
        // Patterns run on normalised (lowercase, accent-folded) text: byte semantics keep the
        // automaton a DFA, and ASCII word boundaries are right for folded text.
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .build_many(patterns)
        .map_err(|e| e.to_string())
}

thread_local! {
    /// Which patterns matched the comment being triaged: one buffer per thread, reused, as
    /// triage runs for every comment.
    static FOUND: RefCell<PatternSet> = RefCell::new(PatternSet::new(0));
}

/// Compiles one pattern with the same semantics the set uses.
pub fn compile_pattern(source: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(source)
        .unicode(false)
        .size_limit(16 << 20)
        .build()
}

/// The compiled words and patterns of a library.
#[derive(Debug)]
pub struct Matcher {
    words: WordIndex,
    set: meta::Regex,
    pattern_terms: Vec<TermId>,
    regexes: Vec<Regex>,
    term_count: usize,
    keys: Vec<TermKey>,
}

impl Matcher {
    pub fn term_count(&self) -> usize {
        self.term_count
    }

    /// The term as written in the library (normalised word, or pattern source).
    pub fn describe(&self, term: TermId) -> &Arc<str> {
        match &self.keys[term.0 as usize] {
            TermKey::Word(w) => w,
            TermKey::Pattern(p) => p,
        }
    }

    /// Finds the first occurrence of every term in `text` (normalised, and split into `words`
    /// by [`split_words`]), appending to `out`: words first, then patterns.
    ///
    /// [`split_words`]: crate::text::split_words
    pub fn find(&self, text: &str, words: &[Word], out: &mut Vec<TermHit>) {
        let bytes = text.as_bytes();
        self.words.find(text, words, out);
        if self.pattern_terms.is_empty() {
            return;
        }
        FOUND.with_borrow_mut(|found| {
            if found.capacity() == self.set.pattern_len() {
                found.clear();
            } else {
                *found = PatternSet::new(self.set.pattern_len());
            }
            self.set
                .which_overlapping_matches(&Input::new(bytes), found);
            for index in found.iter() {
                out.push(TermHit {
                    term: self.pattern_terms[index.as_usize()],
                    start: 0,
                    end: 0,
                    pattern: Some(index.as_u32()),
                });
            }
        });
    }

    /// The byte range of a hit in the normalised `text` it was found in.
    pub fn locate(&self, hit: &TermHit, text: &str) -> (usize, usize) {
        match hit.pattern {
            None => (hit.start, hit.end),
            // The set said this pattern matches, so `find` succeeds; an empty range otherwise.
            Some(index) => self.regexes[index as usize]
                .find(text.as_bytes())
                .map(|m| (m.start(), m.end()))
                .unwrap_or((0, 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(m: &Matcher, text: &str) -> Vec<String> {
        let mut words = Vec::new();
        crate::text::split_words(text, &mut words);
        let mut out = Vec::new();
        m.find(text, &words, &mut out);
        out.iter()
            .map(|h| {
                let (start, end) = m.locate(h, text);
                text[start..end].to_owned()
            })
            .collect()
    }

    #[test]
    fn words_match_whole_words_only() {
        let mut b = MatcherBuilder::default();
        b.word("late");
        let m = b.build().unwrap();
        assert_eq!(hits(&m, "my order is late!"), ["late"]);
        assert!(hits(&m, "chocolate please").is_empty());
        assert!(hits(&m, "lately fine").is_empty());
    }

    #[test]
    fn wildcards_relax_one_boundary() {
        let mut b = MatcherBuilder::default();
        b.word("refund*");
        b.word("*rotto");
        let m = b.build().unwrap();
        assert_eq!(hits(&m, "refunded yet?"), ["refund"]);
        assert_eq!(hits(&m, "e arrivato interrotto"), ["rotto"]);
    }

    #[test]
    fn phrases_and_patterns_report_spans() {
        let mut b = MatcherBuilder::default();
        b.word("still waiting");
        b.pattern(r"where\s+is\s+my\s+\w+");
        let m = b.build().unwrap();
        assert_eq!(
            hits(&m, "still waiting. where is my parcel"),
            ["still waiting", "where is my parcel"]
        );
    }

    #[test]
    fn shared_terms_are_compiled_once() {
        let mut b = MatcherBuilder::default();
        let a = b.word("late");
        let c = b.word("late");
        assert_eq!(a, c);
        assert_eq!(b.build().unwrap().term_count(), 1);
    }
}
