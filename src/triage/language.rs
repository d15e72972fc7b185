//! Tells English from Italian, to pick which rules read a comment and which language to reply in.
//!
//! Community comments are short and informal, so statistical detectors trained on prose do
//! poorly; counting very common function words works well for a choice between two languages
//! and costs almost nothing.

use crate::rules::Lang;
use crate::text::tokens;

/// The language of a comment and whether the evidence was clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub lang: Lang,
    /// False when there was little or mixed evidence (then rules of every language run).
    pub confident: bool,
}

/// Detects the language of normalised text; `fallback` when nothing tells.
pub fn detect(normalized: &str, fallback: Lang) -> Detected {
    let (mut en, mut it) = (0u32, 0u32);
    for (_, token) in tokens(normalized) {
        match vote(token) {
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

/// Which language a very common word belongs to, if it is typical of only one of them.
fn vote(token: &str) -> Option<Lang> {
    // Words common to both (e.g. "a", "no", "come", "che"?) are left out or kept on the side
    // where they are far more frequent in chat.
    match token {
        "the" | "and" | "is" | "are" | "was" | "were" | "you" | "your" | "my" | "to" | "of"
        | "it" | "this" | "that" | "what" | "how" | "why" | "where" | "when" | "who" | "can"
        | "do" | "does" | "did" | "have" | "has" | "not" | "with" | "for" | "on" | "at" | "be"
        | "been" | "will" | "would" | "could" | "should" | "there" | "they" | "we" | "me" | "i"
        | "im" | "dont" | "don" | "t" | "s" | "just" | "get" | "got" | "any" | "anyone"
        | "still" | "from" | "thanks" | "thank" | "please" | "hi" | "hello" | "order" | "but"
        | "if" | "so" | "about" | "all" | "yet" | "again" | "out" | "up" | "an" | "or" | "no"
        | "its" | "our" | "us" | "hey" | "lol" | "u" | "ur" | "here" => Some(Lang::En),
        "il" | "lo" | "la" | "gli" | "le" | "di" | "da" | "del" | "della" | "dei" | "delle"
        | "che" | "e" | "non" | "per" | "sono" | "ho" | "hai" | "ha" | "abbiamo" | "mi" | "ti"
        | "ci" | "si" | "un" | "una" | "uno" | "con" | "come" | "cosa" | "perche" | "dove"
        | "quando" | "chi" | "quale" | "quanto" | "mio" | "mia" | "tuo" | "vostro" | "ancora"
        | "grazie" | "ciao" | "buongiorno" | "salve" | "sei" | "siete" | "questo" | "questa"
        | "nel" | "nella" | "al" | "alla" | "ma" | "anche" | "piu" | "gia" | "qui" | "solo"
        | "ordine" | "sempre" | "niente" | "nessuno" | "qualcuno" | "voi" | "io" | "tu" | "lui"
        | "lei" | "noi" | "loro" | "molto" | "tutto" | "tutti" | "poi" | "dov" | "c" | "l"
        | "po" | "fatto" | "essere" | "stato" | "sto" | "fa" | "va" | "bene" | "bravo"
        | "brava" | "bravi" | "questi" | "quello" | "quella" | "cui" | "ne" | "sua" | "suo"
        | "hanno" | "era" | "allora" | "ecco" | "dopo" | "senza" | "sul" | "sulla" | "degli"
        | "agli" | "ai" | "dal" | "dalla" | "pero" | "cioe" => Some(Lang::It),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    fn lang(text: &str) -> Detected {
        detect(&normalize(text).text, Lang::En)
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
    fn short_or_unknown_text_falls_back_without_confidence() {
        let d = detect(&normalize("ok 👍").text, Lang::It);
        assert_eq!(
            d,
            Detected {
                lang: Lang::It,
                confident: false
            }
        );
    }
}
