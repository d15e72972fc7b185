//! The bot's figures for monitoring, in one place: counters incremented where the thing
//! happens (the tracker ingesting a comment, the outbox delivering, retrying or giving up a
//! write, a webhook refusing a signature), the message → alert latency histogram, and which
//! channels are connected. `GET /metrics` writes them in Prometheus' text format
//! ([`Metrics::render`]) and `GET /readyz` reads the channels ([`Metrics::channels_down`]).
//!
//! One [`Metrics`] per tracker (the tracker owns it), not a process-wide registry: two
//! applications in one process (the tests) keep their own figures. Counters start at zero
//! at each start, as Prometheus expects; what must survive a restart is in the database and
//! the digest.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::comment::Source;
use crate::outbox::{Destination, OutboxKind};
use crate::rules::Label;

/// Upper bounds (seconds) of the latency histogram's buckets: a lone alert takes milliseconds,
/// a burst seconds, a platform outage minutes.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0,
];

/// What became of an approved reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReplyOutcome {
    /// Posted on the platform.
    Sent,
    /// The outbox gave it up (refused for good, or failing too long).
    GivenUp,
    /// Refused before anything was queued (past a direct message's reply window, or nowhere
    /// to post).
    Refused,
}

impl ReplyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyOutcome::Sent => "sent",
            ReplyOutcome::GivenUp => "given_up",
            ReplyOutcome::Refused => "refused",
        }
    }
}

/// A channel whose connection `/readyz` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    /// The Discord gateway.
    Discord,
    /// Telegram's long polling.
    Telegram,
    /// Meta's webhooks: their deliveries are taken in from the store.
    Meta,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Discord => "discord",
            Channel::Telegram => "telegram",
            Channel::Meta => "meta",
        }
    }
}

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket of [`LATENCY_BUCKETS`], observations at or below its bound (not cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Figures {
    ingested: BTreeMap<(&'static str, &'static str), u64>,
    alerts: BTreeMap<&'static str, u64>,
    replies: BTreeMap<ReplyOutcome, u64>,
    retries: BTreeMap<(&'static str, &'static str), u64>,
    failures: BTreeMap<(&'static str, &'static str), u64>,
    signature_failures: BTreeMap<&'static str, u64>,
    latency: Histogram,
    /// Channels started, and whether each is connected now.
    channels: BTreeMap<Channel, bool>,
}

/// The figures.
#[derive(Debug, Default)]
pub struct Metrics {
    figures: Mutex<Figures>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Figures) -> T) -> T {
        // A panic while holding the lock cannot leave the figures half-written in a way that
        // matters (each update is one increment): keep counting.
        let mut figures = self
            .figures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut figures)
    }

    /// A comment was taken in (not a duplicate), with the labels triage gave it (`none`).
    pub fn comment_ingested(&self, source: Source, labels: &[Label]) {
        self.with(|f| {
            if labels.is_empty() {
                *f.ingested.entry((source.as_str(), "none")).or_default() += 1;
            }
            for label in labels {
                *f.ingested
                    .entry((source.as_str(), label.as_str()))
                    .or_default() += 1;
            }
        });
    }

    /// An alert was posted in the moderators' room, `latency` after its comment was written.
    pub fn alert_posted(&self, room: Destination, latency: Duration) {
        self.with(|f| {
            *f.alerts.entry(room.as_str()).or_default() += 1;
            let seconds = latency.as_secs_f64();
            let h = &mut f.latency;
            if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
                h.buckets[i] += 1;
            }
            h.count += 1;
            h.sum += seconds;
        });
    }

    pub fn reply(&self, outcome: ReplyOutcome) {
        self.with(|f| *f.replies.entry(outcome).or_default() += 1);
    }

    /// A platform write failed and will be tried again.
    pub fn write_retried(&self, destination: Destination, kind: OutboxKind) {
        self.with(|f| {
            *f.retries
                .entry((destination.as_str(), kind.as_str()))
                .or_default() += 1
        });
    }

    /// A platform write was given up.
    pub fn write_failed(&self, destination: Destination, kind: OutboxKind) {
        self.with(|f| {
            *f.failures
                .entry((destination.as_str(), kind.as_str()))
                .or_default() += 1
        });
    }

    /// A webhook delivery was refused: unsigned or mis-signed.
    pub fn signature_failed(&self, channel: Channel) {
        self.with(|f| *f.signature_failures.entry(channel.as_str()).or_default() += 1);
    }

    /// A channel says whether it is connected; the first call registers it, so a channel that
    /// started but never connected is not ready.
    pub fn channel_connected(&self, channel: Channel, connected: bool) {
        self.with(|f| {
            f.channels.insert(channel, connected);
        });
    }

    /// The channels started but not connected now.
    pub fn channels_down(&self) -> Vec<Channel> {
        self.with(|f| {
            f.channels
                .iter()
                .filter(|(_, up)| !**up)
                .map(|(c, _)| *c)
                .collect()
        })
    }

    /// Everything, in Prometheus' text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        self.with(|f| {
            let mut out = String::new();
            family(
                &mut out,
                "ascolto_comments_ingested_total",
                "Comments taken in, by source platform and triage label (none: no label).",
                "counter",
                f.ingested.iter().map(|((channel, label), n)| {
                    (format!("channel=\"{channel}\",label=\"{label}\""), *n)
                }),
            );
            family(
                &mut out,
                "ascolto_alerts_total",
                "Alerts posted in the moderators' room, by the room's platform.",
                "counter",
                f.alerts
                    .iter()
                    .map(|(room, n)| (format!("room=\"{room}\""), *n)),
            );
            family(
                &mut out,
                "ascolto_replies_total",
                "Approved replies, by outcome (sent, given_up, refused before queueing).",
                "counter",
                f.replies
                    .iter()
                    .map(|(o, n)| (format!("outcome=\"{}\"", o.as_str()), *n)),
            );
            family(
                &mut out,
                "ascolto_platform_write_retries_total",
                "Platform writes from the outbox that failed and were retried.",
                "counter",
                f.retries
                    .iter()
                    .map(|((d, k), n)| (format!("destination=\"{d}\",kind=\"{k}\""), *n)),
            );
            family(
                &mut out,
                "ascolto_platform_write_failures_total",
                "Platform writes from the outbox given up.",
                "counter",
                f.failures
                    .iter()
                    .map(|((d, k), n)| (format!("destination=\"{d}\",kind=\"{k}\""), *n)),
            );
            family(
                &mut out,
                "ascolto_webhook_signature_failures_total",
                "Webhook deliveries refused for a missing or wrong signature.",
                "counter",
                f.signature_failures
                    .iter()
                    .map(|(c, n)| (format!("channel=\"{c}\""), *n)),
            );
            family(
                &mut out,
                "ascolto_channel_connected",
                "1 while a started channel is connected, else 0.",
                "gauge",
                f.channels
                    .iter()
                    .map(|(c, up)| (format!("channel=\"{}\"", c.as_str()), u64::from(*up))),
            );
            let name = "ascolto_alert_latency_seconds";
            let _ = writeln!(
                out,
                "# HELP {name} From a comment's time to its alert posted in the moderators' room."
            );
            let _ = writeln!(out, "# TYPE {name} histogram");
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(f.latency.buckets) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", f.latency.count);
            let _ = writeln!(out, "{name}_sum {}", f.latency.sum);
            let _ = writeln!(out, "{name}_count {}", f.latency.count);
            out
        })
    }
}

/// One metric family: its help and type lines, then one sample per label set.
fn family(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    samples: impl Iterator<Item = (String, u64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_written_with_their_labels() {
        let m = Metrics::new();
        m.comment_ingested(Source::Facebook, &[Label::Complaint, Label::Urgent]);
        m.comment_ingested(Source::Facebook, &[Label::Complaint]);
        m.comment_ingested(Source::Discord, &[]);
        m.reply(ReplyOutcome::Sent);
        m.write_retried(Destination::Meta, OutboxKind::Reply);
        m.signature_failed(Channel::Meta);
        let text = m.render();
        for line in [
            "ascolto_comments_ingested_total{channel=\"facebook\",label=\"complaint\"} 2",
            "ascolto_comments_ingested_total{channel=\"facebook\",label=\"urgent\"} 1",
            "ascolto_comments_ingested_total{channel=\"discord\",label=\"none\"} 1",
            "ascolto_replies_total{outcome=\"sent\"} 1",
            "ascolto_platform_write_retries_total{destination=\"meta\",kind=\"reply\"} 1",
            "ascolto_webhook_signature_failures_total{channel=\"meta\"} 1",
            "# TYPE ascolto_alert_latency_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn the_histogram_is_cumulative_and_counts_the_overflow() {
        let m = Metrics::new();
        m.alert_posted(Destination::Discord, Duration::from_millis(7));
        m.alert_posted(Destination::Discord, Duration::from_millis(300));
        m.alert_posted(Destination::Discord, Duration::from_secs(900));
        let text = m.render();
        for line in [
            "ascolto_alert_latency_seconds_bucket{le=\"0.01\"} 1",
            "ascolto_alert_latency_seconds_bucket{le=\"0.25\"} 1",
            "ascolto_alert_latency_seconds_bucket{le=\"0.5\"} 2",
            "ascolto_alert_latency_seconds_bucket{le=\"300\"} 2",
            "ascolto_alert_latency_seconds_bucket{le=\"+Inf\"} 3",
            "ascolto_alert_latency_seconds_count 3",
            "ascolto_alerts_total{room=\"discord\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn a_channel_started_but_not_connected_is_down() {
        let m = Metrics::new();
        assert!(m.channels_down().is_empty());
        m.channel_connected(Channel::Discord, false);
        m.channel_connected(Channel::Meta, true);
        assert_eq!(m.channels_down(), [Channel::Discord]);
        m.channel_connected(Channel::Discord, true);
        assert!(m.channels_down().is_empty());
        assert!(m
            .render()
            .contains("ascolto_channel_connected{channel=\"discord\"} 1"));
    }
}
