//! Triage throughput: the shipped library, and generated libraries of 100 and 1,000 rules,
//! against a naive baseline measured in the same run (each rule's patterns tried in turn).
//!
//! Besides criterion's own report, the run ends with the figures the targets are stated in:
//! comments per second on one core with the shipped library (target ≥ 500,000), the cost of
//! 1,000 rules relative to 100 (target ≤ 3×), and the speed-up over the naive baseline.

// The allocator the `ascolto` binary runs with, so the figures are the bot's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, Criterion, Throughput};
use regex::bytes::{Regex, RegexBuilder};

use ascolto::comment::{Author, Comment, Place, Source};
use ascolto::rules::Library;
use ascolto::text::normalize;
use ascolto::triage::{triage, TriageOptions};

/// Realistic community comments (English and Italian, written for this benchmark).
const SENTENCES: &[&str] = &[
    "Hi, my order was supposed to arrive on Monday and it's still not here",
    "does anyone know if the winter bundle ships to Canada",
    "lol that last stream was amazing",
    "Ciao, il mio ordine è arrivato ma la scatola era distrutta",
    "Mi avete addebitato due volte l'abbonamento, voglio il rimborso",
    "How do I link my account to the mobile app",
    "qualcuno sa quando riapre il negozio online",
    "I can't log in since the update, it keeps saying invalid password",
    "Thanks everyone, that fixed it!",
    "I've written three times this week and NOBODY answers!!",
    "Your app crashes every time I open the inventory",
    "Grazie mille ragazzi, tutto risolto",
    "If I don't get my money back by Friday I'm contacting my lawyer",
    "Ma è normale che il sito sia giù da stamattina?",
    "why did the price of the pro plan go up again",
    "Dove trovo le istruzioni per montare il supporto",
    "anyone up for a match tonight",
    "Ho ricevuto il colore sbagliato, avevo ordinato il blu",
    "Love the new update, the dark mode looks great",
    "is there a student discount",
    "Quanto costa la spedizione in Svizzera?",
    "La batteria si scarica in mezz'ora, il prodotto è difettoso",
    "when does the holiday event start?",
    "gn everyone",
    "Can someone explain how the referral points work",
    "Il supporto è lentissimo, ho aspettato due giorni",
    "ok never mind found it in the FAQ",
    "Ragazzi stasera torneo alle 21, chi c'è?",
];

fn corpus() -> Vec<Comment> {
    let time = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    (0..2_000)
        .map(|i| {
            // Vary the sentences a little so the automata see more than 28 distinct inputs.
            let a = SENTENCES[i % SENTENCES.len()];
            let b = SENTENCES[(i * 7 + 3) % SENTENCES.len()];
            let text = if i % 3 == 0 {
                format!("{a}. {b}")
            } else {
                a.to_owned()
            };
            Comment::new(
                i.to_string(),
                Source::Replay,
                Place::channel("general", "general"),
                Author::member(format!("u{}", i % 50), format!("member{}", i % 50)),
                text,
                time,
            )
        })
        .collect()
}

fn values() -> BTreeMap<String, String> {
    ["support_url", "community_name", "status_url"]
        .into_iter()
        .map(|k| (k.to_owned(), "https://example.com".to_owned()))
        .collect()
}

/// A deterministic word-like token (e.g. "kravotel") for generated rules.
fn token(mut n: u64) -> String {
    const SYL: [&str; 16] = [
        "ka", "ro", "vi", "tel", "man", "sor", "bu", "lin", "pe", "dra", "zo", "qui", "nes", "fa",
        "gor", "mi",
    ];
    let mut out = String::new();
    for _ in 0..3 {
        out.push_str(SYL[(n % 16) as usize]);
        n /= 16;
    }
    out
}

/// TOML for `n` rules shaped like real ones: a few words and phrases, one pattern, a `none`.
/// Some words are real chat words, so generated rules fire on the corpus as real ones would.
fn generated_library(n: usize) -> Vec<(PathBuf, String)> {
    const REAL: [&str; 12] = [
        "order",
        "ordine",
        "refund",
        "rimborso",
        "app",
        "price",
        "update",
        "supporto",
        "account",
        "spedizione",
        "event",
        "battery",
    ];
    let mut rules = String::new();
    for i in 0..n as u64 {
        let w = |k: u64| token(i * 13 + k * 7919);
        rules.push_str(&format!(
            "[[rule]]\nid = \"gen.{i}\"\nlabels = [\"{label}\"]\ntemplates = [\"t\"]\npriority = {p}\n\
             [rule.any]\nwords = [\"{a}\", \"{b} {c}\", \"{d}*\", \"{real} {e}\"]\npatterns = ['\\b{f}\\s+(?:{g}|{h})\\b']\n\
             [rule.none]\nwords = [\"{x}\"]\n\n",
            label = if i % 2 == 0 { "complaint" } else { "question" },
            p = i % 100,
            a = w(1),
            b = w(2),
            c = w(3),
            d = w(4),
            real = REAL[(i % 12) as usize],
            e = w(5),
            f = w(6),
            g = w(7),
            h = w(8),
            x = w(9),
        ));
    }
    let template = "[[template]]\nid = \"t\"\n[template.en]\nwordings = [\"Hi {author}\"]\n[template.it]\nwordings = [\"Ciao {author}\"]\n";
    vec![
        (PathBuf::from("gen/en/rules.toml"), rules),
        (PathBuf::from("gen/templates.toml"), template.to_owned()),
    ]
}

/// The naive way: every rule's words and patterns as separate regexes, tried rule by rule.
struct Naive {
    rules: Vec<(Vec<Regex>, Vec<Regex>)>,
}

impl Naive {
    fn from_sources(sources: &[(PathBuf, String)]) -> Naive {
        let mut rules = Vec::new();
        for (_, text) in sources {
            let file: toml::Value = toml::from_str(text).expect("valid toml");
            let Some(list) = file.get("rule").and_then(|r| r.as_array()) else {
                continue;
            };
            for rule in list {
                let group = |name: &str| -> Vec<Regex> {
                    let Some(table) = rule.get(name) else {
                        return Vec::new();
                    };
                    let words = table
                        .get("words")
                        .and_then(|w| w.as_array())
                        .cloned()
                        .unwrap_or_default();
                    let patterns = table
                        .get("patterns")
                        .and_then(|w| w.as_array())
                        .cloned()
                        .unwrap_or_default();
                    words
                        .iter()
                        .filter_map(|w| w.as_str())
                        .map(|w| {
                            let w = normalize(w).text;
                            format!(r"\b{}\b", regex::escape(w.trim_matches('*')))
                        })
                        .chain(
                            patterns
                                .iter()
                                .filter_map(|p| p.as_str())
                                .map(str::to_owned),
                        )
                        .filter_map(|p| RegexBuilder::new(&p).unicode(false).build().ok())
                        .collect()
                };
                let mut positive = group("any");
                positive.extend(group("all"));
                if let Some(lex) = rule
                    .get("lexicon")
                    .and_then(|l| l.get("weights"))
                    .and_then(|w| w.as_table())
                {
                    for word in lex.keys() {
                        let w = normalize(word).text;
                        if let Ok(re) = RegexBuilder::new(&format!(
                            r"\b{}\b",
                            regex::escape(w.trim_matches('*'))
                        ))
                        .unicode(false)
                        .build()
                        {
                            positive.push(re);
                        }
                    }
                }
                rules.push((positive, group("none")));
            }
        }
        Naive { rules }
    }

    fn fired(&self, comment: &Comment) -> usize {
        let text = normalize(&comment.text).text;
        self.rules
            .iter()
            .filter(|(pos, none)| {
                pos.iter().any(|r| r.is_match(text.as_bytes()))
                    && !none.iter().any(|r| r.is_match(text.as_bytes()))
            })
            .count()
    }
}

fn shipped_sources() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("rules")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("rules folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).expect("rule file");
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

struct Case {
    name: &'static str,
    library: Library,
    naive: Naive,
}

fn cases() -> Vec<Case> {
    let shipped = shipped_sources();
    let gen100 = generated_library(100);
    let gen1000 = generated_library(1000);
    let load = |dir: &str, s: &[(PathBuf, String)]| {
        Library::from_sources(Path::new(dir), s, &values()).expect("library compiles")
    };
    vec![
        Case {
            name: "shipped",
            library: load("rules", &shipped),
            naive: Naive::from_sources(&shipped),
        },
        Case {
            name: "generated-100",
            library: load("gen", &gen100),
            naive: Naive::from_sources(&gen100),
        },
        Case {
            name: "generated-1000",
            library: load("gen", &gen1000),
            naive: Naive::from_sources(&gen1000),
        },
    ]
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let options = TriageOptions::default();
    let mut group = c.benchmark_group("triage");
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(20);
    for case in cases() {
        group.bench_function(format!("{}/single-pass", case.name), |b| {
            b.iter(|| {
                for comment in &corpus {
                    black_box(triage(comment, &case.library, &options));
                }
            })
        });
        group.bench_function(format!("{}/naive", case.name), |b| {
            b.iter(|| {
                for comment in &corpus {
                    black_box(case.naive.fired(comment));
                }
            })
        });
    }
    group.finish();
}

/// Seconds per comment, best of several rounds (the least disturbed by the other core's work).
fn per_comment(mut f: impl FnMut(&Comment), corpus: &[Comment]) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let start = Instant::now();
        let mut rounds = 0;
        while start.elapsed() < Duration::from_millis(300) {
            for comment in corpus {
                f(comment);
            }
            rounds += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() / (rounds * corpus.len()) as f64);
    }
    best
}

/// The figures the targets are stated in, measured in this same run.
fn report() {
    let corpus = corpus();
    let options = TriageOptions::default();
    let mut fast = Vec::new();
    println!(
        "\n== triage throughput (one core, {} comments) ==",
        corpus.len()
    );
    for case in cases() {
        let single = per_comment(
            |c| drop(black_box(triage(c, &case.library, &options))),
            &corpus,
        );
        let naive = per_comment(
            |c| {
                black_box(case.naive.fired(c));
            },
            &corpus,
        );
        println!(
            "{:<15} {:>5} rules {:>6} terms: {:>10.0} comments/s single-pass, {:>10.0} naive, speed-up {:>6.1}x",
            case.name,
            case.library.rules.len(),
            case.library.matcher.term_count(),
            1.0 / single,
            1.0 / naive,
            naive / single
        );
        fast.push((case.name, single, naive));
    }
    let shipped = 1.0 / fast[0].1;
    let ratio = fast[2].1 / fast[1].1;
    let naive_ratio = fast[2].2 / fast[1].2;
    println!(
        "shipped library: {shipped:.0} comments/s (target >= 500000: {})",
        if shipped >= 500_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "1000 rules cost {ratio:.2}x what 100 rules cost (target <= 3x: {}); naive baseline: {naive_ratio:.2}x",
        if ratio <= 3.0 { "met" } else { "NOT met" }
    );
    // Loading: four times the rules should cost about four times the time (sixteen when a
    // step is quadratic, as rule loading once was).
    let load = |n: usize| {
        let sources = generated_library(n);
        (0..3)
            .map(|_| {
                let started = Instant::now();
                black_box(Library::from_sources(Path::new("rules"), &sources, &values()).ok());
                started.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let (small, large) = (load(2_500), load(10_000));
    println!(
        "loading 2500 rules: {small:?}, 10000 rules: {large:?}: {:.1}x (linear ~4x, quadratic ~16x)",
        large.as_secs_f64() / small.as_secs_f64().max(1e-9)
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
