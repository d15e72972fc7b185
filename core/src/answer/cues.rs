//! What answer detection reads in a message's words: who it is addressed to, whether it asks
//! something, whether it reads like an answer.
//!
//! Everything works on [`normalize`]d text, so "Marco," and "marco," or "perché" and "perche"
//! are the same to the detector, as they are to the rule matcher.

use crate::text::{is_word_byte, normalize, normalize_phrase, tokens};

/// A member's name in the forms people type when they address them.
#[derive(Debug, Clone)]
pub(crate) struct NameForms {
    /// The whole name, normalised ("rick^", "pixelfox1", "marco rossi").
    full: String,
    /// The name without decorations ("rick", "pixelfox", "marco rossi"): what people type
    /// when they shorten a nickname instead of tab-completing it.
    core: String,
}

impl NameForms {
    pub(crate) fn new(name: &str) -> Self {
        let full = normalize_phrase(name);
        let core = core_of(&full).to_owned();
        Self { full, core }
    }
}

/// Shortest shortened name we accept at the start of a message: "al:" could be anyone.
const MIN_SHORT_NAME: usize = 3;

/// Strips nickname decorations: punctuation around it, then trailing digits and underscores
/// ("[[nova]]" → "nova", "lena_" → "lena", "pixelfox1" → "pixelfox").
fn core_of(name: &str) -> &str {
    let trimmed = name.trim_matches(|c: char| !c.is_alphanumeric());
    let stripped = trimmed.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
    let stripped = stripped.trim_end_matches(|c: char| !c.is_alphanumeric());
    if stripped.is_empty() {
        trimmed
    } else {
        stripped
    }
}

/// How a message opens: "nick: ...", "nick, ...", "<nick> ...", "@nick ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prefix<'a> {
    word: &'a str,
    /// `:` or `>` (IRC's addressing conventions) rather than a comma, which prose uses too.
    strong: bool,
    /// Byte offset where the rest of the message starts.
    rest: usize,
}

fn prefix(text: &str) -> Option<Prefix<'_>> {
    let start = text
        .char_indices()
        .find(|&(_, c)| c != '@' && c != '<')
        .map_or(text.len(), |(i, _)| i);
    let body = &text[start..];
    let end = body.find(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | '>'))?;
    let word = &body[..end];
    if word.is_empty() || word.len() > 32 || word.contains('/') {
        return None;
    }
    let mut rest = body[end..].chars();
    let mut sep = rest.next()?;
    let mut sep_len = sep.len_utf8();
    if sep.is_whitespace() {
        // "nick : text" – tolerate one space before the separator.
        sep = rest.next()?;
        sep_len += sep.len_utf8();
    }
    if !matches!(sep, ':' | ',' | '>') {
        return None;
    }
    // "http://..." is a link, not someone called "http".
    if sep == ':' && rest.clone().next() == Some('/') {
        return None;
    }
    Some(Prefix {
        word,
        strong: sep != ',',
        rest: start + end + sep_len,
    })
}

/// Whether `needle` occurs in `hay` with no word character on either side.
fn contains_bounded(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let bytes = hay.as_bytes();
    hay.match_indices(needle).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + needle.len()).copied();
        !before.is_some_and(is_word_byte) && !after.is_some_and(is_word_byte)
    })
}

/// Who a message is addressed to, among the names the channel has recently seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Addressing<K> {
    /// Keys of the known names the message addresses, in the order `known` listed them.
    pub names: Vec<K>,
    /// The message opens with "someone:" but that someone is not a name we know: it is meant
    /// for a person we cannot see, so it must not be credited to anyone's question.
    pub unknown: bool,
}

/// Finds which of `known` (key, name) the normalised `text` addresses.
///
/// A whole name anywhere counts (IRC users write "thanks tom2" or "!factoid | nick"); a shortened
/// name counts only at the start, before `:`, `,` or `>`, where it cannot be an ordinary word.
/// The price of the first rule: a member named like a common word ("cat") is "addressed" by
/// every message using that word; the turn-taking checks downstream limit the damage.
pub(crate) fn addressing<'a, K: Clone + 'a>(
    text: &str,
    known: impl IntoIterator<Item = (&'a K, &'a NameForms)>,
) -> Addressing<K> {
    let opening = prefix(text);
    let short = opening.map(|p| core_of(p.word)).unwrap_or("");
    let mut names = Vec::new();
    for (key, name) in known {
        let whole = contains_bounded(text, &name.full);
        let shortened = short.len() >= MIN_SHORT_NAME && name.core.starts_with(short);
        if whole || shortened {
            names.push(key.clone());
        }
    }
    let unknown = names.is_empty() && opening.is_some_and(|p| p.strong);
    Addressing { names, unknown }
}

/// The message without a leading "nick:" so its first word is the first word of the content.
fn content(text: &str) -> &str {
    match prefix(text) {
        Some(p) => text[p.rest..].trim_start(),
        None => text,
    }
}

/// Number of words in normalised text, to tell a real question from a nudge ("?", "anyone??").
pub(crate) fn word_count(normalized: &str) -> usize {
    tokens(normalized).count()
}

/// Words of a message that only says "I'm still waiting": "anyone?", "hello??", "help pls".
const FILLER_WORDS: &[&str] = &[
    "anyone", "anybody", "someone", "somebody", "any", "one", "here", "there", "hello", "hi",
    "hey", "help", "please", "pls", "plz", "ping", "ideas", "idea", "guys", "people", "ppl",
    "all", // en
    "qualcuno", "ciao", "aiuto", "nessuno", "ragazzi", "raga", // it
];

/// Whether normalised text, past a leading "nick:", holds no word but fillers ("?", "anyone??",
/// "hello? anybody here"): a nudge with nothing in it to answer.
pub(crate) fn is_content_free(normalized: &str) -> bool {
    words(content(normalized)).all(|w| FILLER_WORDS.contains(&w))
}

/// Interrogative openers (English and Italian) that make a question even without "?".
const WH_WORDS: &[&str] = &[
    "how", "what", "where", "why", "when", "who", "whom", "whose", "which", // en
    "come", "cosa", "che", "chi", "dove", "quando", "perche", "quale", "quali", "quanto", "quanti",
    "quanta", "quante", // it
];

/// Auxiliaries that open a yes/no question ("is there...", "can I...", "qualcuno sa...").
/// Negated forms such as "don't" or "can't" are left out: they open complaints as often as
/// questions ("can't get it to work").
const AUX_WORDS: &[&str] = &[
    "is", "are", "am", "was", "were", "can", "could", "do", "does", "did", "should", "would",
    "will", "shall", "has", "have", "had", "may", "might", "must", "isnt", "arent", "doesnt",
    "didnt", "isn't", "aren't", "doesn't", "didn't", "any", "anyone", "anybody", "someone",
    "somebody", // en
    "qualcuno", "sapete", "esiste", // it
];

/// A small interrogative detector: a question mark outside links, or an interrogative opener.
///
/// Chat questions often carry no "?" ("how do i change my nickname"), so the opener matters
/// as much as the mark. The tracker normally learns question-ness from triage; this exists for
/// sources without triage (the evaluation) and to tell answers from counter-questions.
pub fn looks_like_question(text: &str) -> bool {
    is_question(&normalize(text).text)
}

/// [`looks_like_question`] on already [`normalize`]d text.
pub(crate) fn is_question(normalized: &str) -> bool {
    let without_links: String = normalized
        .split(' ')
        .filter(|w| !is_link(w))
        .collect::<Vec<_>>()
        .join(" ");
    if without_links.contains('?') {
        return true;
    }
    let words: Vec<&str> = words(content(&without_links)).collect();
    match words.as_slice() {
        [first, _, ..] if WH_WORDS.contains(first) => true,
        [first, _, _, ..] if AUX_WORDS.contains(first) => true,
        _ => false,
    }
}

/// Whitespace-separated words without surrounding punctuation, keeping inner apostrophes so
/// "can't" stays one word and is not read as "can".
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(' ')
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
}

fn is_link(word: &str) -> bool {
    word.starts_with("http://") || word.starts_with("https://") || word.starts_with("www.")
}

/// Words that open a direct instruction or a short factual reply.
#[rustfmt::skip]
const ANSWER_OPENERS: &[&str] = &[
    // en
    "try", "use", "install", "run", "open", "type", "click", "check", "go", "look", "see",
    "read", "restart", "reboot", "enable", "disable", "set", "edit", "add", "remove", "press",
    "select", "download", "update", "upgrade", "sudo", "apt", "yes", "yeah", "yep", "no", "nope",
    // it
    "prova", "provate", "usa", "usate", "installa", "apri", "clicca", "controlla", "vai",
    "basta", "riavvia", "imposta", "scarica", "aggiorna", "attiva", "disattiva", "premi",
    "cerca", "si",
];

/// Phrases that carry an answer wherever they appear ("you need", "it's in", "devi"), as
/// word sequences ("it's" is the two words "it" and "s").
const ANSWER_PHRASES: &[&[&str]] = &[
    &["you", "need"],
    &["you", "should"],
    &["you", "have", "to"],
    &["you", "must"],
    &["it", "s", "in"],
    &["its", "in"],
    &["it", "is", "in"],
    &["it", "s", "under"],
    &["dovresti"],
    &["devi"],
    &["bisogna"],
    &["prova", "a"],
    &["prova", "con"],
    &["si", "trova"],
];

/// Whether normalised text reads like an answer: an instruction, a pointer, a link, a command
/// or a path. Used only for answers nobody addressed, where the words are the only evidence.
pub(crate) fn is_answer_like(normalized: &str) -> bool {
    let body = content(normalized);
    if body.contains('`') || body.starts_with("$ ") {
        return true;
    }
    if body.split(' ').any(|w| is_link(w) || is_path(w)) {
        return true;
    }
    let words: Vec<&str> = tokens(body).map(|(_, w)| w).collect();
    if words.first().is_some_and(|w| ANSWER_OPENERS.contains(w)) {
        return true;
    }
    ANSWER_PHRASES
        .iter()
        .any(|phrase| words.windows(phrase.len()).any(|window| window == *phrase))
}

/// "/etc/fstab", "~/.bashrc": a file path, which in a help channel is an answer's payload.
fn is_path(word: &str) -> bool {
    let rest = word
        .strip_prefix("~/")
        .or_else(|| word.strip_prefix('/'))
        .unwrap_or("");
    rest.len() > 1
        && rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '.')
        && (word.starts_with('~') || rest.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(names: &[&str]) -> Vec<(String, NameForms)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), NameForms::new(n)))
            .collect()
    }

    fn addressed(text: &str, names: &[&str]) -> Addressing<String> {
        let known = known(names);
        addressing(&normalize(text).text, known.iter().map(|(k, n)| (k, n)))
    }

    #[test]
    fn finds_irc_style_and_shortened_names() {
        let names = ["Rick^", "PixelFox1", "Marco Rossi", "bob"];
        assert_eq!(addressed("rick: try this", &names).names, ["Rick^"]);
        assert_eq!(addressed("pixelfox, thanks", &names).names, ["PixelFox1"]);
        assert_eq!(
            addressed("Marco, prova a riavviare", &names).names,
            ["Marco Rossi"]
        );
        assert_eq!(addressed("thanks bob!", &names).names, ["bob"]);
        assert_eq!(addressed("<bob> did you reboot?", &names).names, ["bob"]);
        // A shortened name only counts where people address someone, not in running text.
        assert!(addressed("I like rick's idea", &names).names.is_empty());
        assert!(addressed("bobby tables", &names).names.is_empty());
    }

    #[test]
    fn a_colon_prefix_to_a_stranger_is_addressed_elsewhere() {
        let a = addressed("zed: no idea", &["bob"]);
        assert!(a.names.is_empty() && a.unknown);
        // Commas open ordinary sentences, links have colons: neither means a stranger.
        assert!(!addressed("well, try rebooting", &["bob"]).unknown);
        assert!(!addressed("https://example.org", &["bob"]).unknown);
    }

    #[test]
    fn detects_questions_with_and_without_question_marks() {
        assert!(looks_like_question("how do i change my nickname"));
        assert!(looks_like_question("bob: is there a package for that"));
        assert!(looks_like_question("perché il bot non risponde"));
        assert!(looks_like_question("qualcuno sa come si fa"));
        assert!(looks_like_question("works now?"));
        assert!(!looks_like_question("see https://example.org/?q=1"));
        assert!(!looks_like_question("can't get it to work"));
        assert!(!looks_like_question("thanks, that fixed it"));
    }

    #[test]
    fn tells_empty_nudges_from_short_questions() {
        for empty in [
            "?",
            "???",
            "anyone?",
            "hello?? anybody here",
            "bob: ?",
            "qualcuno?",
        ] {
            assert!(is_content_free(&normalize(empty).text), "{empty}");
        }
        for real in [
            "why?",
            "which version?",
            "bob: and then?",
            "anyone using kde?",
        ] {
            assert!(!is_content_free(&normalize(real).text), "{real}");
        }
    }

    fn looks_like_answer(text: &str) -> bool {
        is_answer_like(&normalize(text).text)
    }

    #[test]
    fn recognises_answer_like_content() {
        assert!(looks_like_answer("try sudo apt-get install vlc"));
        assert!(looks_like_answer("you need the restricted drivers"));
        assert!(looks_like_answer("it's in System > Preferences"));
        assert!(looks_like_answer("edit /etc/fstab"));
        assert!(looks_like_answer("prova a riavviare il router"));
        assert!(looks_like_answer("devi aggiornare il client"));
        assert!(!looks_like_answer("lol same here"));
        assert!(!looks_like_answer("I have the same problem"));
    }
}
