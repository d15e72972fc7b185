//! Comments stored per second through the tracker: the whole pipeline (triage, the comment,
//! its verdict and draft, its alert's outbox rows, answers in the channel), on a SQLite file
//! in a temporary folder, one `Tracker::ingest` at a time (the baseline) against
//! `Tracker::ingest_many` in batches, measured in the same run.
//!
//! The comments are a synthetic day made of the demo's (`examples/comments.jsonl`), each its
//! own row with a new id, ten seconds apart. A moderators' room is named, so every flagged
//! comment queues its alert as the live bot does.
//!
//! A second backend is one more URL: with `ASCOLTO_BENCH_POSTGRES_URL` set, the same
//! figures are measured on it (ids carry the run's time, so runs can share a database).
//! The run ends with comments per second for each path (the best of several rounds, each
//! round's comments new to the database, which grows as the bot's does) and the ratio
//! (target ≥ 5,000/s).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/day.rs"]
mod day;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};

use ascolto::app::App;
use ascolto::clock::ManualClock;
use ascolto::outbox::{Destination, Room};

use day::Day;

/// Comments per `ingest_many` call: what a backfill page or a replay step hands over.
const BATCH: usize = 500;
/// Comments in each measured round of each path, and the rounds: the best round is kept,
/// the one least disturbed by whatever else the two cores were doing.
const ONE_BY_ONE: usize = 500;
const BATCHED: usize = 5_000;
const ROUNDS: usize = 5;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The application on `url`, with a Discord moderators' room so alerts are queued.
async fn app(url: &str, clock: Arc<ManualClock>) -> Result<App, String> {
    let app = App::build_with_store(day::settings(), url, clock)
        .await
        .map_err(|e| e.to_string())?;
    app.tracker.add_room(Room {
        destination: Destination::Discord,
        channel: "mods".into(),
    });
    Ok(app)
}

/// A name no earlier run used, for comment ids.
fn run_name(path: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{path}{nanos}")
}

/// Stores `n` comments one `ingest` at a time; comments per second.
async fn one_by_one(app: &App, clock: &ManualClock, n: usize) -> f64 {
    let mut day = Day::new(
        &run_name("one"),
        chrono::Duration::seconds(10),
        day::start(),
    );
    let comments = day.take(n);
    let started = Instant::now();
    for comment in &comments {
        clock.set(comment.time);
        app.tracker.ingest(comment).await.expect("ingest");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Stores `n` comments through `ingest_many`, `BATCH` at a time; comments per second.
async fn batched(app: &App, clock: &ManualClock, n: usize) -> f64 {
    let mut day = Day::new(
        &run_name("many"),
        chrono::Duration::seconds(10),
        day::start(),
    );
    let comments = day.take(n);
    let started = Instant::now();
    for batch in comments.chunks(BATCH) {
        if let Some(last) = batch.last() {
            clock.set(last.time);
        }
        for outcome in app.tracker.ingest_many(batch).await.expect("ingest_many") {
            outcome.expect("comment");
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("criterion.db").display());
    let clock = Arc::new(ManualClock::new(day::start()));
    let app = rt.block_on(app(&url, clock.clone())).expect("app");
    let mut day = Day::new(&run_name("c"), chrono::Duration::seconds(10), day::start());
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("one-at-a-time/500", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let comments = day.take(BATCH);
                let started = Instant::now();
                rt.block_on(async {
                    for comment in &comments {
                        clock.set(comment.time);
                        app.tracker.ingest(comment).await.expect("ingest");
                    }
                });
                spent += started.elapsed();
            }
            spent
        })
    });
    group.bench_function("ingest_many/500", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let comments = day.take(BATCH);
                if let Some(last) = comments.last() {
                    clock.set(last.time);
                }
                let started = Instant::now();
                rt.block_on(app.tracker.ingest_many(&comments))
                    .expect("ingest_many");
                spent += started.elapsed();
            }
            spent
        })
    });
    group.finish();
}

/// Both paths on one backend, each on its own database when it is a SQLite file.
fn report_backend(rt: &tokio::runtime::Runtime, name: &str, url_for: impl Fn(&str) -> String) {
    let measure = |path: &str, n: usize| -> Result<f64, String> {
        rt.block_on(async {
            let clock = Arc::new(ManualClock::new(day::start()));
            let app = app(&url_for(path), clock.clone()).await?;
            let mut best = 0f64;
            for _ in 0..ROUNDS {
                let rate = if path == "one" {
                    one_by_one(&app, &clock, n).await
                } else {
                    batched(&app, &clock, n).await
                };
                best = best.max(rate);
            }
            Ok(best)
        })
    };
    let (single, many) = match (measure("one", ONE_BY_ONE), measure("many", BATCHED)) {
        (Ok(single), Ok(many)) => (single, many),
        (Err(e), _) | (_, Err(e)) => {
            println!("{name}: not measured: {e}");
            return;
        }
    };
    println!(
        "{name}: {single:>8.0} comments/s one ingest at a time (best of {ROUNDS} rounds of {ONE_BY_ONE}), {many:>8.0} comments/s through ingest_many in batches of {BATCH} (best of {ROUNDS} rounds of {BATCHED}): {:.1}x (target >= 5000/s: {})",
        many / single,
        if many >= 5_000.0 { "met" } else { "NOT met" }
    );
}

fn report() {
    let rt = runtime();
    println!(
        "\n== comments stored per second through the tracker (triage, store, alert outbox rows) =="
    );
    let dir = tempfile::tempdir().expect("temporary folder");
    report_backend(&rt, "sqlite", |path| {
        format!(
            "sqlite://{}",
            dir.path().join(format!("{path}.db")).display()
        )
    });
    match std::env::var("ASCOLTO_BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => report_backend(&rt, "postgres", |_| url.clone()),
        _ => println!(
            "postgres: skipped (set ASCOLTO_BENCH_POSTGRES_URL=postgres://… to measure it)"
        ),
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
