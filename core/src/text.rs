//! Text normalisation shared by the rule loader and the matcher.
//!
//! Rules are written once and must match however members type: upper or lower case, with or
//! without accents ("perché", "perche", "perchè"), with curly or straight apostrophes, with
//! extra spaces, with or without stretched letters ("odiooooo", "sooo bad"). Both the comment
//! and every word in the library go through [`normalize`], so a word list entry matches the same
//! text regardless of those variations, and a pattern can be written in plain lowercase ASCII.

/// A comment's text after normalisation, with a map back to the original for explanations.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// Lowercase, accent-folded text with runs of white space collapsed to one space and
    /// stretched letters (three or more in a row) collapsed to one.
    pub text: String,
    /// Where the map from `text` back to the original is not "next byte, next byte": pairs of
    /// (byte of `text`, its byte in the original), in order. Each following byte of `text` maps
    /// to the byte after. Plain ASCII with single spaces, most comments, needs no entry.
    jumps: Vec<(u32, u32)>,
}

impl Normalized {
    /// The byte of the original text that byte `at` of `text` came from (`text.len()` maps
    /// to the end of the original).
    fn original_offset(&self, at: usize) -> usize {
        let at = at as u32;
        let index = self.jumps.partition_point(|(from, _)| *from <= at);
        match index.checked_sub(1) {
            Some(i) => {
                let (from, to) = self.jumps[i];
                (to + (at - from)) as usize
            }
            None => at as usize,
        }
    }

    /// Maps a byte range of the normalised text back to the original text.
    ///
    /// Both ends are character boundaries of the original, so the range can always be sliced:
    /// a range that starts or ends inside what one original character became takes that
    /// character whole. That happens when lowercasing makes two characters of one ("İ" is "i"
    /// and a combining dot, and a match may end between them), and when a byte-level pattern
    /// stops inside a multi-byte character.
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let len = self.text.len();
        let (start, end) = (start.min(len), end.min(len));
        let start_at = self.original_offset(start);
        if end <= start {
            return (start_at, start_at);
        }
        (start_at, self.original_end(end).max(start_at))
    }

    /// Where in the original a range of `text` ending at byte `end` (not 0) ends: after the
    /// original character its last byte came from.
    fn original_end(&self, end: usize) -> usize {
        let last = self.original_offset(end - 1);
        let at = self.original_offset(end);
        if at > last {
            return at;
        }
        // `end` falls among the bytes one original character became, which all map to its
        // start. The first byte after them maps to where the next kept character starts, or,
        // past the end of `text`, to the end of the original: the same end a range stopping
        // right after the character gets. Offsets never decrease, so search for that byte.
        let (mut low, mut high) = (end + 1, self.text.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if self.original_offset(mid) > last {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        self.original_offset(low)
    }
}

/// Builds normalised text and its jumps back to the original.
struct Writer {
    text: Vec<u8>,
    jumps: Vec<(u32, u32)>,
    /// The original offset the next byte maps to when there is no jump.
    next: u32,
}

impl Writer {
    /// Appends bytes copied unchanged from the original text, starting at byte `original`.
    fn push_run(&mut self, run: &[u8], original: usize) {
        let original = original as u32;
        if original != self.next {
            self.jumps.push((self.text.len() as u32, original));
        }
        self.next = original + run.len() as u32;
        self.text.extend_from_slice(run);
    }

    /// Appends a byte that came from byte `original` of the original text.
    fn push(&mut self, byte: u8, original: usize) {
        self.push_run(&[byte], original);
    }
}

/// Whether the ASCII letter at `pos` starts a stretch: the same letter (in either case) three
/// or more times in a row, as chat writes emphasis ("odiooooo", "LADRIIII", "sooo").
///
/// No word of English or Italian has a letter three times in a row, so the stretch is always
/// one letter (or an intended double, which the rules list anyway) drawn out: normalised to
/// one letter, "vi odiooooo" matches "odio" and "nooo" matches "no". Digits are numbers, not
/// emphasis ("1000"), and `w` is left alone for the web's "www".
fn stretched_at(bytes: &[u8], pos: usize) -> bool {
    let letter = bytes[pos].to_ascii_lowercase();
    if !letter.is_ascii_lowercase() || letter == b'w' {
        return false;
    }
    bytes.len() > pos + 2
        && bytes[pos + 1].to_ascii_lowercase() == letter
        && bytes[pos + 2].to_ascii_lowercase() == letter
}

/// Lowercases, folds accents and apostrophes, collapses white space and stretched letters.
pub fn normalize(original: &str) -> Normalized {
    let mut w = Writer {
        text: Vec::with_capacity(original.len() + 8),
        jumps: Vec::new(),
        next: 0,
    };
    let mut last_space = true;
    let bytes = original.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let byte = bytes[pos];
        // Most of what members type is already lowercase ASCII with single spaces: such runs
        // are copied whole.
        if KEPT_AS_IS[byte as usize] && !stretched_at(bytes, pos) {
            let start = pos;
            let mut space = false;
            while pos < bytes.len() {
                let next = bytes[pos];
                if KEPT_AS_IS[next as usize] && !stretched_at(bytes, pos) {
                    space = false;
                } else if next == b' ' && !space {
                    space = true;
                } else {
                    break;
                }
                pos += 1;
            }
            // A space ending the run is left for the general case below, which collapses
            // what follows it.
            if space {
                pos -= 1;
            }
            w.push_run(&bytes[start..pos], start);
            last_space = false;
            continue;
        }
        // Other ASCII: one table look-up per byte, no decoding.
        if byte.is_ascii() {
            let out = ASCII_FOLD[byte as usize];
            if out != b' ' || !last_space {
                w.push(out, pos);
            }
            last_space = out == b' ';
            if stretched_at(bytes, pos) {
                // One letter stands for the whole stretch; the rest maps to nothing.
                while pos < bytes.len() && bytes[pos].to_ascii_lowercase() == out {
                    pos += 1;
                }
            } else {
                pos += 1;
            }
            continue;
        }
        let ch = original[pos..]
            .chars()
            .next()
            .expect("pos is on a char boundary");
        if ch.is_whitespace() {
            if !last_space {
                w.push(b' ', pos);
                last_space = true;
            }
        } else if ch == '\u{2026}' {
            // Phones type "..." as one character; read it as the three dots people mean, so
            // the word before it stays a word ("again…") and it ends a clause as "..." does.
            for _ in 0..3 {
                w.push(b'.', pos);
            }
            last_space = false;
        } else if is_symbol(ch) {
            // An emoji or symbol is a word of its own, not part of the word it touches:
            // "love it😍" reads "love it 😍", so "it" still matches.
            if !last_space {
                w.push(b' ', pos);
            }
            let mut buf = [0u8; 4];
            for &b in ch.encode_utf8(&mut buf).as_bytes() {
                w.push(b, pos);
            }
            w.push(b' ', pos);
            last_space = true;
        } else {
            last_space = false;
            let mut buf = [0u8; 4];
            for folded in fold(ch) {
                // Every byte of a folded character maps to the character's start.
                for &b in folded.encode_utf8(&mut buf).as_bytes() {
                    w.push(b, pos);
                }
            }
        }
        pos += ch.len_utf8();
    }
    // Trailing space is noise for phrase matching.
    if w.text.last() == Some(&b' ') {
        w.text.pop();
        let len = w.text.len() as u32;
        if w.jumps.last().is_some_and(|(from, _)| *from == len) {
            w.jumps.pop();
        }
    }
    let mut normalized = Normalized {
        text: String::from_utf8(w.text).expect("only whole characters are pushed"),
        jumps: w.jumps,
    };
    // One past the end maps to the end of the original.
    let len = normalized.text.len();
    if normalized.original_offset(len) != original.len() {
        normalized.jumps.push((len as u32, original.len() as u32));
    }
    normalized
}

/// Normalises a word or phrase from the rule library the same way as comment text.
pub fn normalize_phrase(phrase: &str) -> String {
    normalize(phrase.trim()).text
}

/// ASCII bytes normalisation keeps unchanged: all but capitals, white space and backticks.
const KEPT_AS_IS: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 128 {
        table[i] = ASCII_FOLD[i] == i as u8 && ASCII_FOLD[i] != b' ';
        i += 1;
    }
    table
};

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

/// Emoji, pictographs, arrows, dingbats and the other symbol blocks (and the joiners and
/// variation selectors emoji are built with): never letters of a word in any language.
fn is_symbol(ch: char) -> bool {
    matches!(ch,
        '\u{2010}'..='\u{2015}' // dashes
        | '\u{2020}'..='\u{2027}' // daggers, bullets, leaders
        | '\u{2030}'..='\u{205E}' // per mille, primes, reference marks
        | '\u{200D}' // zero-width joiner
        | '\u{20A0}'..='\u{20CF}' // currency
        | '\u{2100}'..='\u{2BFF}' // letterlike, arrows, maths, technical, boxes, dingbats
        | '\u{3000}'..='\u{303F}' // CJK punctuation
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{1F000}'..='\u{1FAFF}' // emoji and pictographs
        | '\u{E0020}'..='\u{E007F}' // tag characters of flag sequences
    )
}

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
    WORD_BYTES[byte as usize]
}

/// Letters, digits, `_` and every byte of a non-ASCII character: asked for every byte of
/// every comment, so a table look-up.
const WORD_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
        i += 1;
    }
    table
};

/// A small set of single words (negators, intensifiers) that triage looks tokens up in.
///
/// Looked up for every weighted word of every comment, so words are compared by their
/// [`word_key`]; only words longer than 15 bytes (whose keys are hashes) are compared as text.
#[derive(Debug, Clone, Default)]
pub struct WordSet {
    keys: Vec<u128>,
    long: Vec<String>,
}

impl WordSet {
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> WordSet {
        let mut set = WordSet::default();
        for word in words {
            let word = word.as_ref();
            set.keys.push(word_key(word.as_bytes()));
            if word.len() > PACKED_MAX {
                set.long.push(word.to_owned());
            }
        }
        set.keys.sort_unstable();
        set.keys.dedup();
        set
    }

    pub fn contains(&self, word: &str) -> bool {
        self.contains_key(word_key(word.as_bytes()), word.as_bytes())
    }

    /// Whether `word`, whose [`word_key`] is `key`, is in the set.
    pub fn contains_key(&self, key: u128, word: &[u8]) -> bool {
        self.keys.binary_search(&key).is_ok()
            && (word.len() <= PACKED_MAX || self.long.iter().any(|w| w.as_bytes() == word))
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The longest word [`word_key`] packs whole.
pub const PACKED_MAX: usize = 15;

/// A number standing for a word, so words are compared and hashed as one integer.
///
/// Words of up to 15 bytes (nearly all) are packed with their length: equal keys mean equal
/// words. Longer words are hashed, with a last byte no packed key has, so a long word never
/// takes a short word's key; two long words may share one, and callers compare their text.
pub fn word_key(word: &[u8]) -> u128 {
    if word.len() > PACKED_MAX {
        let hash = |seed: u64| {
            word.iter()
                .fold(seed, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
        };
        let high = (hash(0x9e37_79b9_7f4a_7c15) as u128) << 64;
        let key = high | hash(0xcbf2_9ce4_8422_2325) as u128;
        return key | (0xff_u128 << 120);
    }
    bytes_at(word, 0, word.len()) | ((word.len() as u128) << 120)
}

/// The [`word_key`] of `text[start..start + len]`.
#[inline]
pub fn key_at(text: &[u8], start: usize, len: usize) -> u128 {
    if !(1..=PACKED_MAX).contains(&len) {
        return word_key(&text[start..start + len]);
    }
    bytes_at(text, start, len) | ((len as u128) << 120)
}

/// The `len` bytes of `text` from `start` (at most 16, all inside `text`) as one little-endian
/// number, zero above them.
///
/// Asked for every word of every comment: when 16 bytes of text follow `start`, or precede
/// the end, the bytes are read with one load and a mask or shift, not copied byte by byte
/// into a buffer and read back.
#[inline]
pub fn bytes_at(text: &[u8], start: usize, len: usize) -> u128 {
    let load = |from: usize| {
        let chunk: [u8; 16] = text[from..from + 16].try_into().expect("16 bytes");
        u128::from_le_bytes(chunk)
    };
    let end = start + len;
    assert!(len <= 16 && end <= text.len(), "{len} bytes from {start}");
    if len == 0 {
        0
    } else if start + 16 <= text.len() {
        load(start) & (u128::MAX >> (128 - 8 * len))
    } else if end >= 16 {
        load(end - 16) >> (8 * (16 - len))
    } else {
        text[start..end]
            .iter()
            .rev()
            .fold(0, |packed, &b| (packed << 8) | b as u128)
    }
}

/// A word of normalised text (a maximal run of word bytes) with its [`word_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    pub start: u32,
    pub end: u32,
    pub key: u128,
}

impl Word {
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// Splits normalised text into its words, replacing the contents of `out`.
///
/// Triage splits each comment once and every stage after (language, word lists, negation)
/// reads these words, so this is the only pass over the text that looks at word boundaries.
pub fn split_words(text: &str, out: &mut Vec<Word>) {
    out.clear();
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        if !is_word_byte(bytes[pos]) {
            pos += 1;
            continue;
        }
        let start = pos;
        while pos < bytes.len() && is_word_byte(bytes[pos]) {
            pos += 1;
        }
        out.push(Word {
            start: start as u32,
            end: pos as u32,
            key: key_at(bytes, start, pos - start),
        });
    }
}

/// A hash table from [`word_key`]s (or keys derived from them) to small values, built once.
///
/// Looked up for every word of every comment, and most words are not in it: a bit filter
/// small enough to stay in the processor's nearest cache answers most look-ups before the
/// table (open addressing over one flat array) is touched.
#[derive(Debug, Clone)]
pub struct WordTable<V> {
    slots: Vec<(u128, Option<V>)>,
    shift: u32,
    filter: Vec<u64>,
}

impl<V: Copy> WordTable<V> {
    /// A table of `entries`; a key given twice keeps its last value.
    pub fn new(entries: impl IntoIterator<Item = (u128, V)>) -> WordTable<V> {
        let entries: Vec<(u128, V)> = entries.into_iter().collect();
        // At most half full, so probes stay short; 16 filter bits per key, so few false hits.
        let bits = (entries.len() * 2)
            .max(16)
            .next_power_of_two()
            .trailing_zeros();
        let mut table = WordTable {
            slots: vec![(0, None); 1 << bits],
            shift: 64 - bits,
            filter: vec![0; (entries.len() * 16).max(64).next_power_of_two() / 64],
        };
        for (key, value) in entries {
            let mixed = mix(key);
            let bit = table.filter_bit(mixed);
            table.filter[bit / 64] |= 1 << (bit % 64);
            let mut slot = (mixed >> table.shift) as usize;
            while table.slots[slot].1.is_some() && table.slots[slot].0 != key {
                slot = (slot + 1) & (table.slots.len() - 1);
            }
            table.slots[slot] = (key, Some(value));
        }
        table
    }

    /// The filter bit of a key: from the middle of its mix, apart from the slot's top bits.
    fn filter_bit(&self, mixed: u64) -> usize {
        (mixed >> 24) as usize & (self.filter.len() * 64 - 1)
    }

    #[inline]
    pub fn get(&self, key: u128) -> Option<V> {
        let mixed = mix(key);
        let bit = self.filter_bit(mixed);
        if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
            return None;
        }
        let mut slot = (mixed >> self.shift) as usize;
        loop {
            match self.slots[slot] {
                (k, Some(value)) if k == key => return Some(value),
                (_, None) => return None,
                _ => slot = (slot + 1) & (self.slots.len() - 1),
            }
        }
    }
}

fn mix(key: u128) -> u64 {
    (key as u64 ^ (key >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The words of normalised text with where each starts, for code off the hot path that
/// wants them as text (triage uses [`split_words`] and its keys).
pub fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut words = Vec::new();
    split_words(text, &mut words);
    words.into_iter().map(move |w| {
        let (start, end) = (w.start as usize, w.end as usize);
        (start, &text[start..end])
    })
}

/// Cuts to at most `max` characters, marking the cut with an ellipsis.
pub fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
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
    fn stretched_letters_become_one_but_doubles_and_digits_stay() {
        assert_eq!(normalize("Vi odiooooo").text, "vi odio");
        assert_eq!(normalize("LADRIIIII!!!").text, "ladri!!!");
        assert_eq!(normalize("sooo slow, nooo").text, "so slow, no");
        assert_eq!(normalize("bellooo, carroozza").text, "bello, carroozza");
        assert_eq!(
            normalize("costa 1000 euro, www.negozio.it").text,
            "costa 1000 euro, www.negozio.it"
        );
        // The match still points at the whole stretched word of the original.
        let original = "Che SCHIFOOOO davvero";
        let n = normalize(original);
        let start = n.text.find("schifo").unwrap();
        let (s, e) = n.original_range(start, start + "schifo".len());
        assert_eq!(&original[s..e], "SCHIFOOOO");
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
    fn the_sparse_map_agrees_with_a_byte_by_byte_map() {
        // The map as a plain list: every kept byte, and every byte of a folded character,
        // points at the start of the original character it came from.
        fn byte_by_byte(original: &str) -> (String, Vec<usize>) {
            let (mut text, mut offsets) = (String::new(), Vec::new());
            let mut last_space = true;
            let chars: Vec<(usize, char)> = original.char_indices().collect();
            let letter = |i: usize| -> Option<char> {
                let (_, c) = *chars.get(i)?;
                let c = c.to_ascii_lowercase();
                (c.is_ascii_lowercase() && c != 'w').then_some(c)
            };
            for (i, &(pos, ch)) in chars.iter().enumerate() {
                // A letter inside a stretch of three or more of it is dropped, except the first.
                let stretch_start = |j: usize| {
                    letter(j).is_some() && letter(j) == letter(j + 1) && letter(j) == letter(j + 2)
                };
                let in_stretch = (1..=i).any(|back| {
                    let j = i - back;
                    stretch_start(j) && (j..=i).all(|k| letter(k) == letter(j))
                });
                if in_stretch {
                    continue;
                }
                if ch.is_whitespace() {
                    if !last_space {
                        text.push(' ');
                        offsets.push(pos);
                    }
                    last_space = true;
                    continue;
                }
                if ch == '\u{2026}' {
                    text.push_str("...");
                    offsets.extend([pos; 3]);
                    last_space = false;
                    continue;
                }
                if is_symbol(ch) {
                    if !last_space {
                        text.push(' ');
                        offsets.push(pos);
                    }
                    text.push(ch);
                    text.push(' ');
                    offsets.extend(std::iter::repeat_n(pos, ch.len_utf8() + 1));
                    last_space = true;
                    continue;
                }
                last_space = false;
                for folded in fold(ch) {
                    let before = text.len();
                    text.push(folded);
                    offsets.extend(std::iter::repeat_n(pos, text.len() - before));
                }
            }
            if text.ends_with(' ') {
                text.pop();
                offsets.pop();
            }
            offsets.push(original.len());
            (text, offsets)
        }
        for original in [
            "plain ascii text",
            "  leading and trailing  ",
            "double  spaces\t\nand tabs",
            "a run ends \tbefore a tab, then CAPS and `ticks` ",
            "Perché È così?  Ciao ",
            "emoji 👍👍 in the middle",
            "touching emoji😍, a flag 🇮🇹 and a family 👨\u{200D}👩\u{200D}👧!",
            "never again… 20€ — ok ❤\u{FE0F}",
            "ǅ mixed ﬁ ligature İ dotted",
            "\u{00A0}non-breaking\u{2003}spaces\u{00A0}",
            "",
            "   ",
            "Vi odioooo TANTOOO, sooo bad www.example.com aaa",
            "LADRIIIIII!!! noooo... zzz ooh",
        ] {
            let n = normalize(original);
            let (text, offsets) = byte_by_byte(original);
            assert_eq!(n.text, text, "{original:?}");
            for (at, expected) in offsets.iter().enumerate() {
                assert_eq!(n.original_offset(at), *expected, "{original:?} byte {at}");
            }
        }
        assert!(normalize("plain text, one space").jumps.is_empty());
    }

    #[test]
    fn a_range_ending_inside_a_lowercased_capital_dotted_i_takes_the_whole_letter() {
        let original = "FESSERİ";
        let n = normalize(original);
        assert_eq!(n.text, "fesseri\u{307}");
        let end = "fesseri".len();
        assert_eq!(n.original_range(0, end), (0, original.len()));
        // Starting between the "i" and its dot takes the letter from its start.
        assert_eq!(n.original_range(end, n.text.len()), (6, original.len()));
        assert_eq!(n.original_range(end, end), (6, 6));
    }

    #[test]
    fn a_range_ending_inside_a_multi_byte_character_takes_the_whole_character() {
        // What a byte-level `caf.` matches in "caf茶": the letter's first byte of three.
        let original = "caf茶 e cappuccino";
        let n = normalize(original);
        assert_eq!(n.original_range(0, 4), (0, "caf茶".len()));
        assert_eq!(n.original_range(4, 5), (3, "caf茶".len()));
    }

    #[test]
    fn a_range_past_the_end_of_the_text_is_cut_to_it() {
        let n = normalize("Ciao İ ");
        let len = n.text.len();
        assert_eq!(n.original_range(len + 3, len + 9), (8, 8));
        assert_eq!(n.original_range(0, len + 9), (0, 8));
    }

    #[test]
    fn an_emoji_or_symbol_is_a_word_of_its_own_and_an_ellipsis_is_three_dots() {
        // Chat glues emoji to words and phones type "…": the words must still be words.
        assert_eq!(normalize("Love it😍😍").text, "love it 😍 😍");
        assert_eq!(normalize("costa 20€!").text, "costa 20 € !");
        assert_eq!(normalize("Never again…").text, "never again...");
        assert_eq!(
            normalize("non va—di nuovo").text,
            "non va \u{2014} di nuovo"
        );
        // Letters of every script stay inside their word.
        assert_eq!(normalize("Straße 東京").text, "straße 東京");
        let text = normalize("great😍job").text;
        let mut found = Vec::new();
        split_words(&text, &mut found);
        let words: Vec<&str> = found
            .iter()
            .map(|w| &text[w.start as usize..w.end as usize])
            .collect();
        assert_eq!(words, ["great", "😍", "job"]);
    }

    #[test]
    fn keeps_emoji_as_non_ascii_text() {
        let n = normalize("Great 👍");
        assert_eq!(n.text, "great 👍");
        let (s, e) = n.original_range(6, n.text.len());
        assert_eq!(&"Great 👍"[s..e], "👍");
    }

    #[test]
    fn word_sets_match_whole_words_short_and_long() {
        let long = "antidisestablishmentarianism";
        let set = WordSet::new(["not", "never", long]);
        assert!(set.contains("not") && set.contains("never") && set.contains(long));
        assert!(!set.contains("no") && !set.contains("nots") && !set.contains(""));
        assert!(!set.contains("antidisestablishmentarianisms"));
        // Same bytes, different length: the length is part of the key.
        assert!(!WordSet::new(["a\0"]).contains("a"));
        assert!(WordSet::new(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn a_key_read_in_place_is_the_key_of_the_word() {
        // Words at the start, in the middle and at the very end of short and long texts,
        // where keys are read by different loads; and words too long to pack.
        for text in [
            "ok",
            "dov'e il mio ordine?",
            "the parcel never arrived and nobody answers my emails",
            "incomprehensibilities everywhere, antidisestablishmentarianism",
        ] {
            let bytes = text.as_bytes();
            let mut words = Vec::new();
            split_words(text, &mut words);
            assert!(!words.is_empty());
            for word in &words {
                let (start, end) = (word.start as usize, word.end as usize);
                assert_eq!(word.key, word_key(&bytes[start..end]), "{text:?} {start}");
                for len in 1..=end - start {
                    let expected = word_key(&bytes[start..start + len]);
                    assert_eq!(
                        key_at(bytes, start, len),
                        expected,
                        "{text:?} {start}+{len}"
                    );
                }
            }
        }
        let long = word_key(b"incomprehensibilities");
        assert_ne!(long, word_key(b"incomprehensibility"));
        assert_eq!(long >> 120, 0xff, "long keys never look like packed ones");
    }

    #[test]
    fn word_tables_find_their_keys_and_nothing_else() {
        let words = ["late", "ordine", "non", "incomprehensibilities", "e"];
        let table = WordTable::new(
            words
                .iter()
                .enumerate()
                .map(|(i, w)| (word_key(w.as_bytes()), i)),
        );
        for (i, word) in words.iter().enumerate() {
            assert_eq!(table.get(word_key(word.as_bytes())), Some(i), "{word}");
        }
        for other in ["lat", "lately", "ordini", "", "incomprehensibility"] {
            assert_eq!(table.get(word_key(other.as_bytes())), None, "{other}");
        }
        // Many keys: probing past collisions still finds each one.
        let many = WordTable::new((0..5_000u128).map(|k| (k * 7919, k)));
        assert!((0..5_000u128).all(|k| many.get(k * 7919) == Some(k)));
        assert_eq!(many.get(1), None);
    }

    #[test]
    fn splits_tokens_on_punctuation_and_apostrophes() {
        let toks: Vec<_> = tokens("dov'e il mio ordine?").map(|(_, t)| t).collect();
        assert_eq!(toks, ["dov", "e", "il", "mio", "ordine"]);
    }
}
