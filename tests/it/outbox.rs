//! The outbox against a failing Discord: the real bot (the harness of `discord_bot`) with the
//! fake Discord answering chosen requests with 429, 500 or 403 the way Discord does. Every
//! write must go out once — after the wait Discord asked for, after a backoff, or after a
//! restart — or be given up with the moderators told.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::discord_bot::{buttons, field, message_id, Harness, COMPLAINT_IT, STEP};
use crate::support::{ids, BotPost, World};
use ascolto::comment::CommentId;
use ascolto::lifecycle::{ActionKind, CommentState};
use ascolto::outbox::OutboxState;

fn mods_posts() -> String {
    format!("/channels/{}/messages", ids::MODS)
}

fn support_posts() -> String {
    format!("/channels/{}/messages", ids::SUPPORT)
}

/// Notices in the moderators' channel about writes given up.
fn notices(h: &Harness) -> Vec<Value> {
    h.fake
        .posted_messages(ids::MODS)
        .into_iter()
        .filter(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("⚠️ Ascolto gave up"))
        })
        .collect()
}

/// Requests to `path` with `method` and the status the fake answered, in order.
fn statuses(h: &Harness, method: &str, path: &str) -> Vec<u16> {
    h.fake
        .requests()
        .into_iter()
        .filter(|r| r.is(method, path))
        .map(|r| r.status)
        .collect()
}

/// Waits until every outbox row about the comment is done (sent or given up).
async fn settled(h: &Harness, message: u64) {
    let id = CommentId(message.to_string());
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let rows = h.tracker().store().outbox_for(&id).await.unwrap();
        if !rows.is_empty()
            && rows
                .iter()
                .all(|r| matches!(r.state, OutboxState::Sent | OutboxState::GivenUp))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox rows never settled: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn an_alert_answered_429_is_posted_after_retry_after_once() {
    let h = Harness::start().await;
    h.fake.fail_next("POST", &mods_posts(), 429, Some(0.5));
    let sent = Instant::now();
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;
    assert!(
        sent.elapsed() >= Duration::from_millis(500),
        "posted before Discord's retry_after: {:?}",
        sent.elapsed()
    );
    assert!(
        sent.elapsed() < Duration::from_millis(2500),
        "not left for a restart"
    );
    assert_eq!(statuses(&h, "POST", &mods_posts()), [429, 200]);
    assert_eq!(h.alerts().len(), 1);
    h.stored(complaint, Some(CommentState::Alerted)).await;
    let stored = h
        .tracker()
        .store()
        .comment(&CommentId(complaint.to_string()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.alert.unwrap().message,
        message_id(&alert).to_string()
    );
    assert!(notices(&h).is_empty());
    h.finish().await;
}

async fn a_500_whose_post_went_through_is_retried_with_backoff_and_posted_once() {
    let h = Harness::start().await;
    // Discord created the alert but the answer was a 500: the retry must not double it.
    h.fake.fail_next_after_applying("POST", &mods_posts(), 500);
    let sent = Instant::now();
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    h.stored(complaint, Some(CommentState::Alerted)).await;
    settled(&h, complaint).await;
    assert!(
        sent.elapsed() >= Duration::from_secs(1),
        "retried after the first backoff"
    );
    // The retry looked first, found the alert in the channel and did not post it again.
    assert_eq!(statuses(&h, "POST", &mods_posts()), [500]);
    assert_eq!(statuses(&h, "GET", &mods_posts()), [200]);
    assert_eq!(h.alerts().len(), 1, "one alert: {:#?}", h.alerts());
    let alert = &h.alerts()[0];
    let stored = h
        .tracker()
        .store()
        .comment(&CommentId(complaint.to_string()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.alert.unwrap().message, message_id(alert).to_string());
    h.finish().await;
}

async fn a_403_is_given_up_at_once_moderators_are_told_once_and_the_digest_counts_it() {
    let h = Harness::start().await;
    h.fake.fail_next("POST", &mods_posts(), 403, None);
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    h.fake
        .wait_until("the notice", STEP, |_| notices(&h).len() == 1)
        .await;
    let notice = notices(&h)[0]["content"].as_str().unwrap().to_owned();
    assert!(notice.contains("the alert"), "{notice}");
    assert!(notice.contains("about nora in #support"), "{notice}");
    assert!(notice.contains("missing a permission"), "{notice}");
    assert!(notice.contains("/ascolto queue"), "{notice}");
    settled(&h, complaint).await;
    // Given up at once: one attempt, no alert, the comment still waits for moderators.
    assert_eq!(statuses(&h, "POST", &mods_posts()), [403, 200]);
    assert!(h.alerts().is_empty());
    assert_eq!(h.state(complaint).await, CommentState::Flagged);

    let digest = ascolto::digest::build(
        h.tracker().store(),
        h.tracker().clock().as_ref(),
        &h.bot().data().settings,
    )
    .await
    .unwrap();
    assert_eq!(digest.writes_given_up, 1);
    assert!(digest
        .to_markdown(&ascolto::discord::markdown::DiscordRoom)
        .contains("**Platform writes given up**: 1"));
    assert_eq!(notices(&h).len(), 1, "told once");
    h.finish().await;
}

async fn an_approved_reply_answered_500_is_retried_and_posted_once() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;
    h.fake
        .fail_next_after_applying("POST", &support_posts(), 500);
    h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:approve:{complaint}"),
        ids::MIA,
    );
    let closed = h.closed(&alert).await;
    assert!(
        field(&closed, "Status").contains("Replied by mia"),
        "{closed}"
    );
    // Found in the channel (it references the comment), not posted again.
    assert_eq!(statuses(&h, "POST", &support_posts()), [500]);
    let posted = h.fake.posted_messages(ids::SUPPORT);
    assert_eq!(posted.len(), 1, "never twice: {posted:#?}");
    assert_eq!(h.state(complaint).await, CommentState::Replied);
    let trail = h
        .tracker()
        .store()
        .actions_for(&CommentId(complaint.to_string()))
        .await
        .unwrap();
    let approvals: Vec<_> = trail
        .iter()
        .filter(|a| a.kind == ActionKind::Approved)
        .collect();
    assert_eq!(approvals.len(), 1);
    assert_eq!(
        approvals[0].reply_message_id.as_deref(),
        posted[0]["id"].as_str()
    );
    h.finish().await;
}

async fn a_reply_given_up_returns_the_comment_to_the_queue_with_an_explanation() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;
    h.fake.fail_next("POST", &support_posts(), 403, None);
    h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:approve:{complaint}"),
        ids::MIA,
    );
    let reopened = h
        .alert_until(&alert, "the alert explaining the failed reply", |m| {
            buttons(m).len() == 5 && m.to_string().contains("could not be posted")
        })
        .await;
    let status = field(&reopened, "Status");
    assert!(status.contains("missing a permission"), "{status}");
    assert!(status.contains("Nothing was sent"), "{status}");
    assert_eq!(h.state(complaint).await, CommentState::Alerted);
    assert!(h.fake.posted_messages(ids::SUPPORT).is_empty());
    h.fake
        .wait_until("the notice", STEP, |_| notices(&h).len() == 1)
        .await;
    let notice = notices(&h)[0]["content"].as_str().unwrap().to_owned();
    assert!(notice.contains("the approved reply"), "{notice}");
    assert!(notice.contains("back in the queue"), "{notice}");

    // Approving again once fixed posts it.
    h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:approve:{complaint}"),
        ids::MIA,
    );
    h.closed(&alert).await;
    assert_eq!(h.fake.posted_messages(ids::SUPPORT).len(), 1);
    h.finish().await;
}

async fn a_restart_with_pending_rows_delivers_them_once() {
    // Live messages only: catching up at start would read them concurrently, out of order.
    let live = [("ASCOLTO__DISCORD__BACKFILL_LIMIT", "0")];
    let mut h = Harness::start_with(World::default_test(), &live).await;
    // The first alert's answer is lost (it was posted) and the second alert is refused for the
    // moment; the bot stops before retrying either.
    h.fake.fail_next_after_applying("POST", &mods_posts(), 500);
    h.fake.fail_next("POST", &mods_posts(), 500, None);
    let first = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let second = h
        .fake
        .message_create(ids::GENERAL, ids::OTTO, "Il pacco è in ritardo", None);
    h.fake
        .wait_until("both failures", STEP, |f| {
            f.requests()
                .iter()
                .filter(|r| r.is("POST", &mods_posts()) && r.status == 500)
                .count()
                == 2
        })
        .await;
    h.stop().await;
    assert_eq!(h.alerts().len(), 1, "the first went out despite its 500");

    h.launch(&live).await;
    h.stored(first, Some(CommentState::Alerted)).await;
    h.stored(second, Some(CommentState::Alerted)).await;
    settled(&h, first).await;
    settled(&h, second).await;
    let alerts = h.alerts();
    assert_eq!(alerts.len(), 2, "one alert each: {alerts:#?}");
    assert_eq!(
        alerts[0]["embeds"][0]["footer"]["text"],
        format!("comment {first}"),
        "in arrival order"
    );
    assert_eq!(
        alerts[1]["embeds"][0]["footer"]["text"],
        format!("comment {second}")
    );
    h.finish().await;
}

async fn alerts_for_a_burst_arrive_in_arrival_order() {
    // Live messages only: catching up at start would read them concurrently, out of order.
    let h = Harness::start_with(
        World::default_test(),
        &[("ASCOLTO__DISCORD__BACKFILL_LIMIT", "0")],
    )
    .await;
    let mut complaints = Vec::new();
    for i in 0..30 {
        let (channel, author) = if i % 2 == 0 {
            (ids::SUPPORT, ids::NORA)
        } else {
            (ids::GENERAL, ids::OTTO)
        };
        complaints.push(h.fake.message_create(
            channel,
            author,
            &format!("Il pacco numero {i} non è arrivato"),
            None,
        ));
        // Chatter between complaints, as in a real burst.
        h.fake
            .message_create(ids::GENERAL, ids::OTTO, "ciao a tutti", None);
    }
    h.fake
        .wait_until("every alert", STEP, |_| {
            h.alerts().len() == complaints.len()
        })
        .await;
    let order: Vec<String> = h
        .alerts()
        .iter()
        .map(|a| {
            a["embeds"][0]["footer"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = complaints.iter().map(|c| format!("comment {c}")).collect();
    assert_eq!(order, expected);
    // Posted in that order too (not only numbered so), one post per complaint.
    let posts: Vec<BotPost> = h.fake.bot_posts_since(0);
    let labels: Vec<&str> = posts.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, expected);
    assert!(posts.iter().all(|p| p.channel_id == ids::MODS));
    assert!(posts.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(h.fake.wait_for_bot_posts(0, STEP).await);
    h.finish().await;
}

crate::on_both_stores!(
    an_alert_answered_429_is_posted_after_retry_after_once,
    a_500_whose_post_went_through_is_retried_with_backoff_and_posted_once,
    a_403_is_given_up_at_once_moderators_are_told_once_and_the_digest_counts_it,
    an_approved_reply_answered_500_is_retried_and_posted_once,
    a_reply_given_up_returns_the_comment_to_the_queue_with_an_explanation,
    a_restart_with_pending_rows_delivers_them_once,
    alerts_for_a_burst_arrive_in_arrival_order,
);
