//! Tells English from Italian, to pick which rules read a comment and which language to reply in.
//!
//! Community comments are short and informal, so statistical detectors trained on prose do
//! poorly; counting very common function words works well for a choice between two languages
//! and costs almost nothing.

use crate::rules::Lang;
use crate::text::{word_key, Word, WordTable};

/// The language of a comment and whether the evidence was clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub lang: Lang,
    /// False when there was little or mixed evidence (then rules of every language run).
    pub confident: bool,
}

/// Detects the language of a comment from its words (see [`split_words`]); `fallback` when
/// nothing tells.
///
/// [`split_words`]: crate::text::split_words
pub fn detect(words: &[Word], fallback: Lang) -> Detected {
    let table = table();
    let (mut en, mut it) = (0u32, 0u32);
    for word in words {
        match table.get(word.key) {
            Some(Lang::En) => en += 1,
            Some(Lang::It) => it += 1,
            None => {}
        }
    }
    match en.cmp(&it) {
        std::cmp::Ordering::Greater => Detected {
            lang: Lang::En,
            confident: en >= 2 && en >= 2 * it,
        },
        std::cmp::Ordering::Less => Detected {
            lang: Lang::It,
            confident: it >= 2 && it >= 2 * en,
        },
        std::cmp::Ordering::Equal => Detected {
            lang: fallback,
            confident: false,
        },
    }
}

/// The cue words, keyed by their packed form; built once.
fn table() -> &'static WordTable<Lang> {
    static TABLE: std::sync::OnceLock<WordTable<Lang>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        WordTable::new(
            ENGLISH
                .iter()
                .map(|w| (word_key(w.as_bytes()), Lang::En))
                .chain(ITALIAN.iter().map(|w| (word_key(w.as_bytes()), Lang::It))),
        )
    })
}

// Very common chat words typical of one language only (words shared by both, such as "a",
// "come" or "che", are left out or kept where they are far more frequent). The hash
// table is built once from them.
const ENGLISH: &[&str] = &[
    "about", "again", "all", "an", "and", "any", "anyone", "are", "at", "be", "been", "but", "can",
    "could", "did", "do", "does", "don", "dont", "for", "from", "get", "got", "has", "have",
    "hello", "here", "hey", "hi", "how", "i", "if", "im", "is", "it", "its", "just", "lol", "me",
    "my", "no", "not", "of", "on", "or", "order", "our", "out", "please", "s", "should", "so",
    "still", "t", "thank", "thanks", "that", "the", "there", "they", "this", "to", "u", "up", "ur",
    "us", "was", "we", "were", "what", "when", "where", "who", "why", "will", "with", "would",
    "yet", "you", "your",
];

const ITALIAN: &[&str] = &[
    "abbiamo",
    "agli",
    "ai",
    "al",
    "alla",
    "allora",
    "anche",
    "ancora",
    "bene",
    "brava",
    "bravi",
    "bravo",
    "buongiorno",
    "c",
    "che",
    "chi",
    "ci",
    "ciao",
    "cioe",
    "come",
    "con",
    "cosa",
    "cui",
    "da",
    "dal",
    "dalla",
    "degli",
    "dei",
    "del",
    "della",
    "delle",
    "di",
    "dopo",
    "dov",
    "dove",
    "e",
    "ecco",
    "era",
    "essere",
    "fa",
    "fatto",
    "gia",
    "gli",
    "grazie",
    "ha",
    "hai",
    "hanno",
    "ho",
    "il",
    "io",
    "l",
    "la",
    "le",
    "lei",
    "lo",
    "loro",
    "lui",
    "ma",
    "mi",
    "mia",
    "mio",
    "molto",
    "ne",
    "nel",
    "nella",
    "nessuno",
    "niente",
    "noi",
    "non",
    "ordine",
    "per",
    "perche",
    "pero",
    "piu",
    "po",
    "poi",
    "qualcuno",
    "quale",
    "quando",
    "quanto",
    "quella",
    "quello",
    "questa",
    "questi",
    "questo",
    "qui",
    "salve",
    "sei",
    "sempre",
    "senza",
    "si",
    "siete",
    "solo",
    "sono",
    "stato",
    "sto",
    "sua",
    "sul",
    "sulla",
    "suo",
    "ti",
    "tu",
    "tuo",
    "tutti",
    "tutto",
    "un",
    "una",
    "uno",
    "va",
    "voi",
    "vostro",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{normalize, split_words};

    fn detect_in(text: &str, fallback: Lang) -> Detected {
        let mut words = Vec::new();
        split_words(&normalize(text).text, &mut words);
        detect(&words, fallback)
    }

    fn lang(text: &str) -> Detected {
        detect_in(text, Lang::En)
    }

    #[test]
    fn detects_english_and_italian_chat() {
        assert_eq!(
            lang("where is my order? it's been two weeks").lang,
            Lang::En
        );
        assert_eq!(lang("il mio ordine non è ancora arrivato").lang, Lang::It);
        assert!(lang("perché nessuno mi risponde?").confident);
    }

    #[test]
    fn every_cue_word_is_found_and_belongs_to_one_language() {
        for (words, lang) in [(ENGLISH, Lang::En), (ITALIAN, Lang::It)] {
            for word in words {
                assert_eq!(detect_in(word, Lang::En).lang, lang, "{word}");
            }
        }
        assert!(ENGLISH.iter().all(|w| !ITALIAN.contains(w)));
    }

    #[test]
    fn short_or_unknown_text_falls_back_without_confidence() {
        let d = detect_in("ok 👍", Lang::It);
        assert_eq!(
            d,
            Detected {
                lang: Lang::It,
                confident: false
            }
        );
    }
}
