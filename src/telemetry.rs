//! Logging: one `tracing` subscriber for the binary, set up in one place.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Logs to standard error with `RUST_LOG` if set, else `default_filter`. Colours only when
/// standard error is a terminal: a log file or a service manager's journal gets plain text.
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
