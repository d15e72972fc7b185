//! Any text a member can type goes through the whole core without a panic, and every piece of
//! evidence is a slice of the comment as written.
//!
//! Members paste anything: Turkish capitals that lowercase to two characters, combining marks,
//! right-to-left text, zero-width joiners, control characters, emoji sequences. Byte-level
//! patterns and case folding both move offsets around those characters, so the generators
//! mix them with the very words the test rules match: matches then start and end right next
//! to (and inside) the hard characters.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::{select, Index};

use ascolto_core::answer::{AnswerConfig, AnswerDetector};
use ascolto_core::comment::{Author, Comment, CommentId, Place, Source};
use ascolto_core::draft::{draft, DraftContext};
use ascolto_core::explain::report;
use ascolto_core::rules::{Lang, Library};
use ascolto_core::text::{cut_chars, normalize, split_words};
use ascolto_core::triage::{language, triage, TriageOptions, Verdict};

/// Rules whose words come in odd case, with `*` wildcards, as phrases, and next to the hard
/// characters; and patterns whose `.` and `\w` match single bytes of normalised text.
const EN_RULES: &str = r#"
[[rule]]
id = "en.complaint"
labels = ["complaint"]
templates = ["t"]
priority = 5
[rule.any]
words = ["LaTe", "REFUND*", "*rotto", "Still  Waiting", "fesseri*", "FESSERİ", "Perché", "straße", "ﬁne", "İstanbul*", "*ΐ"]
patterns = ["caf.", 'where\s+is\s+my\s+\w+', '\w+ing\b', "f.sseri", '\w\w.\w', "..e", 'or.{0,3}ine']

[[rule]]
id = "en.question"
labels = ["question"]
templates = ["t"]
[rule.all]
words = ["help"]
patterns = ['\?']
[rule.none]
words = ["just kidding"]

[[rule]]
id = "en.tone"
labels = ["negative"]
[rule.lexicon]
threshold = 1.0
weights = { "terrible" = 1.0, "broken*" = 0.5, "*rotto" = 0.5, "good" = -1.0, "fesseri" = 1.0, "http*" = -0.5 }
negators = ["not", "non"]
intensifiers = ["very", "molto"]
fixed = ["http*"]
all_caps = 0.5
exclamations = 0.5
"#;

const IT_RULES: &str = r#"
[[rule]]
id = "it.complaint"
labels = ["complaint", "urgent"]
templates = ["t"]
[rule.any]
words = ["in ritardo", "ORDINE*", "perche", "ancora niente"]
patterns = ['non .{0,3}arrivat\w', '.i.', '\w\w\w\w\w\w\w.']

[[rule]]
id = "it.thanks"
labels = ["praise"]
suppresses = ["question"]
[rule.any]
words = ["grazie*", "GRAZIE MILLE"]
"#;

const TEMPLATES: &str = r#"
[[template]]
id = "t"
[template.en]
wordings = ["Sorry {author}, about \"{match}\" in #{channel}. {moderator} will look.", "{moderator} here: {match}"]
[template.it]
wordings = ["Ciao {author}, \"{match}\": ci pensa {moderator}."]
"#;

fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let sources = vec![
            (PathBuf::from("r/en/rules.toml"), EN_RULES.to_owned()),
            (PathBuf::from("r/it/rules.toml"), IT_RULES.to_owned()),
            (PathBuf::from("r/templates.toml"), TEMPLATES.to_owned()),
        ];
        Library::from_sources(Path::new("r"), &sources, &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The library the bot ships with, which `rules test` ran when QA found the crash.
fn shipped_library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
        let values = BTreeMap::from(
            ["support_url", "status_url", "community_name"].map(|k| (k.to_owned(), "x".into())),
        );
        Library::load(&dir, &values).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn comment(id: usize, author: (&str, &str), text: &str) -> Comment {
    let time = Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap() + Duration::seconds(id as i64);
    Comment::new(
        format!("m{id}"),
        Source::Replay,
        Place::channel("c", "général\u{202E}"),
        Author::member(author.0, author.1),
        text,
        time,
    )
}

/// What the rules look for, so that matches happen around the hard characters.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "late", "refund", "refunded", "rotto", "interrotto", "still waiting", "fesseri", "perché",
    "caf€", "café", "where is my parcel", "waiting", "ordine", "in ritardo", "non è arrivato",
    "broken", "terrible", "good", "not", "very", "non", "molto", "help", "just kidding",
    "grazie", "straße", "ﬁne", "istanbul", "the", "is", "il", "la", "https://x.test", "?", "!!",
];

/// Characters and sequences that change length, direction or meaning when normalised.
#[rustfmt::skip]
const HARD: &[&str] = &[
    // Case folding that expands, or has no single-character partner.
    "İ", "ı", "ß", "ẞ", "ﬁ", "ﬄ", "ŉ", "ΐ", "ΰ", "ǰ", "ǅ", "Σ", "ς", "\u{212A}", "\u{212B}", "ſ",
    // Combining marks, alone and stacked.
    "\u{301}", "\u{307}", "\u{308}\u{323}", "e\u{301}", "Z\u{351}\u{36b}\u{343}\u{36a}",
    // Right-to-left text and direction marks.
    "\u{200E}", "\u{200F}", "\u{202E}", "\u{2066}", "\u{2069}", "مرحبا", "שָׁלוֹם", "لا",
    // Zero-width joiners and spaces, BOM, odd white space.
    "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{A0}", "\u{2003}", "\u{3000}",
    "\u{2028}", "\u{85}",
    // Control characters.
    "\u{0}", "\u{7}", "\u{1B}[31m", "\r\n", "\t", "\u{7F}", "\u{9F}",
    // Emoji, with skin tones, flags and ZWJ sequences.
    "👍", "👍🏽", "👩\u{200D}👩\u{200D}👧\u{200D}👦", "🏳\u{FE0F}\u{200D}🌈", "🇮🇹", "1\u{FE0F}\u{20E3}",
    // Other planes, private use, noncharacters, the last code point.
    "€", "𝕏", "𓀀", "\u{E000}", "\u{FFFD}", "\u{FFFF}", "\u{1FFFE}", "\u{E0041}", "\u{10FFFF}",
    // Markup members paste.
    "@everyone", "{author}", "`", "’", "«", "\\",
];

/// One word as a member might type it: any case, or Turkish-style capitals ("FESSERİ").
fn typed_word() -> impl Strategy<Value = String> {
    (select(WORDS), 0u8..4, any::<u64>()).prop_map(|(word, case, mask)| match case {
        0 => word.to_owned(),
        1 => word.to_uppercase(),
        2 => word.to_uppercase().replace('I', "İ"),
        _ => word
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let up = (mask >> (i % 64)) & 1 == 1;
                let out: Vec<char> = if up {
                    c.to_uppercase().collect()
                } else {
                    vec![c]
                };
                out
            })
            .collect(),
    })
}

/// Any code point of any of the 17 planes, each plane as likely as the others.
fn any_plane_char() -> impl Strategy<Value = char> {
    (0u32..17, 0u32..0x1_0000).prop_filter_map("surrogates are not chars", |(plane, low)| {
        char::from_u32((plane << 16) | low)
    })
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => typed_word(),
        3 => select(HARD).prop_map(str::to_owned),
        2 => any::<char>().prop_map(String::from),
        1 => any_plane_char().prop_map(String::from),
        1 => (0x300u32..0x370).prop_map(|c| char::from_u32(c).unwrap().to_string()),
        // A word with a hard character glued inside it.
        2 => (typed_word(), select(HARD), any::<Index>()).prop_map(|(word, hard, at)| {
            let cut = word
                .char_indices()
                .map(|(i, _)| i)
                .nth(at.index(word.chars().count().max(1)))
                .unwrap_or(word.len());
            format!("{}{hard}{}", &word[..cut], &word[cut..])
        }),
        4 => select(&[" ", " ", "  ", ", ", ". ", "\n", "? "][..]).prop_map(str::to_owned),
    ]
}

/// A message with nothing in it to answer, as members nudge a question, in any case.
fn nudge() -> impl Strategy<Value = String> {
    (
        select(
            &[
                "?",
                "anyone?",
                "anyone??",
                "hello? anybody",
                "qualcuno??",
                " ? ",
            ][..],
        ),
        any::<bool>(),
    )
        .prop_map(|(text, upper)| {
            if upper {
                text.to_uppercase()
            } else {
                text.to_owned()
            }
        })
}

/// Comment text: empty, arbitrary, or the mix of rule words and hard characters above.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        2 => any::<String>(),
        8 => prop::collection::vec(piece(), 0..24).prop_map(|pieces| pieces.concat()),
    ]
}

/// Panics unless every piece of evidence is a whole-character slice of `text`, and what the
/// verdict is shown as can be built.
fn check_verdict(text: &str, verdict: &Verdict, library: &Library, c: &Comment) {
    for m in &verdict.matches {
        for e in &m.evidence {
            let (start, end) = (e.span.start, e.span.end);
            assert!(
                start <= end && end <= text.len(),
                "{start}..{end} of {text:?}"
            );
            assert!(
                text.is_char_boundary(start) && text.is_char_boundary(end),
                "{start}..{end} splits a character of {text:?}"
            );
            assert_eq!(e.text, text[start..end], "{text:?}");
        }
    }
    let values = BTreeMap::new();
    let ctx = DraftContext {
        moderator: "the team",
        values: &values,
    };
    let drafted = draft(c, verdict, library, ctx);
    assert_eq!(drafted.is_some(), verdict.reply.is_some(), "{text:?}");
    let explained = report(verdict, drafted.as_ref());
    for e in verdict.matches.iter().flat_map(|m| &m.evidence) {
        assert!(explained.contains(&e.text), "{explained}");
    }
}

fn check_triage(text: &str, library: &Library) {
    let c = comment(1, ("a", "ann"), text);
    let verdict = triage(&c, library, &TriageOptions::default());
    check_verdict(text, &verdict, library, &c);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn normalised_ranges_map_back_to_whole_characters_that_cover_them(
        text in text(),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        let n = normalize(&text);
        let len = n.text.len();
        let (a, b) = (a.index(len + 1), b.index(len + 1));
        let (start, end) = (a.min(b), a.max(b));
        let (s, e) = n.original_range(start, end);
        prop_assert!(s <= e && e <= text.len(), "{s}..{e}");
        prop_assert!(text.is_char_boundary(s) && text.is_char_boundary(e), "{s}..{e}");
        // The original characters, normalised on their own, give back at least the range
        // (white space at its edges aside, which normalisation trims).
        let wanted = n.text.as_bytes()[start..end].trim_ascii();
        let got = normalize(&text[s..e]).text;
        prop_assert!(
            wanted.is_empty() || got.as_bytes().windows(wanted.len()).any(|w| w == wanted),
            "{:?} from {s}..{e} does not cover {:?}",
            got,
            String::from_utf8_lossy(wanted)
        );
    }

    #[test]
    fn words_and_language_are_read_from_any_text(text in text()) {
        let n = normalize(&text);
        let mut words = Vec::new();
        split_words(&n.text, &mut words);
        for w in &words {
            let (start, end) = (w.start as usize, w.end as usize);
            prop_assert!(start < end && n.text.is_char_boundary(start) && n.text.is_char_boundary(end));
        }
        let detected = language::detect(&words, Lang::It);
        if words.is_empty() {
            prop_assert_eq!(detected, language::Detected { lang: Lang::It, confident: false });
        }
    }

    #[test]
    fn triage_evidence_is_always_a_slice_of_the_comment(text in text()) {
        check_triage(&text, library());
    }

    #[test]
    fn the_shipped_rules_find_evidence_only_on_whole_characters(text in text()) {
        check_triage(&text, shipped_library());
    }

    #[test]
    fn answer_detection_reads_any_names_and_text(
        messages in prop::collection::vec(
            (0usize..4, any::<bool>(), prop_oneof![3 => text(), 1 => nudge()], any::<bool>()),
            1..12,
        ),
        names in prop::collection::vec(text(), 4),
    ) {
        let mut detector = AnswerDetector::new(AnswerConfig::default());
        let mut seen: Vec<CommentId> = Vec::new();
        let mut closed: HashSet<CommentId> = HashSet::new();
        for (i, (who, addressed, body, open)) in messages.into_iter().enumerate() {
            // Addressing a name IRC-style puts the hard characters where names are looked for.
            let body = if addressed {
                format!("{}: {body}", names[(who + 1) % 4])
            } else {
                body
            };
            let c = comment(i, (&format!("u{who}"), &names[who]), &body);
            let nudged = detector.nudged(&c);
            if let Some(question) = &nudged {
                prop_assert!(seen.contains(question), "{question:?}");
            }
            for answered in detector.observe_open(&c, open && nudged.is_none()) {
                prop_assert!(seen.contains(&answered.comment), "{:?}", answered.comment);
                prop_assert!(closed.insert(answered.comment.clone()), "closed twice");
            }
            seen.push(c.id.clone());
        }
    }

    #[test]
    fn cut_text_is_whole_characters_of_the_original(text in text(), max in 0usize..40) {
        let cut = cut_chars(&text, max);
        let kept = cut.strip_suffix('…').filter(|_| text.chars().count() > max).unwrap_or(&cut);
        prop_assert!(text.starts_with(kept));
        prop_assert!(cut.chars().count() <= max.max(1));
    }
}

#[test]
fn a_capital_dotted_i_ending_a_match_stays_whole_in_the_evidence() {
    for text in [
        "FESSERİ",
        "sei un FESSERİ!!",
        "FESSERİ\u{307} late",
        "ﬁne FESSERİ  ",
    ] {
        check_triage(text, library());
        check_triage(text, shipped_library());
    }
}

#[test]
fn every_range_of_hard_text_maps_back_to_whole_characters() {
    // Inputs proptest once shrank failures to, checked for every range of their normal form.
    for text in ["FESSERİ", "STİLL WAİTİNG", "\u{d81}Σෲ𞹉a0", "caf€", "İ İ  "] {
        let n = normalize(text);
        for start in 0..=n.text.len() {
            for end in start..=n.text.len() {
                let (s, e) = n.original_range(start, end);
                assert!(s <= e && e <= text.len(), "{text:?} {start}..{end}");
                assert!(
                    text.is_char_boundary(s) && text.is_char_boundary(e),
                    "{text:?} {start}..{end} gives {s}..{e}"
                );
            }
        }
    }
}

#[test]
fn a_byte_pattern_stopping_inside_a_character_keeps_the_evidence_whole() {
    // No other term of the library matches these, so `caf.` is the evidence.
    for text in ["caf€", "un caf€€€", "caf\u{10FFFF}", "CAF€\u{301}"] {
        check_triage(text, library());
        let c = comment(1, ("a", "ann"), text);
        let verdict = triage(&c, library(), &TriageOptions::default());
        let evidence = &verdict.matches[0].evidence[0];
        assert_eq!(&*evidence.term, "caf.", "{text:?}");
        assert!(evidence.text.ends_with(|c: char| !c.is_ascii()), "{text:?}");
    }
}

#[test]
fn a_megabyte_of_mixed_text_is_triaged_whole() {
    let unit =
        "Ciao FESSERİ, il mio ordine è in ritardo 👩\u{200D}👩\u{200D}👧 caf€ \u{200F}مرحبا ß ﬁne \
                still  waiting?? where is my parcel \u{0}\u{1B} ŉ ΐ ǰ ẞ e\u{301} refunded! ";
    let text = unit.repeat(1_000_000 / unit.len() + 1);
    assert!(text.len() >= 1_000_000);
    let c = comment(1, ("a", "ann"), &text);
    for library in [library(), shipped_library()] {
        let verdict = triage(&c, library, &TriageOptions::default());
        assert!(!verdict.matches.is_empty());
        check_verdict(&text, &verdict, library, &c);
    }
    let mut detector = AnswerDetector::new(AnswerConfig::default());
    detector.observe_open(&c, true);
    detector.observe_open(&comment(2, ("b", "FESSERİ"), &text), false);
    assert_eq!(cut_chars(&text, 80).chars().count(), 80);
}
