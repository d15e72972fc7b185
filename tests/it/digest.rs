//! Response-time targets, escalations and the daily digest, driven through the public API with
//! the application built as `main` builds it, a real SQLite file in a temporary folder and a
//! manual clock (nothing sleeps).

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use ascolto::alert::AlertView;
use ascolto::app::App;
use ascolto::clock::{Clock, ManualClock};
use ascolto::comment::{Author, Comment, CommentId, Place, Source};
use ascolto::digest::{self, digest_due, DigestWindow, CHART_SIZE};
use ascolto::discord::markdown::{jump_link, DiscordRoom, MESSAGE_LIMIT};
use ascolto::escalation::due_escalations;
use ascolto::sla::SlaStatus;
use ascolto::tracker::{Ingested, Moderator, Tracker};

use crate::support::app::{t0, TestApp, TestDir};

/// The digest keeps this far under Discord's limit, leaving room for the adapter's additions.
const MARKDOWN_LIMIT: usize = MESSAGE_LIMIT - 100;

struct Fixture {
    dir: TestDir,
    clock: ManualClock,
    app: App,
    tracker: Arc<Tracker>,
}

async fn fixture_with(env: &[(&str, &str)]) -> Fixture {
    let t = TestApp::start(env).await;
    Fixture {
        dir: t.dir,
        clock: t.clock,
        tracker: t.app.tracker.clone(),
        app: t.app,
    }
}

impl Fixture {
    /// The same database opened again, as after a restart or by a second process.
    async fn restart(&self) -> App {
        self.dir.app(&[], Arc::new(self.clock.clone())).await
    }
}

fn comment(id: &str, author: &str, text: &str, time: DateTime<Utc>) -> Comment {
    let place = Place {
        guild: Some("1".into()),
        ..Place::channel("100", "support")
    };
    // Written as the Discord adapter writes it, link included.
    Comment::new(
        id,
        Source::Discord,
        place,
        Author::member(format!("u-{author}"), author),
        text,
        time,
    )
    .with_link(Some(jump_link(Some("1"), "100", id)))
}

fn staff_reply(id: &str, to: &str, time: DateTime<Utc>) -> Comment {
    let mut c = comment(id, "sam_staff", "Hi, looking into it now.", time);
    c.author.is_staff = true;
    c.reply_to = Some(CommentId(to.into()));
    c
}

fn mia() -> Moderator {
    Moderator {
        id: "u-mia".into(),
        name: "Mia".into(),
    }
}

/// Ingests at the comment's time, as a live adapter would.
async fn ingest(f: &Fixture, c: &Comment) {
    f.clock.set(c.time);
    f.tracker.ingest(c).await.unwrap();
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

fn ids(escalations: &[ascolto::escalation::Escalation]) -> Vec<&str> {
    escalations
        .iter()
        .map(|e| e.comment_id.0.as_str())
        .collect()
}

async fn a_missed_target_is_escalated_once_even_after_a_restart() {
    let f = fixture_with(&[]).await;
    let sla = &*f.app.sla;
    let policy = &*f.app.escalation;
    ingest(
        &f,
        &comment("1", "nora", "My parcel is still not here", t0()),
    )
    .await;

    f.clock.set(t0() + minutes(29));
    assert!(due_escalations(&f.tracker, sla, policy)
        .await
        .unwrap()
        .is_empty());
    f.clock.set(t0() + minutes(30));
    let first = due_escalations(&f.tracker, sla, policy).await.unwrap();
    assert_eq!(ids(&first), ["1"]);
    assert_eq!(first[0].ping, None, "no role configured: no ping");
    assert!(!first[0].over_budget);
    assert!(first[0]
        .to_markdown(&DiscordRoom)
        .contains("target 30 min missed by 0 min"));

    f.clock.set(t0() + minutes(45));
    assert!(due_escalations(&f.tracker, sla, policy)
        .await
        .unwrap()
        .is_empty());
    // Another process (or the bot after a restart) on the same database agrees.
    let reopened = f.restart().await.tracker;
    assert!(due_escalations(&reopened, sla, policy)
        .await
        .unwrap()
        .is_empty());
    let recorded = reopened.store().escalations_since(t0()).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].deadline, t0() + minutes(30));

    // Answered comments are never escalated, however late.
    ingest(
        &f,
        &comment("2", "ugo", "The lid is broken", t0() + minutes(50)),
    )
    .await;
    ingest(&f, &staff_reply("3", "2", t0() + minutes(60))).await;
    f.clock.set(t0() + Duration::hours(5));
    assert!(due_escalations(&f.tracker, sla, policy)
        .await
        .unwrap()
        .is_empty());
}

async fn breaches_older_than_a_day_are_recorded_without_posting() {
    let f = fixture_with(&[("ASCOLTO__ESCALATION__ROLE_ID", "777")]).await;
    let sla = &*f.app.sla;
    let policy = &*f.app.escalation;
    ingest(
        &f,
        &comment("old", "nora", "My parcel is still not here", t0()),
    )
    .await;
    // Targets switched on (or the bot back) three days later, with a fresh breach too.
    let later = t0() + Duration::days(3);
    ingest(
        &f,
        &comment("new", "ugo", "It is broken", later - minutes(40)),
    )
    .await;
    f.clock.set(later);
    let due = due_escalations(&f.tracker, sla, policy).await.unwrap();
    assert_eq!(ids(&due), ["new"]);
    assert_eq!(due[0].ping, Some(777));
    let recorded = f.tracker.store().escalations_since(t0()).await.unwrap();
    let old = recorded.iter().find(|e| e.comment.0 == "old").unwrap();
    assert!(!old.pinged, "a stale breach never spends the ping budget");
    assert!(due_escalations(&f.tracker, sla, policy)
        .await
        .unwrap()
        .is_empty());
}

async fn pings_stay_within_the_hourly_budget_and_the_rest_is_posted_quietly() {
    let f = fixture_with(&[
        ("ASCOLTO__ESCALATION__ROLE_ID", "777"),
        ("ASCOLTO__ESCALATION__MAX_PINGS_PER_HOUR", "2"),
    ])
    .await;
    let sla = &*f.app.sla;
    let policy = &*f.app.escalation;
    for (i, author) in ["ann", "bob", "cy"].iter().enumerate() {
        let at = t0() + minutes(i as i64);
        ingest(&f, &comment(&format!("c{i}"), author, "It is broken", at)).await;
    }
    f.clock.set(t0() + minutes(40));
    let burst = due_escalations(&f.tracker, sla, policy).await.unwrap();
    // Oldest deadline first: the two longest waits get the pings.
    assert_eq!(ids(&burst), ["c0", "c1", "c2"]);
    let pings: Vec<_> = burst.iter().map(|e| e.ping).collect();
    assert_eq!(pings, [Some(777), Some(777), None]);
    assert!(burst[0].to_markdown(&DiscordRoom).starts_with("<@&777> "));
    assert!(burst[2].over_budget);
    assert!(!burst[2].to_markdown(&DiscordRoom).contains("<@&"));

    // Within the same rolling hour a new breach is still quiet...
    ingest(
        &f,
        &comment("c3", "dee", "Still not here", t0() + minutes(50)),
    )
    .await;
    f.clock.set(t0() + minutes(80));
    let quiet = due_escalations(&f.tracker, sla, policy).await.unwrap();
    assert_eq!((ids(&quiet), quiet[0].ping), (vec!["c3"], None));
    // ...and once the hour since the pings has passed, the role is pinged again.
    ingest(
        &f,
        &comment("c4", "eve", "Still not here", t0() + minutes(75)),
    )
    .await;
    f.clock.set(t0() + minutes(105));
    let later = due_escalations(&f.tracker, sla, policy).await.unwrap();
    assert_eq!((ids(&later), later[0].ping), (vec!["c4"], Some(777)));
    let pinged = f
        .tracker
        .store()
        .escalations_since(t0())
        .await
        .unwrap()
        .iter()
        .filter(|e| e.pinged)
        .count();
    assert_eq!(pinged, 3);
}

async fn outside_business_hours_the_clock_waits_for_monday() {
    let f = fixture_with(&[
        ("ASCOLTO__SLA__TIME_ZONE", "Europe/Rome"),
        ("ASCOLTO__SLA__BUSINESS_HOURS__ENABLED", "true"),
        ("ASCOLTO__SLA__TARGETS__QUESTION", "30m"),
    ])
    .await;
    let sla = &*f.app.sla;
    let policy = &*f.app.escalation;
    // Friday 16:45 in Rome (15:45 UTC).
    let asked = Utc.with_ymd_and_hms(2026, 11, 20, 15, 45, 0).unwrap();
    ingest(&f, &comment("q", "tom", "does it ship to Canada?", asked)).await;
    let stored = f
        .tracker
        .store()
        .comment(&CommentId("q".into()))
        .await
        .unwrap()
        .unwrap();
    let view =
        AlertView::new(&stored, asked + minutes(5)).with_sla(&stored, sla, asked + minutes(5));
    assert!(
        view.to_text()
            .contains("⏱ target 30 min: 25 min left (due Mon 09:15)"),
        "{}",
        view.to_text()
    );

    let monday_0914 = Utc.with_ymd_and_hms(2026, 11, 23, 8, 14, 0).unwrap();
    f.clock.set(monday_0914);
    assert!(due_escalations(&f.tracker, sla, policy)
        .await
        .unwrap()
        .is_empty());
    let view = AlertView::new(&stored, monday_0914).with_sla(&stored, sla, monday_0914);
    assert_eq!(view.sla.as_ref().unwrap().status, SlaStatus::Nearing);
    assert!(view.to_text().contains("⚠ target 30 min: 1 min left"));
    f.clock.set(monday_0914 + minutes(1));
    let due = due_escalations(&f.tracker, sla, policy).await.unwrap();
    assert_eq!(ids(&due), ["q"]);
    // 64 hours of wall clock, but only 30 minutes of business time: missed by nothing yet.
    assert!(
        due[0].to_text().contains("missed by 0 min"),
        "{}",
        due[0].to_text()
    );
}

/// A day in a small community, through the tracker: what the digest must report.
async fn the_digest_reports_the_day_from_the_store() {
    let f = fixture_with(&[]).await;
    let s = &f.app.settings;
    let sla = &*f.app.sla;
    let policy = &*f.app.escalation;
    let day = |m: i64| t0() + minutes(m);

    // Answered by staff after 10 and 40 minutes (first responses).
    ingest(&f, &comment("a1", "ann", "My order never arrived", day(0))).await;
    ingest(&f, &staff_reply("s1", "a1", day(10))).await;
    ingest(&f, &comment("a2", "bob", "The charger is broken", day(20))).await;
    ingest(&f, &staff_reply("s2", "a2", day(60))).await;
    // Approved and edited drafts, after 20 and 90 minutes.
    ingest(&f, &comment("a3", "cy", "Parcel still not here", day(30))).await;
    f.clock.set(day(50));
    let claim = f
        .tracker
        .claim_reply(&CommentId("a3".into()), &mia(), None)
        .await
        .unwrap();
    f.tracker.complete_reply(&claim, None).await.unwrap();
    ingest(&f, &comment("a4", "dee", "how do refunds work?", day(40))).await;
    f.clock.set(day(130));
    let claim = f
        .tracker
        .claim_reply(&CommentId("a4".into()), &mia(), Some("Here is how.".into()))
        .await
        .unwrap();
    f.tracker.complete_reply(&claim, None).await.unwrap();
    // Dismissed (not a first response), and one left waiting for hours.
    ingest(&f, &comment("a5", "eve", "this does not work?", day(140))).await;
    f.clock.set(day(150));
    f.tracker
        .dismiss(&CommentId("a5".into()), &mia(), None)
        .await
        .unwrap();
    ingest(
        &f,
        &comment("old", "fay", "I will call my lawyer", day(160)),
    )
    .await;
    // Recent ones; a clear comment that is not counted anywhere.
    ingest(&f, &comment("q1", "gus", "any news on the beta?", day(500))).await;
    ingest(&f, &comment("ok", "hal", "lovely stream today", day(505))).await;
    ingest(&f, &comment("q2", "ida", "is the shop open?", day(590))).await;
    f.clock.set(day(400));
    let escalated = due_escalations(&f.tracker, sla, policy).await.unwrap();
    assert_eq!(ids(&escalated), ["old"]);

    // 19:00 UTC: ten hours after the first comment.
    f.clock.set(day(600));
    let d = digest::build(f.tracker.store(), &f.clock, s).await.unwrap();
    let waiting: Vec<_> = d.unanswered.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(waiting, ["old", "q1", "q2"], "oldest first");
    // old waited 7 h 20 min, q1 1 h 40 min, q2 10 min.
    assert_eq!(d.by_age, [1, 1, 1, 0, 0]);
    assert_eq!(
        d.unanswered[0].link.as_deref(),
        Some("https://discord.com/channels/1/100/old")
    );
    let rules: Vec<_> = d
        .complaints
        .iter()
        .map(|r| (r.rule.as_str(), r.count))
        .collect();
    assert_eq!(
        rules,
        [
            ("en.complaint.broken", 2),
            ("en.complaint.late", 2),
            ("en.urgent.lawyer", 1)
        ]
    );
    assert_eq!(d.complaints_total, 5);
    let samples: Vec<_> = d
        .first_response
        .samples
        .iter()
        .map(|s| s.num_minutes())
        .collect();
    assert_eq!(samples, [10, 20, 40, 90]);
    assert_eq!(d.first_response.median, Some(minutes(30)));
    // rank 2.7 → 40 + 0.7 × 50 = 75 minutes.
    assert_eq!(d.first_response.p90, Some(minutes(75)));
    // Deadlines in the window: a1 (met), a2 (40 > 30: missed), a3 (met), a4 (question, 2 h:
    // met), a5 (dismissed at 10 min: met), old (urgent 15 min: missed). q1 and q2 are due
    // after the window ends.
    assert_eq!(d.targets.due, 6);
    assert_eq!(d.targets.missed, 2);
    assert_eq!(d.targets.missed_still_open, 1);
    assert_eq!((d.targets.escalated, d.targets.pinged), (1, 0));
    assert_eq!(d.moderation.approved, 1);
    assert_eq!(d.moderation.edited, 1);
    assert_eq!(d.moderation.dismissed, 1);

    let md = d.to_markdown(&DiscordRoom);
    println!("{md}");
    assert!(md.chars().count() <= MARKDOWN_LIMIT);
    assert!(
        md.contains("**Unanswered now: 3** — 0–1 h: 1 · 1–4 h: 1 · 4–8 h: 1"),
        "{md}"
    );
    assert!(
        md.contains("[open](<https://discord.com/channels/1/100/old>)"),
        "{md}"
    );
    assert!(
        md.contains("median 30 min, 90th percentile 1 h 15 min (4 answered)"),
        "{md}"
    );
    assert!(
        md.contains("first reply or answer, wall-clock time"),
        "{md}"
    );
    assert!(md.contains("1 approved, 1 edited, 1 dismissed"), "{md}");
    let text = d.to_text();
    assert!(text.contains("  2  en.complaint.late (delivery)"), "{text}");
    assert!(
        text.contains("6 came due, 2 missed (1 still unanswered); 1 escalated"),
        "{text}"
    );
}

async fn a_long_queue_still_fits_in_one_discord_message() {
    let f = fixture_with(&[("ASCOLTO__DIGEST__OLDEST", "20")]).await;
    let s = &f.app.settings;
    for i in 0..60 {
        let text = format!(
            "{} my parcel is still not here and nobody answers {i}",
            "very ".repeat(30)
        );
        let name = format!("member_with_a_really_long_display_name_{i:02}");
        ingest(
            &f,
            &comment(
                &format!("{:018}", 1_000_000 + i),
                &name,
                &text,
                t0() + minutes(i),
            ),
        )
        .await;
    }
    f.clock.set(t0() + Duration::hours(3));
    let d = digest::build(f.tracker.store(), &f.clock, s).await.unwrap();
    assert_eq!(d.unanswered.len(), 60);
    let md = d.to_markdown(&DiscordRoom);
    assert!(
        md.chars().count() <= MARKDOWN_LIMIT,
        "{} chars",
        md.chars().count()
    );
    assert!(md.contains("more waiting less long"), "{md}");
    assert!(
        md.contains("**Drafts**"),
        "the summary lines are never cut: {md}"
    );
}

async fn a_missed_digest_is_posted_once_when_the_bot_comes_back() {
    let f = fixture_with(&[("ASCOLTO__SLA__TIME_ZONE", "Europe/Rome")]).await;
    let s = &f.app.settings;
    let store = f.tracker.store();
    ingest(
        &f,
        &comment("1", "nora", "My parcel is still not here", t0()),
    )
    .await;
    assert_eq!(store.last_digest().await.unwrap(), None);

    // The bot was down at 18:00 in Rome (17:00 UTC) and starts at 21:30 (20:30 UTC).
    let back = Utc.with_ymd_and_hms(2026, 11, 20, 20, 30, 0).unwrap();
    f.clock.set(back);
    let last = store.last_digest().await.unwrap();
    let window = digest_due(f.clock.now(), last.as_ref(), s).expect("the missed digest is due");
    assert_eq!(window.day, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
    assert!(window.is_catch_up());
    let d = digest::build_window(store, &window, s).await.unwrap();
    assert_eq!(d.unanswered.len(), 1);
    assert!(d
        .to_markdown(&DiscordRoom)
        .contains("posted late: the bot was offline at 18:00"));
    // The adapter marks it right before posting; a second process loses the race.
    assert!(store
        .mark_digest_posted(&window.posted(back))
        .await
        .unwrap());
    assert!(!store
        .mark_digest_posted(&window.posted(back))
        .await
        .unwrap());

    // Restarted again ten minutes later: nothing more to post today.
    f.clock.set(back + minutes(10));
    let last = store.last_digest().await.unwrap();
    assert_eq!(last.as_ref().map(|l| l.day), Some(window.day));
    assert_eq!(digest_due(f.clock.now(), last.as_ref(), s), None);
    // Tomorrow at 18:00 the next one covers from where this one ended.
    let tomorrow = Utc.with_ymd_and_hms(2026, 11, 21, 17, 0, 0).unwrap();
    let next = digest_due(tomorrow, last.as_ref(), s).unwrap();
    assert_eq!((next.start, next.end), (back, tomorrow));
    assert!(!next.is_catch_up());
}

async fn the_chart_is_a_png_of_the_documented_size() {
    let f = fixture_with(&[]).await;
    let s = &f.app.settings;
    ingest(
        &f,
        &comment("1", "nora", "My parcel is still not here", t0()),
    )
    .await;
    ingest(&f, &staff_reply("2", "1", t0() + minutes(25))).await;
    ingest(
        &f,
        &comment("3", "ugo", "is the shop open?", t0() + minutes(30)),
    )
    .await;
    f.clock.set(t0() + Duration::hours(6));
    let d = digest::build(f.tracker.store(), &f.clock, s).await.unwrap();
    let bytes = d.chart_png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), CHART_SIZE);
    // And the file writer used by `ascolto digest --chart`.
    let path = f.dir.dir.path().join("out/chart.png");
    digest::chart::write_png(&d, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // An empty window renders too.
    let empty = DigestWindow::ending(
        t0() - Duration::days(30),
        Duration::hours(24),
        chrono_tz::UTC,
    );
    let d = digest::build_window(f.tracker.store(), &empty, s)
        .await
        .unwrap();
    assert!(d.unanswered.is_empty());
    assert!(d.chart_png().unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
}

async fn a_flagged_comment_alert_shows_its_target() {
    let f = fixture_with(&[]).await;
    let sla = &*f.app.sla;
    let c = comment("1", "nora", "My parcel is still not here", t0());
    f.clock.set(t0());
    let out = f.tracker.ingest(&c).await.unwrap();
    let Ingested::Flagged(stored) = out.ingested else {
        panic!("expected a flag")
    };
    let now = t0() + minutes(25);
    let view = AlertView::new(&stored, now).with_sla(&stored, sla, now);
    assert!(
        view.to_text().contains("⚠ target 30 min: 5 min left"),
        "{}",
        view.to_text()
    );
    let later = t0() + minutes(90);
    let view = AlertView::new(&stored, later).with_sla(&stored, sla, later);
    assert!(
        view.to_text()
            .contains("⛔ target 30 min: missed by 1 h 00 min"),
        "{}",
        view.to_text()
    );
}

crate::on_both_stores!(
    a_missed_target_is_escalated_once_even_after_a_restart,
    breaches_older_than_a_day_are_recorded_without_posting,
    pings_stay_within_the_hourly_budget_and_the_rest_is_posted_quietly,
    outside_business_hours_the_clock_waits_for_monday,
    the_digest_reports_the_day_from_the_store,
    a_long_queue_still_fits_in_one_discord_message,
    a_missed_digest_is_posted_once_when_the_bot_comes_back,
    the_chart_is_a_png_of_the_documented_size,
    a_flagged_comment_alert_shows_its_target,
);
