//! Logging: one `tracing` subscriber for the binary, set up in one place, and the progress
//! report of long one-shot commands (replay, eval).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

/// Logs to standard error with `RUST_LOG` if set, else `default_filter`. Colours only when
/// standard error is a terminal: a log file or a service manager's journal gets plain text.
pub fn init(default_filter: &str) {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // PostgreSQL's notices (the migrator's "relation already exists, skipping" at every
    // start) are the server talking to itself: shown only when asked for by name.
    let asked = std::env::var("RUST_LOG").unwrap_or_else(|_| default_filter.to_owned());
    if !asked.contains("sqlx::postgres::notice") {
        if let Ok(quiet) = "sqlx::postgres::notice=warn".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Progress of a long command on standard error: on a terminal one line rewritten in place a
/// few times a second; otherwise (a log file, a pipe) a plain line every ten seconds, since
/// carriage returns would fill a file with noise.
pub struct Progress {
    what: &'static str,
    terminal: bool,
    started: Instant,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    /// `what` names the items counted ("comments", "rows").
    pub fn new(what: &'static str) -> Progress {
        Progress {
            what,
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
            drawn: false,
        }
    }

    /// `done` items so far; cheap to call for every item.
    pub fn tick(&mut self, done: usize) {
        let every = if self.terminal {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(10)
        };
        let now = Instant::now();
        // The first report waits a full period: short runs print nothing.
        let last = *self.last.get_or_insert(self.started);
        if now.duration_since(last) < every {
            return;
        }
        self.last = Some(now);
        let rate = done as f64 / now.duration_since(self.started).as_secs_f64().max(1e-3);
        let line = format!("{done} {} ({rate:.0}/s)", self.what);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Clears the in-place line, so what follows starts on a clean line.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}
