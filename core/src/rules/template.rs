//! Reply templates: several wordings per language, with placeholders filled at draft time.
//!
//! A wording is parsed once at load into literal text and placeholder slots, so an unknown
//! placeholder is a load error (with its position) instead of a surprise in front of a member.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Lang, TemplateId};
use crate::text::cut_chars;

/// The longest reply a template may produce, in characters: the smallest message limit of
/// the platforms replies are posted on (Discord's 2,000), so a draft posts anywhere uncut.
pub const REPLY_MAX_CHARS: usize = 2000;

/// Placeholders every template may use, filled from the comment and the moderator.
pub const BUILTIN_PLACEHOLDERS: [&str; 4] = ["author", "channel", "moderator", "match"];

/// The longest value each built-in placeholder can take, for the length check at load.
pub fn builtin_max_len(name: &str) -> usize {
    match name {
        // Discord display names are at most 32 characters, channel names 100.
        "author" | "moderator" => 32,
        "channel" => 100,
        "match" => MATCH_MAX_CHARS,
        _ => 0,
    }
}

/// Matched text quoted back in a reply is cut to this many characters.
pub const MATCH_MAX_CHARS: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot(String),
}

/// One way of saying a template's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording {
    pieces: Vec<Piece>,
}

/// Why a wording could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder `{{{name}}}` at character {position}")]
    UnknownPlaceholder { name: String, position: usize },
    #[error("unclosed `{{` at character {position} (write `{{{{` for a literal brace)")]
    Unclosed { position: usize },
    #[error("stray `}}` at character {position} (write `}}}}` for a literal brace)")]
    Stray { position: usize },
}

impl Wording {
    /// Parses `{name}` slots; `{{` and `}}` are literal braces.
    pub fn parse(source: &str, known: &BTreeSet<String>) -> Result<Wording, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.chars().enumerate().peekable();
        while let Some((pos, ch)) = chars.next() {
            match ch {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed { position: pos + 1 });
                    }
                    let name = name.trim().to_owned();
                    if !known.contains(&name) {
                        return Err(TemplateError::UnknownPlaceholder {
                            name,
                            position: pos + 1,
                        });
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Slot(name));
                }
                '}' => return Err(TemplateError::Stray { position: pos + 1 }),
                _ => text.push(ch),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Wording { pieces })
    }

    /// The longest this wording can render to, in characters, given the configured values.
    pub fn max_chars(&self, values: &BTreeMap<String, String>) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.chars().count(),
                Piece::Slot(name) => values
                    .get(name)
                    .map(|v| v.chars().count())
                    .unwrap_or_else(|| builtin_max_len(name)),
            })
            .sum()
    }

    /// Fills the slots. Values taken from members are defused so they can never ping anyone.
    pub fn render(&self, values: &Placeholders<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Slot(name) => {
                    let mut value = defuse_mentions(&values.get(name));
                    // `{moderator}` may be a common noun ("the team") until someone approves;
                    // at the start of a sentence it must read as one.
                    if name == "moderator" && starts_sentence(&out) {
                        value = capitalize(&value);
                    }
                    out.push_str(&value);
                }
            }
        }
        out
    }
}

fn starts_sentence(before: &str) -> bool {
    let trimmed = before.trim_end();
    trimmed.is_empty() || trimmed.ends_with(['.', '!', '?', ':', '\n'])
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Inserts a zero-width space after `@` so text copied from a comment cannot mention anyone.
pub fn defuse_mentions(text: &str) -> String {
    text.replace('@', "@\u{200B}")
}

/// The values a draft is filled with.
#[derive(Debug, Clone)]
pub struct Placeholders<'a> {
    pub author: &'a str,
    pub channel: &'a str,
    pub moderator: &'a str,
    pub matched: &'a str,
    pub values: &'a BTreeMap<String, String>,
}

impl Placeholders<'_> {
    fn get(&self, name: &str) -> String {
        match name {
            "author" => self.author.to_owned(),
            "channel" => self.channel.to_owned(),
            "moderator" => self.moderator.to_owned(),
            "match" => cut_chars(self.matched, MATCH_MAX_CHARS),
            other => self.values.get(other).cloned().unwrap_or_default(),
        }
    }
}

/// A reply template: for each language, one or more wordings.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: TemplateId,
    pub description: String,
    pub wordings: HashMap<Lang, Vec<Wording>>,
}

impl Template {
    /// The wordings in `lang`; every loaded template has at least one per language.
    pub fn wordings(&self, lang: Lang) -> &[Wording] {
        self.wordings.get(&lang).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<String> {
        ["author", "match", "support_url"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn renders_placeholders_and_literal_braces() {
        let w = Wording::parse("Hi {author}, see {support_url} {{ok}}", &known()).unwrap();
        let values = BTreeMap::from([("support_url".to_owned(), "https://x.test".to_owned())]);
        let p = Placeholders {
            author: "Nora",
            channel: "general",
            moderator: "Mia",
            matched: "late",
            values: &values,
        };
        assert_eq!(w.render(&p), "Hi Nora, see https://x.test {ok}");
    }

    #[test]
    fn unknown_placeholder_names_its_position() {
        let err = Wording::parse("Hello {autor}!", &known()).unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholder {
                name: "autor".into(),
                position: 7
            }
        );
    }

    #[test]
    fn member_text_in_a_draft_cannot_ping() {
        let w = Wording::parse("You said: {match}", &known()).unwrap();
        let values = BTreeMap::new();
        let p = Placeholders {
            author: "x",
            channel: "c",
            moderator: "m",
            matched: "@everyone look",
            values: &values,
        };
        assert!(!w.render(&p).contains("@everyone"));
    }

    #[test]
    fn a_moderator_fallback_starting_a_sentence_is_capitalised() {
        let known = BTreeSet::from(["moderator".to_owned()]);
        let w = Wording::parse("Sorry. {moderator} will help, or DM {moderator}.", &known).unwrap();
        let values = BTreeMap::new();
        let p = Placeholders {
            author: "a",
            channel: "c",
            moderator: "the team",
            matched: "",
            values: &values,
        };
        assert_eq!(w.render(&p), "Sorry. The team will help, or DM the team.");
    }

    #[test]
    fn max_chars_counts_worst_case_values() {
        let w = Wording::parse("{author}{support_url}", &known()).unwrap();
        let values = BTreeMap::from([("support_url".to_owned(), "abc".to_owned())]);
        assert_eq!(w.max_chars(&values), 32 + 3);
    }
}
