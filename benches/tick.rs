//! The scheduler's tick (`announce::tick`, what every platform's clock runs each
//! `check_every`: alerts of questions past their grace, escalations of missed targets, the
//! daily digest when due) with 100,000 open comments, against the same tick with 1,000 open
//! comments as the baseline, measured in the same run (target ≤ 100 ms at 100,000).
//!
//! Each store is a SQLite file in a temporary folder, filled with a synthetic day made of
//! the demo's comments (`examples/comments.jsonl`), one every two seconds, until the open
//! comments number what is asked; their alerts are shown (as the outbox would have posted
//! them) and the targets already missed escalated, by one tick that is not measured. Then
//! the day goes on: before each measured tick fifteen more comments arrive and the clock
//! moves thirty seconds, so every tick finds targets newly missed among the open comments.
//!
//! The target refresh (`announce::TargetReadings::refresh`, what each platform's clock runs
//! before the tick: the alerts whose target line must change) is timed the same way, at both
//! sizes, after one unmeasured first check (the one after start, which reads every alert).
//!
//! Last, what `/ascolto queue` reads (the count of open comments and the oldest fifteen) is
//! timed at both sizes against reading every open comment, what it read before.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/day.rs"]
mod day;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;

use ascolto::alert::QUEUE_SHOWN;
use ascolto::announce::{self, TargetReadings};
use ascolto::app::App;
use ascolto::clock::{Clock, ManualClock};
use ascolto::lifecycle::AlertRef;
use ascolto::outbox::{Destination, Room};
use ascolto::tracker::{IngestOutcome, Ingested};

use day::Day;

/// Comments between two comments of the day.
const SPACING: i64 = 2;
/// How far the clock moves between two ticks (the default `check_every` is 30 s).
const TICK_EVERY: i64 = 30;
/// Measured ticks per size, for the report.
const TICKS: usize = 20;

/// A store with `open` comments waiting, and the day that filled it.
struct Prepared {
    open: usize,
    app: App,
    clock: Arc<ManualClock>,
    day: Day,
    /// What the platform clock remembers of the alerts' target lines.
    targets: TargetReadings,
    /// Keeps the database's folder until the end.
    _dir: tempfile::TempDir,
}

/// Ingests `comments` at the clock's time, shows every alert as the outbox would, and
/// gives the change in the number of open comments.
async fn arrive(prepared: &Prepared, comments: &[ascolto::comment::Comment]) -> isize {
    let tracker = &prepared.app.tracker;
    if let Some(last) = comments.last() {
        prepared.clock.set(last.time);
    }
    let mut change = 0isize;
    for outcome in tracker.ingest_many(comments).await.expect("ingest_many") {
        let IngestOutcome { ingested, answered } = outcome.expect("comment");
        change -= answered.len() as isize;
        if let Ingested::Flagged(stored) = ingested {
            change += 1;
            let id = &stored.comment.id;
            tracker
                .mark_alerted(
                    id,
                    AlertRef {
                        channel: "mods".into(),
                        message: id.0.clone(),
                        posted_at: prepared.clock.now(),
                    },
                )
                .await
                .expect("alert shown");
        }
    }
    change
}

async fn prepare(open: usize) -> Prepared {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("tick.db").display());
    let clock = Arc::new(ManualClock::new(day::start()));
    let app = App::build_with_store(day::settings(), &url, clock.clone())
        .await
        .expect("app");
    let mut prepared = Prepared {
        open: 0,
        app,
        clock,
        day: Day::new("t", chrono::Duration::seconds(SPACING), day::start()),
        targets: TargetReadings::default(),
        _dir: dir,
    };
    let mut waiting = 0isize;
    while waiting < open as isize {
        let comments = prepared.day.take(1_000);
        waiting += arrive(&prepared, &comments).await;
    }
    prepared.open = waiting as usize;
    prepared.app.tracker.add_room(Room {
        destination: Destination::Discord,
        channel: "mods".into(),
    });
    tick(&prepared).await;
    refresh(&mut prepared).await;
    prepared
}

async fn refresh(prepared: &mut Prepared) -> usize {
    let app = &prepared.app;
    prepared
        .targets
        .refresh(&app.tracker, &app.sla)
        .await
        .expect("target refresh")
        .len()
}

async fn tick(prepared: &Prepared) {
    let app = &prepared.app;
    announce::tick(&app.tracker, &app.sla, &app.escalation, &app.settings).await;
}

/// The day goes on by one tick's worth of comments; then one tick, timed.
async fn next_tick(prepared: &mut Prepared) -> Duration {
    let comments = prepared.day.take((TICK_EVERY / SPACING) as usize);
    arrive(prepared, &comments).await;
    // The clock is at the last comment's time: one tick's worth after the previous tick.
    let started = Instant::now();
    tick(prepared).await;
    started.elapsed()
}

/// The day goes on by one tick's worth of comments; then one target refresh, timed, and the
/// tick that follows it in a platform's check, not timed. Without that tick the day went on
/// unescalated while the refresh was measured, and the next measured tick escalated hours of
/// missed targets at once (1.3 s at 100,000 open).
async fn next_refresh(prepared: &mut Prepared) -> Duration {
    let comments = prepared.day.take((TICK_EVERY / SPACING) as usize);
    arrive(prepared, &comments).await;
    let started = Instant::now();
    refresh(prepared).await;
    let took = started.elapsed();
    tick(prepared).await;
    took
}

/// What `/ascolto queue` reads: how many wait and the oldest fifteen.
async fn queue_head(prepared: &mut Prepared) -> Duration {
    let started = Instant::now();
    let head = prepared
        .app
        .tracker
        .open_queue(QUEUE_SHOWN)
        .await
        .expect("queue");
    assert!(head.waiting >= head.oldest.len() as u64);
    started.elapsed()
}

/// What it read before: every open comment, to show fifteen (the baseline of the same run).
async fn whole_queue(prepared: &mut Prepared) -> Duration {
    let started = Instant::now();
    prepared.app.tracker.open().await.expect("queue");
    started.elapsed()
}

/// A round of work at one size, timed: what the groups and reports below measure.
type Round = for<'a> fn(
    &'a mut Prepared,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Duration> + 'a>>;

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, sizes: &mut [Prepared]) {
    let rounds: [(&str, Round); 2] = [
        ("tick", |p| Box::pin(next_tick(p))),
        ("targets", |p| Box::pin(next_refresh(p))),
    ];
    for (name, round) in rounds {
        let mut group = c.benchmark_group(name);
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(5));
        for prepared in sizes.iter_mut() {
            group.bench_function(format!("{}-open", prepared.open), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(round(prepared))).sum())
            });
        }
        group.finish();
    }
}

/// Times `TICKS` rounds of `round` at each size and prints their medians and the ratio.
fn report(title: &str, rt: &tokio::runtime::Runtime, sizes: &mut [Prepared], round: Round) {
    println!("\n== {title}, median of {TICKS} ==");
    let mut medians = Vec::new();
    for prepared in sizes.iter_mut() {
        let times: Vec<Duration> = (0..TICKS).map(|_| rt.block_on(round(prepared))).collect();
        let max = times.iter().max().copied().unwrap_or_default();
        let m = median(times);
        println!(
            "{:>7} open comments: {:>8.2} ms (slowest {:.2} ms)",
            prepared.open,
            m.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
        medians.push(m);
    }
    if let [small, large] = medians[..] {
        println!(
            "100000 open vs 1000 open: {:.1}x; at 100000: {:.2} ms (target <= 100 ms: {})",
            large.as_secs_f64() / small.as_secs_f64().max(1e-9),
            large.as_secs_f64() * 1e3,
            if large <= Duration::from_millis(100) {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut sizes = Vec::new();
    for open in [1_000, 100_000] {
        let started = Instant::now();
        let prepared = rt.block_on(prepare(open));
        println!(
            "prepared {} open comments in {:.1} s",
            prepared.open,
            started.elapsed().as_secs_f64()
        );
        sizes.push(prepared);
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &rt, &mut sizes);
    c.final_summary();

    report("scheduler tick (announce::tick)", &rt, &mut sizes, |p| {
        Box::pin(next_tick(p))
    });
    report(
        "target refresh (TargetReadings::refresh)",
        &rt,
        &mut sizes,
        |p| Box::pin(next_refresh(p)),
    );
    report(
        "moderators' queue (Tracker::open_queue: the count and the oldest 15)",
        &rt,
        &mut sizes,
        |p| Box::pin(queue_head(p)),
    );
    report(
        "baseline: every open comment (Tracker::open, what the queue read before)",
        &rt,
        &mut sizes,
        |p| Box::pin(whole_queue(p)),
    );
}
