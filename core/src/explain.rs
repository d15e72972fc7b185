//! A verdict worded for people: the one explanation `rules test`, `/ascolto test`, the
//! moderators' alert and `eval --explain` all show, so a rule reads the same everywhere.

use std::fmt::Write;

use crate::draft::Draft;
use crate::triage::{RuleMatch, Verdict};

/// One fired rule as people read it: `rule (topic): "word", "word"`, with at most `words`
/// pieces of evidence.
pub fn why(m: &RuleMatch, words: usize) -> String {
    let topic = m
        .topic
        .as_ref()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    let matched: Vec<String> = m
        .evidence
        .iter()
        .take(words)
        .map(|e| format!("\"{}\"", e.text))
        .collect();
    format!("{}{topic}: {}", m.rule, matched.join(", "))
}

/// [`why`] for every rule that fired, strongest first.
pub fn why_lines(verdict: &Verdict, words: usize) -> Vec<String> {
    verdict.matches.iter().map(|m| why(m, words)).collect()
}

/// The whole story of a verdict: language, labels with scores, every rule with its matched
/// spans and weights, the labels other rules cancelled, and the draft.
pub fn report(verdict: &Verdict, draft: Option<&Draft>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "language: {}", verdict.language_text());
    let _ = writeln!(out, "labels: {}", verdict.scores_text());
    let _ = writeln!(
        out,
        "needs reply: {}",
        if verdict.needs_reply() { "yes" } else { "no" }
    );
    for m in &verdict.matches {
        let labels: Vec<&str> = m.labels.iter().map(|l| l.as_str()).collect();
        let _ = writeln!(
            out,
            "rule {} [{}] priority {} severity {}",
            m.rule,
            labels.join(","),
            m.priority,
            m.severity
        );
        for e in &m.evidence {
            let weight = e
                .weight
                .map(|w| format!(" weight {w:+.2}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    \"{}\" at {}..{} (term `{}`){weight}",
                e.text, e.span.start, e.span.end, e.term
            );
        }
    }
    for (label, rule) in &verdict.suppressed {
        let _ = writeln!(out, "suppressed: {label} (by {rule})");
    }
    match draft {
        Some(d) => {
            let _ = writeln!(
                out,
                "draft ({}, template {}, wording {}):\n{}",
                d.lang,
                d.template,
                d.wording + 1,
                d.text
            );
        }
        None => out.push_str("draft: none\n"),
    }
    out
}
