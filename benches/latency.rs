//! Message → alert latency: the real bot (serenity, the tracker, SQLite on disk, the outbox)
//! against the fake Discord of `tests/it/support` on 127.0.0.1, timed from the moment a
//! member's message is dispatched on the gateway to the moment the fake stores the bot's
//! alert for it.
//!
//! Three loads, one run, one bot:
//! - lone: one complaint at a time, 150 ms apart (the baseline);
//! - steady: 1,000 messages a second for 5 s, one in ten a complaint;
//! - burst: 10,000 messages as fast as the fake sends them, one in ten a complaint.
//!
//! It prints p50/p99 per load and their ratio to the lone baseline, the first alert of the
//! burst, and whether the burst's alerts came in arrival order. Targets: p99 ≤ 50 ms at
//! 1,000/s; in a burst, the first alert within 100 ms and alerts in arrival order.
//!
//! `cargo bench --bench latency` (about a minute).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use ascolto::app::App;
use ascolto::clock::SystemClock;
use ascolto::config::Settings;
use support::{ids, FakeDiscord, World};

const COMPLAINT: &str = "Il mio ordine non è arrivato e nessuno mi risponde";
const CHATTER: &str = "ciao a tutti, bella giornata";

/// One load's results: latency per complaint, in arrival order.
struct Run {
    name: &'static str,
    latencies: Vec<Duration>,
    in_order: bool,
    /// Alerts posted after a later message's alert, and the largest such gap in positions.
    misplaced: usize,
    max_displacement: usize,
    wall: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends `count` messages (every `every`-th a complaint) at `rate` per second (`None`: as
/// fast as possible) and waits for every complaint's alert.
async fn load(
    fake: &FakeDiscord,
    name: &'static str,
    count: usize,
    every: usize,
    rate: Option<f64>,
) -> Run {
    let posts_before = fake.bot_posts_since(0).len();
    let mut sent: Vec<(u64, Instant)> = Vec::new();
    let start = Instant::now();
    let channels = [ids::SUPPORT, ids::GENERAL];
    for i in 0..count {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let channel = channels[i % 2];
        let author = if channel == ids::SUPPORT {
            ids::NORA
        } else {
            ids::OTTO
        };
        if i % every == 0 {
            let at = Instant::now();
            let id = fake.message_create(channel, author, COMPLAINT, None);
            sent.push((id, at));
        } else {
            fake.message_create(channel, author, CHATTER, None);
        }
    }
    let wanted = posts_before + sent.len();
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.bot_posts_since(0).len() < wanted && Instant::now() < deadline {
        fake.wait_for_bot_posts(wanted - 1, Duration::from_secs(5))
            .await;
    }
    let wall = start.elapsed();
    let posts = fake.bot_posts_since(posts_before);
    let arrived: HashMap<String, (usize, Instant)> = posts
        .iter()
        .enumerate()
        .map(|(i, p)| (p.label.clone(), (i, p.at)))
        .collect();
    let mut latencies = Vec::new();
    let mut positions = Vec::new();
    for (id, at) in &sent {
        match arrived.get(&format!("comment {id}")) {
            Some((position, when)) => {
                latencies.push(when.duration_since(*at));
                positions.push(*position);
            }
            None => eprintln!("{name}: no alert for {id} within the deadline"),
        }
    }
    // An alert is misplaced when a later message's alert was posted before it.
    let mut misplaced = 0;
    let mut max_displacement = 0;
    let mut latest = 0;
    for (i, &p) in positions.iter().enumerate() {
        if i > 0 && p < latest {
            misplaced += 1;
            let later = positions[..i].iter().filter(|&&q| q > p).count();
            max_displacement = max_displacement.max(later);
        }
        latest = latest.max(p);
    }
    Run {
        name,
        in_order: misplaced == 0,
        misplaced,
        max_displacement,
        latencies,
        wall,
    }
}

fn settings(fake: &FakeDiscord, dir: &std::path::Path) -> Settings {
    let vars: HashMap<String, String> = HashMap::from([
        (
            "ASCOLTO__STORE__URL".into(),
            format!("sqlite://{}", dir.join("data/ascolto.db").display()),
        ),
        (
            "ASCOLTO__RULES__DIR".into(),
            dir.join("rules").display().to_string(),
        ),
        ("ASCOLTO__DISCORD__API_BASE".into(), fake.api_base()),
        (
            "ASCOLTO__DISCORD__ALERT_CHANNEL".into(),
            ids::MODS.to_string(),
        ),
        (
            "ASCOLTO__DISCORD__MODERATOR_ROLES".into(),
            ids::MODERATOR_ROLE.to_string(),
        ),
        (
            "ASCOLTO__DISCORD__STAFF_ROLES".into(),
            ids::STAFF_ROLE.to_string(),
        ),
        ("ASCOLTO__DISCORD__BACKFILL_LIMIT".into(), "0".into()),
        ("ASCOLTO__DIGEST__ENABLED".into(), "false".into()),
        ("ASCOLTO__ESCALATION__ENABLED".into(), "false".into()),
        ("ASCOLTO__LOG__LEVEL".into(), "warn".into()),
    ]);
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    Settings::load_with_env(&config, Some(vars)).expect("bench settings")
}

/// The bot on one runtime and the fake Discord (with the load it sends) on another: Discord
/// is another machine, and the fake's work (building and checking 10,000 gateway frames in a
/// burst, answering REST calls) must not sit on the bot's runtime threads, where a loop that
/// sends a burst without awaiting held one of the bot's two workers for its whole length.
fn run() {
    let bot_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bot")
        .build()
        .expect("the bot's runtime");
    let fake_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("fake-discord")
        .build()
        .expect("the fake's runtime");
    // The fake's checks of its own output check the fake, not the bot; they are off here so
    // as not to take CPU from the bot (the bot's requests are still checked).
    let world = World {
        self_checks: false,
        ..World::default_test()
    };
    let fake = fake_rt.block_on(FakeDiscord::start(world));
    let dir = tempfile::tempdir().expect("temp dir");
    support::app::copy_fixture_rules(&dir.path().join("rules"));
    let settings = settings(&fake, dir.path());
    let token = SecretString::from(fake.token());
    // The bot's tasks go on running on the bot's runtime once `block_on` returns.
    let bot = bot_rt.block_on(async {
        let app = App::build(settings, Arc::new(SystemClock))
            .await
            .expect("app");
        ascolto::discord::start(app, token)
            .await
            .expect("bot starts")
    });
    fake_rt.block_on(fake.wait_connected(Duration::from_secs(10)));

    // Warm up (connections, caches), then the baseline one complaint at a time.
    let (lone, steady, burst) = fake_rt.block_on(async {
        load(&fake, "warm-up", 5, 1, Some(20.0)).await;
        let lone = load(&fake, "lone", 30, 1, Some(1000.0 / 150.0)).await;
        let steady = load(&fake, "steady 1,000/s", 5_000, 10, Some(1000.0)).await;
        let burst = load(&fake, "burst 10,000", 10_000, 10, None).await;
        (lone, steady, burst)
    });

    let mut sorted = lone.latencies.clone();
    sorted.sort();
    let (base50, base99) = (percentile(&sorted, 50.0), percentile(&sorted, 99.0));
    println!();
    println!(
        "{:<16} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9}  order",
        "load", "alerts", "p50 ms", "p99 ms", "max ms", "p50 ×", "p99 ×"
    );
    for run in [&lone, &steady, &burst] {
        let mut sorted = run.latencies.clone();
        sorted.sort();
        let (p50, p99) = (percentile(&sorted, 50.0), percentile(&sorted, 99.0));
        println!(
            "{:<16} {:>7} {:>10.1} {:>10.1} {:>10.1} {:>9.1} {:>9.1}  {}",
            run.name,
            run.latencies.len(),
            ms(p50),
            ms(p99),
            ms(sorted.last().copied().unwrap_or_default()),
            ms(p50) / ms(base50).max(0.001),
            ms(p99) / ms(base99).max(0.001),
            if run.in_order {
                "arrival".to_owned()
            } else {
                format!(
                    "{} misplaced (by up to {})",
                    run.misplaced, run.max_displacement
                )
            },
        );
    }
    let first = burst.latencies.first().copied().unwrap_or_default();
    println!();
    println!(
        "burst: first alert {:.1} ms after its message (target ≤ 100 ms); all {} alerts in {:.2} s",
        ms(first),
        burst.latencies.len(),
        burst.wall.as_secs_f64()
    );
    println!(
        "steady: p99 {:.1} ms (target ≤ 50 ms); run took {:.2} s",
        ms(percentile(
            &{
                let mut s = steady.latencies.clone();
                s.sort();
                s
            },
            99.0
        )),
        steady.wall.as_secs_f64()
    );
    let _ = bot_rt.block_on(bot.shutdown());
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no options.
    run();
}
