//! The library's word lists, looked up one comment word at a time.
//!
//! Nearly every word-list entry starts at a word boundary ("late", "non funziona", "rimbors*"),
//! so it can only match where a word of the comment starts. Each word of the comment is
//! looked up by its key in three small hash tables: as a whole word, with the word after it
//! (phrases), and by its first bytes (entries ending in `*`). That costs a few look-ups per
//! word, where an automaton of every entry costs a step per byte. The few entries that may
//! start inside a word ("*rotto", emoji, "?") are filed by their first byte instead.

use crate::text::{
    bytes_at, is_word_byte, key_at, split_words, word_key, Word, WordTable, PACKED_MAX,
};

/// Index of a word or pattern in the library's matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TermId(pub u32);

/// A term found in a comment, as a byte range of the normalised text.
///
/// A pattern's range is found only when asked for (`Matcher::locate`): most pattern hits
/// never need one (they did not make a rule fire, or only vetoed one), and finding it means
/// running that pattern again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermHit {
    pub term: TermId,
    pub(super) start: usize,
    pub(super) end: usize,
    /// Index of the pattern in the set, for pattern hits (their range is not known yet).
    pub(super) pattern: Option<u32>,
}

impl TermHit {
    pub(super) fn word(term: TermId, start: usize, end: usize) -> TermHit {
        TermHit {
            term,
            start,
            end,
            pattern: None,
        }
    }

    /// Where a word hit starts (patterns: 0); words use it for negation look-behind.
    pub fn word_start(&self) -> usize {
        self.start
    }

    /// A word hit's byte range (patterns: empty, see `Matcher::locate`).
    pub(super) fn range(&self) -> (usize, usize) {
        (self.start, self.end)
    }
}

/// A word-list entry after normalisation, with its `*` wildcards resolved into boundary checks.
#[derive(Debug, Clone)]
pub(super) struct WordEntry {
    pub term: TermId,
    /// The entry without its `*`s.
    pub core: String,
    /// The byte before a match must not be a word byte.
    pub left: bool,
    /// The byte after a match must not be a word byte.
    pub right: bool,
}

impl WordEntry {
    /// The entry for a library word (normalised; `*` at either end turns off that boundary
    /// check, and an end that is not a word byte has none to check).
    pub fn new(term: TermId, word: &str) -> WordEntry {
        let left_wild = word.starts_with('*');
        let right_wild = word.ends_with('*') && word.len() > 1;
        let core = word.trim_matches('*');
        let bytes = core.as_bytes();
        WordEntry {
            term,
            core: core.to_owned(),
            left: !left_wild && bytes.first().is_some_and(|b| is_word_byte(*b)),
            right: !right_wild && bytes.last().is_some_and(|b| is_word_byte(*b)),
        }
    }
}

/// An entry's bytes: the first 16 in place, compared as one number (nearly every entry is
/// that short), and all of them in `WordIndex::bytes` for the rest of longer ones.
#[derive(Debug, Clone, Copy)]
struct Spelling {
    head: u128,
    offset: u32,
    len: u32,
}

impl Spelling {
    /// Whether `text` has this spelling at `start`.
    #[inline]
    fn is_at(&self, text: &[u8], start: usize, all_bytes: &[u8]) -> bool {
        let len = self.len as usize;
        if start + len > text.len() {
            return false;
        }
        let head = len.min(16);
        bytes_at(text, start, head) == self.head
            && (len <= 16
                || text[start + 16..start + len]
                    == all_bytes[self.offset as usize + 16..self.offset as usize + len])
    }
}

/// An entry that can only start where a comment word starts.
#[derive(Debug, Clone, Copy)]
struct Anchored {
    term: TermId,
    spelling: Spelling,
    right: bool,
    /// Finding the entry by its key proves it matches (a whole single word short enough for
    /// its key to be the word itself, not a hash): nothing to compare.
    proven: bool,
}

/// An entry that may start inside a word (no check on its left), looked for wherever its
/// first byte is.
#[derive(Debug, Clone, Copy)]
struct Loose {
    term: TermId,
    spelling: Spelling,
    right: bool,
}

/// Which table an anchored entry is found through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lookup {
    /// The comment word equals the entry's first word.
    Word,
    /// The comment word and the next equal the entry's first two words.
    Pair,
    /// The comment word starts with the entry's first `PREFIX` bytes (or all of a shorter entry).
    Prefix,
}

/// How many leading bytes prefix entries are filed under: enough that a bucket holds one or
/// two entries.
const PREFIX: usize = 3;

/// The anchored entries filed under one key: a range of `WordIndex::anchored`.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    from: u32,
    to: u32,
    /// In the word table: some phrase starts with this word, so the pair table is worth
    /// asking (most words start none, and are not looked up twice).
    starts_phrase: bool,
}

type Buckets = WordTable<Bucket>;

/// Every word-list entry of a library, ready to be looked up word by word.
#[derive(Debug)]
pub(super) struct WordIndex {
    anchored: Vec<Anchored>,
    bytes: Vec<u8>,
    by_word: Buckets,
    by_pair: Buckets,
    by_prefix: Buckets,
    /// The lengths prefix entries are filed under, shortest first.
    prefix_lens: Vec<usize>,
    /// Entries that may start inside a word, grouped by first byte, and each byte's group.
    loose: Vec<Loose>,
    loose_by_byte: Box<[(u32, u32); 256]>,
}

impl WordIndex {
    pub fn build(entries: Vec<WordEntry>) -> WordIndex {
        // Each entry with its table, its key there, and the key of its first word.
        let mut filed: Vec<(Lookup, u128, u128, Anchored)> = Vec::new();
        let mut bytes = Vec::new();
        let mut loose = Vec::new();
        let mut runs = Vec::new();
        for entry in entries {
            let core = entry.core.as_bytes();
            // The loader rejects empty words; nothing to file.
            if core.is_empty() {
                continue;
            }
            let spelling = Spelling {
                head: bytes_at(core, 0, core.len().min(16)),
                offset: bytes.len() as u32,
                len: core.len() as u32,
            };
            bytes.extend_from_slice(core);
            if !entry.left {
                loose.push(Loose {
                    term: entry.term,
                    spelling,
                    right: entry.right,
                });
                continue;
            }
            split_words(&entry.core, &mut runs);
            let mut anchored = Anchored {
                term: entry.term,
                spelling,
                right: entry.right,
                proven: false,
            };
            let first = runs[0];
            let whole_first = first.end as usize == core.len();
            let (lookup, key) = if whole_first && entry.right {
                anchored.proven = core.len() <= PACKED_MAX;
                (Lookup::Word, first.key)
            } else if whole_first {
                let len = core.len().min(PREFIX);
                (Lookup::Prefix, word_key(&core[..len]))
            } else if runs.len() == 1
                || (runs.len() == 2 && runs[1].end as usize == core.len() && !entry.right)
            {
                // One word then punctuation ("funziona!"), or two words where the second may
                // run on in the comment ("shipping delay*" in "shipping delays"): only the
                // first word is sure to be a whole comment word.
                (Lookup::Word, first.key)
            } else {
                (Lookup::Pair, pair_key(first.key, runs[1].key))
            };
            filed.push((lookup, key, first.key, anchored));
        }
        filed.sort_by_key(|(lookup, key, _, _)| (*lookup, *key));
        let mut prefix_lens: Vec<usize> = filed
            .iter()
            .filter(|(lookup, _, _, _)| *lookup == Lookup::Prefix)
            .map(|(_, _, _, a)| (a.spelling.len as usize).min(PREFIX))
            .collect();
        prefix_lens.sort_unstable();
        prefix_lens.dedup();
        let mut tables: [Vec<(u128, Bucket)>; 3] = Default::default();
        let mut anchored = Vec::with_capacity(filed.len());
        let mut phrase_starts = Vec::new();
        for (lookup, key, first, entry) in filed {
            let index = anchored.len() as u32;
            anchored.push(entry);
            if lookup == Lookup::Pair {
                phrase_starts.push(first);
            }
            // Sorted by key, so a key's entries are consecutive.
            let table = &mut tables[lookup as usize];
            match table.last_mut() {
                Some((last, bucket)) if *last == key => bucket.to = index + 1,
                _ => table.push((
                    key,
                    Bucket {
                        from: index,
                        to: index + 1,
                        starts_phrase: false,
                    },
                )),
            }
        }
        phrase_starts.sort_unstable();
        phrase_starts.dedup();
        let words = &mut tables[Lookup::Word as usize];
        for first in phrase_starts {
            match words.binary_search_by_key(&first, |(key, _)| *key) {
                Ok(at) => words[at].1.starts_phrase = true,
                Err(at) => words.insert(
                    at,
                    (
                        first,
                        Bucket {
                            starts_phrase: true,
                            ..Bucket::default()
                        },
                    ),
                ),
            }
        }
        let [by_word, by_pair, by_prefix] = tables.map(WordTable::new);
        let first_byte = |entry: &Loose| entry.spelling.head as u8;
        loose.sort_by_key(first_byte);
        let mut loose_by_byte = Box::new([(0, 0); 256]);
        for (i, entry) in loose.iter().enumerate() {
            let group = &mut loose_by_byte[first_byte(entry) as usize];
            if group.0 == group.1 {
                *group = (i as u32, i as u32);
            }
            group.1 += 1;
        }
        WordIndex {
            anchored,
            bytes,
            by_word,
            by_pair,
            by_prefix,
            prefix_lens,
            loose,
            loose_by_byte,
        }
    }

    /// Appends the first occurrence of every entry in `text` (normalised, split into `words`),
    /// in the order an overlapping scan of the text would report them: by where they end,
    /// longer first, then by term.
    pub fn find(&self, text: &str, words: &[Word], out: &mut Vec<TermHit>) {
        let bytes = text.as_bytes();
        let first = out.len();
        for (i, word) in words.iter().enumerate() {
            let start = word.start as usize;
            if let Some(bucket) = self.by_word.get(word.key) {
                self.check(bucket, bytes, start, out);
                if let (true, Some(next)) = (bucket.starts_phrase, words.get(i + 1)) {
                    if let Some(bucket) = self.by_pair.get(pair_key(word.key, next.key)) {
                        self.check(bucket, bytes, start, out);
                    }
                }
            }
            for &len in &self.prefix_lens {
                if len > word.len() {
                    break;
                }
                if let Some(bucket) = self.by_prefix.get(key_at(bytes, start, len)) {
                    self.check(bucket, bytes, start, out);
                }
            }
        }
        if !self.loose.is_empty() {
            for (start, &byte) in bytes.iter().enumerate() {
                let (from, to) = self.loose_by_byte[byte as usize];
                for entry in &self.loose[from as usize..to as usize] {
                    if self.matches_at(entry.spelling, entry.right, bytes, start) {
                        let end = start + entry.spelling.len as usize;
                        out.push(TermHit::word(entry.term, start, end));
                    }
                }
            }
        }
        let found = &mut out[first..];
        found.sort_unstable_by_key(|h| {
            let (start, end) = h.range();
            (end, std::cmp::Reverse(end - start), h.term)
        });
        // Keep each term's first occurrence, in that order.
        let mut kept = first;
        for i in first..out.len() {
            let hit = out[i];
            if !out[first..kept].iter().any(|h| h.term == hit.term) {
                out[kept] = hit;
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    /// Pushes the entries of `bucket` that match at `start`.
    #[inline]
    fn check(&self, bucket: Bucket, bytes: &[u8], start: usize, out: &mut Vec<TermHit>) {
        for entry in &self.anchored[bucket.from as usize..bucket.to as usize] {
            if entry.proven || self.matches_at(entry.spelling, entry.right, bytes, start) {
                let end = start + entry.spelling.len as usize;
                out.push(TermHit::word(entry.term, start, end));
            }
        }
    }

    /// Whether an entry spelled `spelling` is at `start` and, if `right`, ends a word there.
    #[inline]
    fn matches_at(&self, spelling: Spelling, right: bool, bytes: &[u8], start: usize) -> bool {
        let end = start + spelling.len as usize;
        spelling.is_at(bytes, start, &self.bytes)
            && !(right && end < bytes.len() && is_word_byte(bytes[end]))
    }
}

/// The key of two consecutive words, for phrases. Different pairs may share a key: phrase
/// entries are always compared with the text.
fn pair_key(first: u128, second: u128) -> u128 {
    first.rotate_left(40).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ second
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(list: &[&str], text: &str) -> Vec<(String, String)> {
        let entries = list
            .iter()
            .enumerate()
            .map(|(i, w)| WordEntry::new(TermId(i as u32), w));
        let index = WordIndex::build(entries.collect());
        let mut words = Vec::new();
        split_words(text, &mut words);
        let mut out = Vec::new();
        index.find(text, &words, &mut out);
        out.iter()
            .map(|h| {
                let (start, end) = h.range();
                (
                    list[h.term.0 as usize].to_owned(),
                    text[start..end].to_owned(),
                )
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn each_kind_of_entry_is_found_where_an_automaton_would_find_it() {
        let list = [
            "late",
            "still waiting",
            "shipping delay*",
            "refund*",
            "funziona!",
            "*rotto",
            "?",
            "non e mai arrivato",
            "l'ordine",
        ];
        let text = "still waiting, refunds late? shipping delays. non funziona! e interrotto, \
                    l'ordine non e mai arrivato";
        assert_eq!(
            found(&list, text),
            pairs(&[
                ("still waiting", "still waiting"),
                ("refund*", "refund"),
                ("late", "late"),
                ("?", "?"),
                ("shipping delay*", "shipping delay"),
                ("funziona!", "funziona!"),
                ("*rotto", "rotto"),
                ("l'ordine", "l'ordine"),
                ("non e mai arrivato", "non e mai arrivato"),
            ])
        );
    }

    #[test]
    fn boundaries_are_kept() {
        let list = ["late", "still waiting", "refund*", "funziona!", "ship it"];
        let text = "chocolate lately, stillwaiting still waitings, norefund funziona ship items";
        assert!(found(&list, text).is_empty(), "{:?}", found(&list, text));
    }

    #[test]
    fn the_first_occurrence_counts_and_same_end_hits_come_longest_first() {
        let list = ["waiting", "still waiting", "late"];
        assert_eq!(
            found(&list, "late, still waiting and late"),
            pairs(&[
                ("late", "late"),
                ("still waiting", "still waiting"),
                ("waiting", "waiting"),
            ])
        );
    }

    #[test]
    fn a_word_that_is_an_entry_can_also_start_phrases() {
        let list = ["not", "not working", "not working at all", "working"];
        assert_eq!(
            found(&list, "it's not working at all"),
            pairs(&[
                ("not", "not"),
                ("not working", "not working"),
                ("working", "working"),
                ("not working at all", "not working at all"),
            ])
        );
        assert_eq!(found(&list, "not yet"), pairs(&[("not", "not")]));
    }

    #[test]
    fn only_packed_keys_prove_a_match_long_entries_are_compared() {
        // A key over 15 bytes is a hash that another word may share, so the text decides.
        let entries = ["late", "incomprehensibilities"]
            .iter()
            .enumerate()
            .map(|(i, w)| WordEntry::new(TermId(i as u32), w));
        let index = WordIndex::build(entries.collect());
        let proven: Vec<(u32, bool)> = index
            .anchored
            .iter()
            .map(|a| (a.term.0, a.proven))
            .collect();
        assert!(
            proven.contains(&(0, true)) && proven.contains(&(1, false)),
            "{proven:?}"
        );
    }

    #[test]
    fn long_words_and_shared_prefixes_are_told_apart() {
        let list = [
            "incomprehensibilities",
            "incomprehensibility",
            "lag*",
            "lagg*",
            "la*",
            "l*",
        ];
        assert_eq!(
            found(&list, "incomprehensibility, laggy"),
            pairs(&[
                ("incomprehensibility", "incomprehensibility"),
                ("l*", "l"),
                ("la*", "la"),
                ("lag*", "lag"),
                ("lagg*", "lagg"),
            ])
        );
    }
}
