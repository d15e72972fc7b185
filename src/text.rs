//! Text normalisation shared by the rule loader and the matcher.
//!
//! Rules are written once and must match however members type: upper or lower case, with or
//! without accents ("perché", "perche", "perchè"), with curly or straight apostrophes, with
//! extra spaces. Both the comment and every word in the library go through [`normalize`], so a
//! word list entry matches the same text regardless of those variations, and a pattern can be
//! written in plain lowercase ASCII.

/// A comment's text after normalisation, with a map back to the original for explanations.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// Lowercase, accent-folded text with runs of white space collapsed to one space.
    pub text: String,
    /// For each byte of `text` (and one past the end), the byte offset in the original text.
    offsets: Vec<u32>,
}

impl Normalized {
    /// Maps a byte range of the normalised text back to the original text.
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let start = self.offsets[start] as usize;
        let end = if end == 0 {
            0
        } else {
            // The end of the last byte we kept, so multi-byte originals stay whole.
            self.offsets[end].max(self.offsets[end - 1] + 1) as usize
        };
        (start, end.max(start))
    }
}

/// Lowercases, folds accents and apostrophes, and collapses white space.
pub fn normalize(original: &str) -> Normalized {
    let mut text: Vec<u8> = Vec::with_capacity(original.len() + 8);
    let mut offsets: Vec<u32> = Vec::with_capacity(original.len() + 9);
    let mut last_space = true;
    let bytes = original.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let byte = bytes[pos];
        // ASCII is most of what members type: one table look-up per byte, no decoding.
        if byte.is_ascii() {
            let out = ASCII_FOLD[byte as usize];
            if out != b' ' || !last_space {
                text.push(out);
                offsets.push(pos as u32);
            }
            last_space = out == b' ';
            pos += 1;
            continue;
        }
        let ch = original[pos..]
            .chars()
            .next()
            .expect("pos is on a char boundary");
        if ch.is_whitespace() {
            if !last_space {
                text.push(b' ');
                offsets.push(pos as u32);
                last_space = true;
            }
        } else {
            last_space = false;
            let mut buf = [0u8; 4];
            for folded in fold(ch) {
                let encoded = folded.encode_utf8(&mut buf).as_bytes();
                text.extend_from_slice(encoded);
                offsets.extend(std::iter::repeat_n(pos as u32, encoded.len()));
            }
        }
        pos += ch.len_utf8();
    }
    let mut text = String::from_utf8(text).expect("only whole characters are pushed");
    // Trailing space is noise for phrase matching.
    if text.ends_with(' ') {
        text.pop();
        offsets.pop();
    }
    let end = original.len() as u32;
    offsets.push(end);
    // A collapsed trailing space means the last offset entry must still point past the text.
    Normalized { text, offsets }
}

/// Normalises a word or phrase from the rule library the same way as comment text.
pub fn normalize_phrase(phrase: &str) -> String {
    normalize(phrase.trim()).text
}

/// ASCII after folding: lowercase letters, white space as a plain space, backtick as an apostrophe.
const ASCII_FOLD: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        table[i] = if b.is_ascii_whitespace() {
            b' '
        } else if b == b'`' {
            b'\''
        } else {
            b.to_ascii_lowercase()
        };
        i += 1;
    }
    table
};

/// One character's lowercase, accent-free form (usually one char, sometimes none or two).
fn fold(ch: char) -> impl Iterator<Item = char> {
    let mapped: Option<char> = match ch {
        'A'..='Z' => Some(ch.to_ascii_lowercase()),
        'a'..='z' | '0'..='9' => Some(ch),
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' | '\u{00B4}' => Some('\''),
        '\u{201C}' | '\u{201D}' | '\u{00AB}' | '\u{00BB}' => Some('"'),
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => {
            Some('a')
        }
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => Some('e'),
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => Some('i'),
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => Some('o'),
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => Some('u'),
        'ç' | 'Ç' => Some('c'),
        'ñ' | 'Ñ' => Some('n'),
        _ if ch.is_ascii() => Some(ch),
        _ => None,
    };
    let mut lower = None;
    if mapped.is_none() {
        lower = Some(ch.to_lowercase());
    }
    mapped.into_iter().chain(lower.into_iter().flatten())
}

/// Whether a byte of normalised text is part of a word (for whole-word matching).
pub fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// Splits normalised text into word tokens with their byte ranges.
pub fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < bytes.len() && !is_word_byte(bytes[pos]) {
            pos += 1;
        }
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        while pos < bytes.len() && is_word_byte(bytes[pos]) {
            pos += 1;
        }
        Some((start, &text[start..pos]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_apostrophes_and_spaces() {
        let n = normalize("  Perché   l’ordine È  IN RITARDO?  ");
        assert_eq!(n.text, "perche l'ordine e in ritardo?");
    }

    #[test]
    fn maps_normalized_ranges_back_to_the_original() {
        let original = "Ciao, perché NON arriva?";
        let n = normalize(original);
        let start = n.text.find("perche").unwrap();
        let (s, e) = n.original_range(start, start + "perche".len());
        assert_eq!(&original[s..e], "perché");
        let start = n.text.find("non arriva").unwrap();
        let (s, e) = n.original_range(start, start + "non arriva".len());
        assert_eq!(&original[s..e], "NON arriva");
    }

    #[test]
    fn keeps_emoji_as_non_ascii_text() {
        let n = normalize("Great 👍");
        assert_eq!(n.text, "great 👍");
        let (s, e) = n.original_range(6, n.text.len());
        assert_eq!(&"Great 👍"[s..e], "👍");
    }

    #[test]
    fn splits_tokens_on_punctuation_and_apostrophes() {
        let toks: Vec<_> = tokens("dov'e il mio ordine?").map(|(_, t)| t).collect();
        assert_eq!(toks, ["dov", "e", "il", "mio", "ordine"]);
    }
}
