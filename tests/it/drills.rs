//! Crash drills: the real `ascolto` binary killed with SIGKILL at random points, then started
//! again, as a power cut or an OOM kill would do it. Whatever the moment, nothing may be lost
//! or doubled and the database must stay sound.
//!
//! The kill points come from a seeded generator (the seed is printed), so a failing run can
//! be repeated exactly with `ASCOLTO_DRILL_SEED=<seed>`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection, Row, SqliteConnection};

use crate::support::app::TestDir;
use crate::support::{ids, FakeDiscord, World};

/// A small deterministic generator (xorshift64*), so kill points vary from run to run of the
/// drill yet can be replayed from the printed seed.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("ASCOLTO_DRILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            | 1;
        eprintln!("crash drill seed: ASCOLTO_DRILL_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A duration in `low..high`.
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_millis().max(1) as u64;
        low + Duration::from_millis(self.next() % span)
    }
}

fn ascolto(dir: &TestDir, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ascolto"));
    cmd.current_dir(dir.dir.path())
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
        .args(args)
        .env("ASCOLTO__RULES__DIR", dir.rules())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

/// SIGKILL: no destructor, no flush, no graceful shutdown.
fn kill_hard(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// What a database holds once the dust settles: every comment's state, how many audit lines
/// it has, and SQLite's own verdict on the file.
struct Snapshot {
    states: BTreeMap<String, String>,
    actions: HashMap<String, i64>,
    integrity: String,
}

async fn snapshot(db: &str) -> Snapshot {
    let mut conn = SqliteConnection::connect(db).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let states = sqlx::query("SELECT id, state FROM comments")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>("id"), r.get::<String, _>("state")))
        .collect();
    let actions = sqlx::query("SELECT comment_id, COUNT(*) AS n FROM actions GROUP BY comment_id")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>("comment_id"), r.get::<i64, _>("n")))
        .collect();
    Snapshot {
        states,
        actions,
        integrity,
    }
}

/// A day of comments in one file: complaints, questions, chatter, and staff answers that
/// close some of them, ten seconds apart.
fn write_day(path: &Path, count: usize) {
    let texts = [
        "My parcel is still not here",
        "How do I change my address?",
        "lovely stream today",
        "The lid is broken and nobody answers",
        "Il mio ordine non è arrivato",
        "thanks all, see you tomorrow",
    ];
    let mut lines = Vec::with_capacity(count);
    for i in 0..count {
        let time = chrono::DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z").unwrap()
            + chrono::Duration::seconds(10 * i as i64);
        let time = time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let line = if i % 7 == 6 {
            serde_json::json!({
                "id": format!("c{i}"), "time": time, "channel": "support", "author": "sam",
                "staff": true, "reply_to": format!("c{}", i - 6),
                "text": "Looking into it now, sorry for the wait."
            })
        } else {
            serde_json::json!({
                "id": format!("c{i}"), "time": time, "channel": "support",
                "author": format!("member{}", i % 13), "text": texts[i % texts.len()]
            })
        };
        lines.push(line.to_string());
    }
    std::fs::write(path, lines.join("\n")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_killed_at_random_points_ends_as_if_never_interrupted() {
    let mut rng = Rng::from_env();
    let dir = TestDir::new();
    let day = dir.dir.path().join("day.jsonl");
    write_day(&day, 300);
    let day = day.display().to_string();
    let reference = format!("sqlite://{}", dir.dir.path().join("reference.db").display());
    let crashed = dir.db();

    let started = Instant::now();
    let status = ascolto(&dir, &["replay", &day, "--db", &reference], &[])
        .status()
        .unwrap();
    assert!(status.success(), "the uninterrupted replay runs");
    let whole = started.elapsed();

    for _ in 0..6 {
        let mut child = ascolto(&dir, &["replay", &day, "--db", &crashed], &[])
            .spawn()
            .unwrap();
        std::thread::sleep(rng.between(whole / 10, whole * 9 / 10));
        kill_hard(&mut child);
    }
    let status = ascolto(&dir, &["replay", &day, "--db", &crashed], &[])
        .status()
        .unwrap();
    assert!(status.success(), "the replay after the crashes runs");

    let want = snapshot(&reference).await;
    let got = snapshot(&crashed).await;
    assert_eq!(got.integrity, "ok");
    assert_eq!(want.states.len(), 300);
    assert_eq!(
        got.states, want.states,
        "every comment once, in the same state"
    );
    assert_eq!(got.actions, want.actions, "no audit line lost or doubled");
}

/// Alert messages in the moderators' channel, by the comment id in their footer.
fn alerts_by_comment(fake: &FakeDiscord) -> HashMap<String, usize> {
    let mut alerts = HashMap::new();
    for message in fake.posted_messages(ids::MODS) {
        if let Some(footer) = message["embeds"][0]["footer"]["text"].as_str() {
            if let Some(id) = footer.strip_prefix("comment ") {
                *alerts.entry(id.to_owned()).or_insert(0) += 1;
            }
        }
    }
    alerts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_killed_at_random_points_alerts_every_complaint_exactly_once() {
    let mut rng = Rng::from_env();
    let fake = FakeDiscord::start(World::default_test()).await;
    let dir = TestDir::new();
    let env = [
        ("DISCORD_TOKEN", fake.token()),
        ("ASCOLTO__STORE__URL", dir.db()),
        ("ASCOLTO__DISCORD__API_BASE", fake.api_base()),
        ("ASCOLTO__DISCORD__ALERT_CHANNEL", ids::MODS.to_string()),
        (
            "ASCOLTO__DISCORD__MODERATOR_ROLES",
            ids::MODERATOR_ROLE.to_string(),
        ),
        ("ASCOLTO__DISCORD__STAFF_ROLES", ids::STAFF_ROLE.to_string()),
        ("ASCOLTO__DISCORD__BACKFILL_LIMIT", "100".to_owned()),
        ("ASCOLTO__DIGEST__ENABLED", "false".to_owned()),
    ];
    let complaints = [
        "Il mio ordine non è arrivato",
        "My parcel is still not here",
        "The lid is broken",
    ];
    let mut flagged = Vec::new();
    let mut chatter = Vec::new();
    for round in 0..4 {
        let identified = fake.identify_count();
        let mut child = ascolto(&dir, &["run"], &env).spawn().unwrap();
        fake.wait_until("the bot to identify", Duration::from_secs(20), |f| {
            f.identify_count() > identified
        })
        .await;
        fake.wait_connected(Duration::from_secs(20)).await;
        // Messages while it runs; the kill lands somewhere among them.
        let kill_after = rng.between(Duration::from_millis(5), Duration::from_millis(400));
        let deadline = Instant::now() + kill_after;
        let mut i = 0;
        while Instant::now() < deadline || i < 3 {
            let (author, channel) = if i % 2 == 0 {
                (ids::NORA, ids::SUPPORT)
            } else {
                (ids::OTTO, ids::GENERAL)
            };
            if i % 3 == 2 {
                chatter.push(fake.message_create(channel, author, "lovely stream today", None));
            } else {
                let text = complaints[(round + i) % complaints.len()];
                flagged.push(fake.message_create(channel, author, text, None));
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        kill_hard(&mut child);
        // And some while it is down: catching up must find them.
        flagged.push(fake.message_create(ids::SUPPORT, ids::NORA, complaints[0], None));
    }

    let mut child = ascolto(&dir, &["run"], &env).spawn().unwrap();
    fake.wait_until(
        "every complaint to be alerted",
        Duration::from_secs(150),
        |f| {
            let alerts = alerts_by_comment(f);
            flagged
                .iter()
                .all(|id| alerts.contains_key(&id.to_string()))
        },
    )
    .await;
    // A moment more, for any late double to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill_hard(&mut child);

    let alerts = alerts_by_comment(&fake);
    for id in &flagged {
        assert_eq!(
            alerts.get(&id.to_string()),
            Some(&1),
            "complaint {id} alerted exactly once: {alerts:?}"
        );
    }
    for id in &chatter {
        assert!(
            !alerts.contains_key(&id.to_string()),
            "{id} is not a complaint"
        );
    }
    let stored = snapshot(&dir.db()).await;
    assert_eq!(stored.integrity, "ok");
    for id in flagged.iter().chain(&chatter) {
        assert!(
            stored.states.contains_key(&id.to_string()),
            "message {id} was stored"
        );
    }
}
