//! A synthetic day for the pipeline's benchmarks: the demo's comments
//! (`examples/comments.jsonl`, read by the replay's own reader) over and over, each time with
//! new ids, one comment every `spacing`, as `ascolto replay` of a generated day sees them;
//! and the settings those benchmarks run it with.

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};

use ascolto::comment::{Comment, CommentId};
use ascolto::replay::{self, Limits};

/// The committed `config/default.toml`, with the shipped rule library.
pub fn settings() -> ascolto::config::Settings {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut settings =
        ascolto::config::Settings::load_with_env(&root.join("config"), Some(Default::default()))
            .expect("config/default.toml");
    settings.rules.dir = root.join("rules");
    settings
}

/// When the synthetic day starts.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
}

/// A demo comment's id in round `round` of run `run`.
fn renamed(run: &str, round: usize, id: &CommentId) -> CommentId {
    CommentId(format!("{run}-{round}-{}", id.0))
}

/// Endless comments; ids start with `run` so that several runs can share one database.
pub struct Day {
    demo: Vec<Comment>,
    run: String,
    spacing: Duration,
    next: usize,
    pub at: DateTime<Utc>,
}

impl Day {
    pub fn new(run: &str, spacing: Duration, from: DateTime<Utc>) -> Day {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/comments.jsonl");
        let reader = replay::open(&path, Limits::default()).expect("examples/comments.jsonl");
        let demo: Vec<Comment> = reader
            .filter_map(Result::ok)
            .map(|entry| entry.comment)
            .filter(|c| !c.author.is_bot)
            .collect();
        assert!(!demo.is_empty(), "examples/comments.jsonl has no comments");
        Day {
            demo,
            run: run.to_owned(),
            spacing,
            next: 0,
            at: from,
        }
    }

    /// The next `n` comments.
    pub fn take(&mut self, n: usize) -> Vec<Comment> {
        (0..n).map(|_| self.one()).collect()
    }

    fn one(&mut self) -> Comment {
        let round = self.next / self.demo.len();
        let mut comment = self.demo[self.next % self.demo.len()].clone();
        comment.id = renamed(&self.run, round, &comment.id);
        comment.reply_to = comment
            .reply_to
            .as_ref()
            .map(|to| renamed(&self.run, round, to));
        comment.time = self.at;
        self.at += self.spacing;
        self.next += 1;
        comment
    }
}
