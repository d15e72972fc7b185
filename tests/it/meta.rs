//! The Meta channel end to end: signed webhooks into the real HTTP server, stored, processed
//! through the tracker (fixture rule library, real SQLite), and the Graph client against the
//! fake Graph API in `support::fake_graph`; then, with the Discord bot on the fake Discord
//! showing the alerts, Approve posting the reply through the outbox on the fake Graph API.

use std::sync::Arc;

use chrono::Duration;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use ascolto::app::App;
use ascolto::clock::ManualClock;
use ascolto::comment::{CommentId, Source};
use ascolto::config::MetaPageSettings;
use ascolto::http::{self, HttpServer};
use ascolto::lifecycle::{CommentState, StoredComment};
use ascolto::meta::graph::GraphError;
use ascolto::meta::types::MetaSecrets;
use ascolto::meta::webhook::{sign, PATH};
use ascolto::meta::{Meta, Notice};

use ascolto::lifecycle::ActionKind;
use ascolto::outbox::Worker;

use crate::discord_bot::{buttons, field, message_id, Harness, STEP};
use crate::support::app::{t0, TestDir};
use crate::support::fake_graph::{FakeGraph, GraphRequest};
use crate::support::{ids, World};

const APP_SECRET: &str = "test-app-secret";
const VERIFY_TOKEN: &str = "test-verify-token";
const PAGE: &str = "100";
const IG: &str = "1784";

struct MetaTest {
    dir: TestDir,
    clock: ManualClock,
    app: App,
    meta: Meta,
    notices: UnboundedReceiver<Notice>,
    server: HttpServer,
    graph: FakeGraph,
    http: reqwest::Client,
}

/// The one page the tests serve, with its Instagram account.
fn acme_page() -> MetaPageSettings {
    MetaPageSettings {
        id: PAGE.into(),
        name: "Acme Shop".into(),
        instagram_id: IG.into(),
        instagram_username: "acme".into(),
    }
}

/// The test's app secret and verify token, and a token per page named after its variable.
fn test_secrets(app: &App) -> MetaSecrets {
    let pages = ascolto::meta::types::Pages::from_settings(&app.settings.meta);
    MetaSecrets::from_lookup(&pages, |name| {
        Some(match name {
            "META_APP_SECRET" => APP_SECRET.to_owned(),
            "META_VERIFY_TOKEN" => VERIFY_TOKEN.to_owned(),
            _ => format!("token-for-{name}"),
        })
    })
    .unwrap()
}

async fn build(
    dir: &TestDir,
    clock: &ManualClock,
    graph: &FakeGraph,
) -> (App, Meta, UnboundedReceiver<Notice>) {
    let base = graph.base();
    let mut settings = dir.settings(&[("ASCOLTO__META__GRAPH_BASE", base.as_str())]);
    settings.meta.pages = vec![acme_page()];
    settings.validate().unwrap();
    let app = App::build(settings, Arc::new(clock.clone())).await.unwrap();
    let (meta, notices) = Meta::start(&app, test_secrets(&app)).await.unwrap();
    (app, meta, notices)
}

impl MetaTest {
    async fn start() -> MetaTest {
        Self::start_with_limit(1024).await
    }

    async fn start_with_limit(max_body_kb: usize) -> MetaTest {
        let dir = TestDir::new();
        let clock = ManualClock::new(t0());
        let graph = FakeGraph::start().await;
        let (app, meta, notices) = build(&dir, &clock, &graph).await;
        let router = http::router(vec![meta.routes()], max_body_kb * 1024);
        let server = HttpServer::start("127.0.0.1:0", router).await.unwrap();
        MetaTest {
            dir,
            clock,
            app,
            meta,
            notices,
            server,
            graph,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// POSTs `body` with `signature` (none: unsigned); returns the status.
    async fn post_raw(&self, body: Vec<u8>, signature: Option<String>) -> u16 {
        let mut request = self
            .http
            .post(self.url(PATH))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.unwrap().status().as_u16()
    }

    /// Delivers a body signed as Meta would, then lets the processor run.
    async fn deliver(&self, body: &Value) -> u16 {
        let bytes = body.to_string().into_bytes();
        let signature = sign(APP_SECRET.as_bytes(), &bytes);
        let status = self.post_raw(bytes, Some(signature)).await;
        self.meta.process_pending().await.unwrap();
        status
    }

    async fn stored(&self, id: &str) -> StoredComment {
        self.app
            .tracker
            .store()
            .comment(&CommentId::new(id))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("comment {id} not stored"))
    }

    async fn find(&self, id: &str) -> Option<StoredComment> {
        self.app
            .tracker
            .store()
            .comment(&CommentId::new(id))
            .await
            .unwrap()
    }

    fn drain_notices(&mut self) -> Vec<Notice> {
        let mut all = Vec::new();
        while let Ok(notice) = self.notices.try_recv() {
            all.push(notice);
        }
        all
    }
}

fn feed(value: Value) -> Value {
    json!({"object": "page", "entry": [{"id": PAGE, "time": t0().timestamp(),
        "changes": [{"field": "feed", "value": value}]}]})
}

fn fb_comment(comment_id: &str, parent: &str, from: (&str, &str), text: &str, verb: &str) -> Value {
    feed(json!({
        "item": "comment", "verb": verb, "comment_id": comment_id, "post_id": "100_5",
        "parent_id": parent, "message": text, "from": {"id": from.0, "name": from.1},
        "created_time": t0().timestamp() + 60
    }))
}

fn nora_complains() -> Value {
    fb_comment(
        "5_77",
        "100_5",
        ("900", "Nora"),
        "My parcel is still not here",
        "add",
    )
}

fn messenger(sender: &str, recipient: &str, mid: &str, text: &str, echo: bool) -> Value {
    messenger_at(5, sender, recipient, mid, text, echo)
}

/// A Messenger message sent `seconds` after [`t0`].
fn messenger_at(
    seconds: i64,
    sender: &str,
    recipient: &str,
    mid: &str,
    text: &str,
    echo: bool,
) -> Value {
    json!({"object": "page", "entry": [{"id": PAGE, "time": t0().timestamp_millis(),
        "messaging": [{"sender": {"id": sender}, "recipient": {"id": recipient},
            "timestamp": t0().timestamp_millis() + seconds * 1_000,
            "message": {"mid": mid, "text": text, "is_echo": echo}}]}]})
}

#[tokio::test]
async fn a_facebook_comment_is_stored_flagged_and_linked() {
    let mut t = MetaTest::start().await;
    assert_eq!(t.deliver(&nora_complains()).await, 200);
    let stored = t.stored("fb:5_77").await;
    assert_eq!(stored.state, CommentState::Flagged);
    assert_eq!(stored.comment.source, Source::Facebook);
    assert_eq!(stored.comment.place.channel_name, "Facebook · Acme Shop");
    assert_eq!(stored.comment.author.name, "Nora");
    assert_eq!(stored.comment.time, t0() + Duration::seconds(60));
    assert_eq!(
        stored.comment.link.as_deref(),
        Some("https://www.facebook.com/100_5?comment_id=5_77")
    );
    let verdict = stored.verdict.as_ref().unwrap();
    assert_eq!(
        verdict.main_match().unwrap().rule.as_str(),
        "en.complaint.late"
    );
    assert!(stored.draft.is_some());
    let notices = t.drain_notices();
    assert!(
        matches!(notices.as_slice(), [Notice::Alert(s)] if s.comment.id.as_str() == "fb:5_77"),
        "{notices:?}"
    );
}

async fn the_same_body_twice_is_stored_and_ingested_once() {
    let mut t = MetaTest::start().await;
    let body = nora_complains();
    assert_eq!(t.deliver(&body).await, 200);
    assert_eq!(t.deliver(&body).await, 200);
    assert_eq!(t.meta.inbox().count("meta").await.unwrap(), 1);
    // The same event in another body (Meta batches differently on retry) changes nothing.
    let mut batched = nora_complains();
    batched["entry"][0]["time"] = json!(t0().timestamp() + 999);
    assert_eq!(t.deliver(&batched).await, 200);
    assert_eq!(t.meta.inbox().count("meta").await.unwrap(), 2);
    let alerts = t
        .drain_notices()
        .into_iter()
        .filter(|n| matches!(n, Notice::Alert(_)))
        .count();
    assert_eq!(alerts, 1);
    assert_eq!(t.app.tracker.open().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_edit_is_triaged_again_and_a_removal_withdraws() {
    let t = MetaTest::start().await;
    t.deliver(&nora_complains()).await;
    t.deliver(&fb_comment(
        "5_77",
        "100_5",
        ("900", "Nora"),
        "Found it, thanks!",
        "edited",
    ))
    .await;
    let edited = t.stored("fb:5_77").await;
    assert_eq!(edited.comment.text, "Found it, thanks!");
    assert_eq!(edited.state, CommentState::Clear);
    t.deliver(&fb_comment(
        "5_77",
        "100_5",
        ("900", "Nora"),
        "My parcel is still not here, again",
        "edited",
    ))
    .await;
    assert_eq!(t.stored("fb:5_77").await.state, CommentState::Flagged);
    t.deliver(&feed(
        json!({"item": "comment", "verb": "remove", "comment_id": "5_77",
        "post_id": "100_5", "from": {"id": "900"}}),
    ))
    .await;
    assert_eq!(t.stored("fb:5_77").await.state, CommentState::Withdrawn);
}

#[tokio::test]
async fn the_pages_reply_answers_the_comment() {
    let mut t = MetaTest::start().await;
    t.deliver(&nora_complains()).await;
    t.drain_notices();
    t.deliver(&fb_comment(
        "5_78",
        "5_77",
        (PAGE, "Acme Shop"),
        "So sorry Nora, a new one ships today.",
        "add",
    ))
    .await;
    let answered = t.stored("fb:5_77").await;
    assert_eq!(answered.state, CommentState::Answered);
    assert_eq!(answered.answered_by.as_deref(), Some("Acme Shop"));
    let reply = t.stored("fb:5_78").await;
    assert!(reply.comment.author.is_staff);
    assert_eq!(reply.state, CommentState::Clear);
    let notices = t.drain_notices();
    assert!(
        matches!(notices.as_slice(), [Notice::Refresh(id)] if id.as_str() == "fb:5_77"),
        "{notices:?}"
    );
}

#[tokio::test]
async fn an_instagram_comment_is_flagged() {
    let t = MetaTest::start().await;
    let body = json!({"object": "instagram", "entry": [{"id": IG, "time": t0().timestamp(),
        "changes": [{"field": "comments", "value": {"id": "1801", "text": "My parcel is still not here",
            "from": {"id": "42", "username": "luca"},
            "media": {"id": "1799", "media_product_type": "FEED"}}}]}]});
    assert_eq!(t.deliver(&body).await, 200);
    let stored = t.stored("ig:1801").await;
    assert_eq!(stored.state, CommentState::Flagged);
    assert_eq!(stored.comment.source, Source::Instagram);
    assert_eq!(stored.comment.place.channel_name, "Instagram · @acme");
    assert_eq!(stored.comment.author.name, "@luca");
    assert_eq!(stored.comment.link, None);
}

async fn a_messenger_message_is_flagged_and_the_pages_echo_answers_it() {
    let t = MetaTest::start().await;
    t.deliver(&messenger(
        "555",
        PAGE,
        "m_first",
        "My parcel is still not here",
        false,
    ))
    .await;
    let open = t.app.tracker.open().await.unwrap();
    let [stored] = open.as_slice() else {
        panic!("{open:?}")
    };
    assert_eq!(stored.comment.source, Source::Messenger);
    assert!(stored.comment.place.is_dm);
    assert_eq!(stored.comment.place.channel_name, "Messenger");
    assert_eq!(stored.comment.time, t0() + Duration::seconds(5));
    assert_eq!(
        t.meta
            .inbox()
            .last_inbound(&stored.comment.place.channel)
            .await
            .unwrap(),
        Some(t0() + Duration::seconds(5))
    );
    t.deliver(&messenger(
        PAGE,
        "555",
        "m_echo",
        "We're on it, sorry!",
        true,
    ))
    .await;
    let answered = t.stored(stored.comment.id.as_str()).await;
    assert_eq!(answered.state, CommentState::Answered);
    assert!(t.app.tracker.open().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_pages_answer_settles_the_persons_latest_open_message_in_that_conversation_only() {
    let t = MetaTest::start().await;
    for (seconds, sender, mid, text) in [
        (5, "555", "m_first", "My parcel is still not here"),
        (
            65,
            "555",
            "m_second",
            "Hello?? Is anyone reading this, where is my order?",
        ),
        (70, "777", "m_other", "My refund never arrived, why?"),
    ] {
        t.deliver(&messenger_at(seconds, sender, PAGE, mid, text, false))
            .await;
    }
    let open = t.app.tracker.open().await.unwrap();
    let id_of = |text: &str| {
        open.iter()
            .find(|s| s.comment.text.starts_with(text))
            .unwrap_or_else(|| panic!("{text} not open: {open:?}"))
            .comment
            .id
            .clone()
    };
    let (first, second, other) = (id_of("My parcel"), id_of("Hello??"), id_of("My refund"));
    t.deliver(&messenger_at(
        90,
        PAGE,
        "555",
        "m_echo",
        "Found it, on its way!",
        true,
    ))
    .await;
    assert_eq!(
        t.stored(second.as_str()).await.state,
        CommentState::Answered
    );
    // The earlier message and the other person's stay for the moderators.
    assert_eq!(t.stored(first.as_str()).await.state, CommentState::Flagged);
    assert_eq!(t.stored(other.as_str()).await.state, CommentState::Flagged);
}

#[tokio::test]
async fn unsigned_and_mis_signed_deliveries_are_refused_and_never_stored() {
    let t = MetaTest::start().await;
    let body = nora_complains().to_string().into_bytes();
    assert_eq!(t.post_raw(body.clone(), None).await, 403);
    let wrong = sign(b"another-secret", &body);
    assert_eq!(t.post_raw(body.clone(), Some(wrong)).await, 403);
    let tampered = sign(APP_SECRET.as_bytes(), b"{}");
    assert_eq!(t.post_raw(body.clone(), Some(tampered)).await, 403);
    assert_eq!(
        t.post_raw(body, Some("sha256=not-hex".to_owned())).await,
        403
    );
    t.meta.process_pending().await.unwrap();
    assert_eq!(t.meta.inbox().count("meta").await.unwrap(), 0);
    assert!(t.find("fb:5_77").await.is_none());
}

#[tokio::test]
async fn signed_but_malformed_bodies_are_acknowledged_and_skipped() {
    let t = MetaTest::start().await;
    let junk = b"this is not json".to_vec();
    let signature = sign(APP_SECRET.as_bytes(), &junk);
    assert_eq!(t.post_raw(junk, Some(signature)).await, 200);
    // One broken event, one good one in the same body: the good one is still taken in.
    let body = json!({"object": "page", "entry": [
        {"id": PAGE, "changes": [{"field": "feed", "value": {"item": "comment", "verb": "add"}}]},
        {"id": PAGE, "changes": [{"field": "feed", "value": {"item": "comment", "verb": "add",
            "comment_id": "5_80", "post_id": "100_5", "message": "My parcel is still not here",
            "from": {"id": "901", "name": "Ada"}, "created_time": t0().timestamp()}}]}
    ]});
    assert_eq!(t.deliver(&body).await, 200);
    assert_eq!(t.stored("fb:5_80").await.state, CommentState::Flagged);
    assert!(t.meta.inbox().pending("meta", 10).await.unwrap().is_empty());
}

async fn deliveries_left_by_a_crash_are_processed_at_the_next_start() {
    let t = MetaTest::start().await;
    let bytes = nora_complains().to_string().into_bytes();
    let signature = sign(APP_SECRET.as_bytes(), &bytes);
    assert_eq!(t.post_raw(bytes, Some(signature)).await, 200);
    // Acknowledged, not processed yet: the process dies here.
    assert!(t.find("fb:5_77").await.is_none());
    let (_app, restarted, _notices) = build(&t.dir, &t.clock, &t.graph).await;
    assert_eq!(restarted.process_pending().await.unwrap(), 1);
    assert_eq!(t.stored("fb:5_77").await.state, CommentState::Flagged);
}

#[tokio::test]
async fn the_processor_takes_deliveries_in_without_being_asked() {
    let t = MetaTest::start().await;
    let processor = t.meta.spawn_processor();
    let bytes = nora_complains().to_string().into_bytes();
    let signature = sign(APP_SECRET.as_bytes(), &bytes);
    assert_eq!(t.post_raw(bytes, Some(signature)).await, 200);
    let mut found = None;
    for _ in 0..100 {
        found = t.find("fb:5_77").await;
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    processor.abort();
    assert_eq!(found.unwrap().state, CommentState::Flagged);
}

#[tokio::test]
async fn the_subscription_check_echoes_the_challenge_only_for_our_token() {
    let t = MetaTest::start().await;
    let check = |token: &str| {
        format!(
            "{}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            t.url(PATH)
        )
    };
    let ok = t.http.get(check(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = t.http.get(check("guess")).send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    let none = t.http.get(t.url(PATH)).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 403);
}

#[tokio::test]
async fn oversized_bodies_are_refused_and_health_is_reported() {
    let t = MetaTest::start_with_limit(4).await;
    let big = vec![b' '; 5 * 1024];
    let signature = sign(APP_SECRET.as_bytes(), &big);
    assert_eq!(t.post_raw(big, Some(signature)).await, 413);
    assert_eq!(t.meta.inbox().count("meta").await.unwrap(), 0);
    let health = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn arbitrary_bodies_and_signatures_never_break_the_endpoint() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = runtime.block_on(MetaTest::start());
    let config = ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        signature in proptest::option::of("[ -~]{0,80}"),
        sign_it in any::<bool>(),
    )| {
        let header = if sign_it { Some(sign(APP_SECRET.as_bytes(), &body)) } else { signature };
        let status = runtime.block_on(t.post_raw(body, header));
        prop_assert!(status == 200 || status == 403, "status {}", status);
        prop_assert!(runtime.block_on(t.meta.process_pending()).is_ok());
    });
    let status = runtime.block_on(async {
        t.http
            .get(t.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);
}

// ----- the Graph client ------------------------------------------------------------------------

#[tokio::test]
async fn a_facebook_reply_is_one_post_to_the_comments_edge() {
    let t = MetaTest::start().await;
    t.deliver(&nora_complains()).await;
    let stored = t.stored("fb:5_77").await;
    let id = t
        .meta
        .graph()
        .post_reply(&stored.comment, "So sorry, Nora!")
        .await
        .unwrap();
    assert_eq!(id, "reply_1");
    let requests = t.graph.requests();
    let [request] = requests.as_slice() else {
        panic!("{requests:?}")
    };
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v21.0/5_77/comments");
    assert_eq!(request.body, json!({"message": "So sorry, Nora!"}));
    assert!(request.query.is_empty(), "the token is never in the URL");
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer token-for-META_PAGE_TOKEN_100")
    );
}

#[tokio::test]
async fn an_instagram_reply_goes_to_the_replies_edge() {
    let t = MetaTest::start().await;
    let body = json!({"object": "instagram", "entry": [{"id": IG, "time": t0().timestamp(),
        "changes": [{"field": "comments", "value": {"id": "1801", "text": "My parcel is still not here",
            "from": {"id": "42", "username": "luca"}, "media": {"id": "1799"}}}]}]});
    t.deliver(&body).await;
    let stored = t.stored("ig:1801").await;
    t.meta
        .graph()
        .post_reply(&stored.comment, "On its way!")
        .await
        .unwrap();
    let requests = t.graph.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v21.0/1801/replies");
    assert_eq!(requests[0].body, json!({"message": "On its way!"}));
}

async fn a_direct_message_reply_is_a_response_within_the_window() {
    let t = MetaTest::start().await;
    t.deliver(&messenger(
        "555",
        PAGE,
        "m_first",
        "My parcel is still not here",
        false,
    ))
    .await;
    let open = t.app.tracker.open().await.unwrap();
    t.clock.advance(Duration::hours(23));
    let id = t
        .meta
        .graph()
        .post_reply(&open[0].comment, "Sorry! Checking now.")
        .await
        .unwrap();
    assert_eq!(id, "m_reply_1");
    let requests = t.graph.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v21.0/100/messages");
    assert_eq!(
        requests[0].body,
        json!({"recipient": {"id": "555"}, "message": {"text": "Sorry! Checking now."},
            "messaging_type": "RESPONSE"})
    );
}

async fn outside_the_24_hour_window_no_request_is_made() {
    let t = MetaTest::start().await;
    t.deliver(&messenger(
        "555",
        PAGE,
        "m_first",
        "My parcel is still not here",
        false,
    ))
    .await;
    let open = t.app.tracker.open().await.unwrap();
    t.clock.advance(Duration::hours(25));
    let err = t
        .meta
        .graph()
        .post_reply(&open[0].comment, "Sorry!")
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::OutsideWindow { .. }), "{err}");
    assert!(err.to_string().contains("24 hours"), "{err}");
    assert_eq!(err.retry_after(), None);
    assert!(t.graph.requests().is_empty());
}

#[tokio::test]
async fn graph_errors_are_classified_on_their_code() {
    let t = MetaTest::start().await;
    t.deliver(&nora_complains()).await;
    let comment = t.stored("fb:5_77").await.comment;
    t.graph
        .fail_next(403, 4, "Application request limit reached");
    let limited = t.meta.graph().post_reply(&comment, "hi").await.unwrap_err();
    assert!(
        matches!(limited, GraphError::Retry { code: 4, .. }),
        "{limited}"
    );
    assert!(limited.retry_after().is_some());
    t.graph.fail_next(
        400,
        190,
        "Error validating access token: Session has expired",
    );
    let expired = t.meta.graph().post_reply(&comment, "hi").await.unwrap_err();
    assert!(matches!(expired, GraphError::Expired { .. }), "{expired}");
    assert_eq!(expired.retry_after(), None);
    assert!(
        expired.to_string().contains("set META_PAGE_TOKEN_100"),
        "{expired}"
    );
    t.graph.fail_next(400, 506, "Duplicate status message");
    let duplicate = t.meta.graph().post_reply(&comment, "hi").await.unwrap_err();
    assert!(duplicate.is_delivered());
    assert_eq!(t.graph.requests().len(), 3);
}

// ----- approved replies, end to end -----------------------------------------------------------
//
// The Discord bot (fake Discord) shows the alerts of Meta comments; Approve queues the reply in
// the outbox and Meta's worker posts it on the fake Graph API, as `ascolto run` wires them.

struct Live {
    h: Harness,
    clock: ManualClock,
    meta: Meta,
    server: HttpServer,
    graph: FakeGraph,
    replies: Option<Worker>,
    follow: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
}

impl Live {
    async fn start() -> Live {
        let graph = FakeGraph::start().await;
        graph.acting_as(PAGE, IG);
        let base = graph.base();
        let env = [
            ("ASCOLTO__META__GRAPH_BASE", base.as_str()),
            ("ASCOLTO__META__RATE_LIMIT_WAIT", "1s"),
        ];
        let clock = ManualClock::new(t0());
        let h =
            Harness::start_with_clock(World::default_test(), &env, Arc::new(clock.clone())).await;
        let data = h.bot().data().clone();
        let mut settings = (*data.settings).clone();
        settings.meta.pages = vec![acme_page()];
        settings.validate().unwrap();
        let app = App {
            settings,
            tracker: data.tracker.clone(),
            sla: data.sla.clone(),
            escalation: data.escalation.clone(),
        };
        let (meta, notices) = Meta::start(&app, test_secrets(&app)).await.unwrap();
        let follow = ascolto::discord::alerts::follow_meta(data, notices);
        let router = http::router(
            vec![meta.routes(), http::status_routes(app.tracker.clone())],
            1024 * 1024,
        );
        let server = HttpServer::start("127.0.0.1:0", router).await.unwrap();
        let replies = Some(meta.spawn_delivery(app.settings.outbox.policy()));
        Live {
            h,
            clock,
            meta,
            server,
            graph,
            replies,
            follow,
            http: reqwest::Client::new(),
        }
    }

    /// Delivers a body signed as Meta would and lets the processor take it in.
    async fn deliver(&self, body: &Value) {
        let bytes = body.to_string().into_bytes();
        let signature = sign(APP_SECRET.as_bytes(), &bytes);
        let status = self
            .http
            .post(format!("{}{PATH}", self.server.base_url()))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(bytes)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
        self.meta.process_pending().await.unwrap();
    }

    async fn stored(&self, id: &str) -> StoredComment {
        self.h
            .tracker()
            .store()
            .comment(&CommentId::new(id))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("comment {id} not stored"))
    }

    /// Waits for the alert about comment `id` in the moderators' channel.
    async fn alert_for(&self, id: &str) -> Value {
        let footer = format!("comment {id}");
        self.h
            .fake
            .wait_for_posted_message(
                ids::MODS,
                |m| m["embeds"][0]["footer"]["text"] == footer,
                STEP,
            )
            .await
    }

    /// Mia presses a button of the alert; returns the interaction.
    fn press(&self, alert: &Value, label: &str) -> u64 {
        let (_, custom_id) = buttons(alert)
            .into_iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("no {label} button: {alert}"));
        self.h
            .fake
            .click_button(message_id(alert), &custom_id, ids::MIA)
    }

    /// GETs a path of the HTTP server: status and body.
    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.server.base_url()))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Polls `/readyz` until it answers `status` with a body containing `words`.
    async fn readyz_until(&self, status: u16, words: &str) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let (got, body) = self.get("/readyz").await;
            if got == status && body.contains(words) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/readyz never answered {status} with `{words}`; last {got}: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Graph requests other than reads.
    fn posts(&self) -> Vec<GraphRequest> {
        self.graph
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    async fn finish(mut self) {
        if let Some(replies) = self.replies.take() {
            assert!(replies.shutdown(STEP).await);
        }
        self.follow.abort();
        self.server.shutdown().await;
        self.h.finish().await;
    }
}

fn instagram_comment() -> Value {
    json!({"object": "instagram", "entry": [{"id": IG, "time": t0().timestamp(),
        "changes": [{"field": "comments", "value": {"id": "1801",
            "text": "My parcel is still not here",
            "from": {"id": "42", "username": "luca"}, "media": {"id": "1799"}}}]}]})
}

/// Approves the draft on the alert and waits until the alert is closed; returns the text
/// the audit trail says was sent (the draft, signed by the approving moderator).
async fn approve_and_close(t: &Live, id: &str) -> (String, Value) {
    let alert = t.alert_for(id).await;
    t.stored(id).await.draft.expect("a draft");
    t.press(&alert, "Approve");
    let closed = t.h.closed(&alert).await;
    assert!(
        field(&closed, "Status").contains("Replied by mia"),
        "{closed}"
    );
    let trail =
        t.h.tracker()
            .store()
            .actions_for(&CommentId::new(id))
            .await
            .unwrap();
    let approved = trail.last().unwrap();
    assert_eq!(approved.kind, ActionKind::Approved);
    let sent = approved.sent_text.clone().expect("the text sent");
    assert!(closed.to_string().contains(&sent), "{closed}");
    (sent, closed)
}

async fn approve_posts_one_reply_under_the_facebook_comment() {
    let t = Live::start().await;
    t.deliver(&nora_complains()).await;
    let (draft, _) = approve_and_close(&t, "fb:5_77").await;
    let posts = t.posts();
    let [post] = posts.as_slice() else {
        panic!("{posts:?}")
    };
    assert_eq!(post.path, "/v21.0/5_77/comments");
    assert_eq!(post.body, json!({"message": draft}));
    assert!(post.query.is_empty(), "the token is never in the URL");
    assert_eq!(
        post.authorization.as_deref(),
        Some("Bearer token-for-META_PAGE_TOKEN_100")
    );
    let stored = t.stored("fb:5_77").await;
    assert_eq!(stored.state, CommentState::Replied);
    let trail =
        t.h.tracker()
            .store()
            .actions_for(&CommentId::new("fb:5_77"))
            .await
            .unwrap();
    let approved = trail.last().unwrap();
    assert_eq!(approved.kind, ActionKind::Approved);
    assert_eq!(approved.sent_text.as_deref(), Some(draft.as_str()));
    assert_eq!(approved.reply_message_id.as_deref(), Some("reply_1"));
    t.finish().await;
}

#[tokio::test]
async fn approve_replies_to_the_instagram_comment() {
    let t = Live::start().await;
    t.deliver(&instagram_comment()).await;
    let (draft, _) = approve_and_close(&t, "ig:1801").await;
    let posts = t.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].path, "/v21.0/1801/replies");
    assert_eq!(posts[0].body, json!({"message": draft}));
    t.finish().await;
}

#[tokio::test]
async fn approve_answers_a_messenger_message_as_a_response() {
    let t = Live::start().await;
    t.deliver(&messenger(
        "555",
        PAGE,
        "m_first",
        "My parcel is still not here",
        false,
    ))
    .await;
    let open = t.h.tracker().open().await.unwrap();
    let id = open[0].comment.id.to_string();
    t.clock.advance(Duration::hours(23));
    let (draft, _) = approve_and_close(&t, &id).await;
    let posts = t.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].path, "/v21.0/100/messages");
    assert_eq!(
        posts[0].body,
        json!({"recipient": {"id": "555"}, "message": {"text": draft},
            "messaging_type": "RESPONSE"})
    );
    let trail =
        t.h.tracker()
            .store()
            .actions_for(&CommentId::new(&id))
            .await
            .unwrap();
    assert_eq!(
        trail.last().unwrap().reply_message_id.as_deref(),
        Some("m_reply_1")
    );
    t.finish().await;
}

#[tokio::test]
async fn approve_past_the_24_hour_window_is_refused_with_what_is_still_possible() {
    let t = Live::start().await;
    t.deliver(&messenger(
        "555",
        PAGE,
        "m_first",
        "My parcel is still not here",
        false,
    ))
    .await;
    let id = t.h.tracker().open().await.unwrap()[0]
        .comment
        .id
        .to_string();
    let alert = t.alert_for(&id).await;
    t.clock.advance(Duration::hours(25));
    let click = t.press(&alert, "Approve");
    let answer = t.h.private_answer(click).await;
    assert!(answer.starts_with("Nothing was sent"), "{answer}");
    assert!(answer.contains("24 h 59 min ago"), "{answer}");
    assert!(answer.contains("within 24 hours"), "{answer}");
    assert!(answer.contains("Mark answered"), "{answer}");
    // The alert says it too, and stays open for moderators to close by hand.
    let shown =
        t.h.alert_until(&alert, "the alert to show the closed window", |m| {
            m.to_string().contains("Reply window")
        })
        .await;
    assert!(
        field(&shown, "Reply window").contains("Meta Business Suite"),
        "{shown}"
    );
    assert!(!buttons(&shown).is_empty());
    assert_eq!(t.stored(&id).await.state, CommentState::Alerted);
    assert!(t.graph.requests().is_empty(), "{:?}", t.graph.requests());
    // A new message from the person opens the window again.
    let mut again = messenger("555", PAGE, "m_second", "Hello?", false);
    again["entry"][0]["messaging"][0]["timestamp"] =
        json!((t0() + Duration::hours(25)).timestamp_millis());
    t.deliver(&again).await;
    assert!(t
        .h
        .tracker()
        .reply_window_closed(&t.stored(&id).await)
        .await
        .unwrap()
        .is_none());
    t.finish().await;
}

#[tokio::test]
async fn the_pages_own_reply_closes_the_alert() {
    let t = Live::start().await;
    t.deliver(&nora_complains()).await;
    let alert = t.alert_for("fb:5_77").await;
    t.deliver(&fb_comment(
        "5_78",
        "5_77",
        (PAGE, "Acme Shop"),
        "So sorry Nora, a new one ships today.",
        "add",
    ))
    .await;
    let closed = t.h.closed(&alert).await;
    assert!(field(&closed, "Status").contains("Acme Shop"), "{closed}");
    assert_eq!(t.stored("fb:5_77").await.state, CommentState::Answered);
    assert!(t.graph.requests().is_empty());
    t.finish().await;
}

#[tokio::test]
async fn a_rate_limited_reply_is_retried_and_posted_once() {
    let t = Live::start().await;
    t.graph
        .fail_next(429, 613, "Calls to this api have exceeded the rate limit.");
    t.deliver(&nora_complains()).await;
    let (draft, _) = approve_and_close(&t, "fb:5_77").await;
    let posts = t.posts();
    assert_eq!(posts.len(), 2, "one refused, one posted: {posts:?}");
    for post in &posts {
        assert_eq!(post.path, "/v21.0/5_77/comments");
        assert_eq!(post.body, json!({"message": draft}));
    }
    let trail =
        t.h.tracker()
            .store()
            .actions_for(&CommentId::new("fb:5_77"))
            .await
            .unwrap();
    assert_eq!(
        trail.last().unwrap().reply_message_id.as_deref(),
        Some("reply_1")
    );
    t.finish().await;
}

async fn a_reply_whose_answer_was_lost_is_looked_for_before_posting_again() {
    let t = Live::start().await;
    t.graph.fail_next_after_applying(500);
    t.deliver(&nora_complains()).await;
    approve_and_close(&t, "fb:5_77").await;
    let requests = t.graph.requests();
    let shape: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("POST", "/v21.0/5_77/comments"),
            ("GET", "/v21.0/5_77/comments")
        ]
    );
    let lookup = &requests[1];
    assert!(lookup
        .query
        .iter()
        .any(|(k, v)| k == "fields" && v.contains("from")));
    let trail =
        t.h.tracker()
            .store()
            .actions_for(&CommentId::new("fb:5_77"))
            .await
            .unwrap();
    assert_eq!(
        trail.last().unwrap().reply_message_id.as_deref(),
        Some("reply_1")
    );
    t.finish().await;
}

#[tokio::test]
async fn a_direct_message_whose_answer_was_lost_is_looked_for_in_the_conversation() {
    let t = Live::start().await;
    t.graph.fail_next_after_applying(503);
    t.deliver(&messenger(
        "555",
        PAGE,
        "m_first",
        "My parcel is still not here",
        false,
    ))
    .await;
    let id = t.h.tracker().open().await.unwrap()[0]
        .comment
        .id
        .to_string();
    approve_and_close(&t, &id).await;
    let requests = t.graph.requests();
    let shape: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("POST", "/v21.0/100/messages"),
            ("GET", "/v21.0/100/conversations")
        ]
    );
    let lookup = &requests[1].query;
    assert!(lookup.contains(&("user_id".to_owned(), "555".to_owned())));
    assert!(lookup.contains(&("platform".to_owned(), "messenger".to_owned())));
    let trail =
        t.h.tracker()
            .store()
            .actions_for(&CommentId::new(&id))
            .await
            .unwrap();
    assert_eq!(
        trail.last().unwrap().reply_message_id.as_deref(),
        Some("m_reply_1")
    );
    t.finish().await;
}

#[tokio::test]
async fn an_expired_page_token_is_reported_to_moderators_and_the_alert_reopens() {
    let t = Live::start().await;
    t.graph.fail_next(
        400,
        190,
        "Error validating access token: Session has expired",
    );
    t.deliver(&nora_complains()).await;
    let alert = t.alert_for("fb:5_77").await;
    t.press(&alert, "Approve");
    let notice =
        t.h.fake
            .wait_for_posted_message(
                ids::MODS,
                |m| {
                    m["content"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("⚠️ Ascolto gave up"))
                },
                STEP,
            )
            .await;
    let notice = notice["content"].as_str().unwrap();
    assert!(notice.contains("the page token expired"), "{notice}");
    assert!(notice.contains("META_PAGE_TOKEN_100"), "{notice}");
    assert!(!notice.contains("token-for-"), "the token is never shown");
    let reopened =
        t.h.alert_until(&alert, "the alert to reopen with the reason", |m| {
            buttons(m).len() == 5 && m.to_string().contains("could not be posted")
        })
        .await;
    assert!(
        field(&reopened, "Status").contains("the page token expired"),
        "{reopened}"
    );
    assert_eq!(t.posts().len(), 1, "never retried");
    assert_eq!(t.stored("fb:5_77").await.state, CommentState::Alerted);
    t.finish().await;
}

#[tokio::test]
async fn readyz_and_metrics_report_the_real_state_and_figures() {
    let t = Live::start().await;
    // Meta is not ready before its deliveries are taken in.
    let down = t.readyz_until(503, "meta: not connected").await;
    assert!(!down.contains("store"), "{down}");
    // A comment written a minute before the bot's clock reads it: its alert takes 1 s.
    t.clock.advance(Duration::seconds(61));
    t.graph
        .fail_next(429, 4, "Application request limit reached");
    t.deliver(&nora_complains()).await;
    let bytes = nora_complains().to_string().into_bytes();
    let wrong = sign(b"another-secret", &bytes);
    let refused = t
        .http
        .post(format!("{}{PATH}", t.server.base_url()))
        .header("x-hub-signature-256", wrong)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    approve_and_close(&t, "fb:5_77").await;
    assert_eq!(t.readyz_until(200, "ready").await, "ready\n");

    let (status, metrics) = t.get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "ascolto_comments_ingested_total{channel=\"facebook\",label=\"complaint\"} 1",
        "ascolto_alerts_total{room=\"discord\"} 1",
        "ascolto_replies_total{outcome=\"sent\"} 1",
        "ascolto_platform_write_retries_total{destination=\"meta\",kind=\"reply\"} 1",
        "ascolto_webhook_signature_failures_total{channel=\"meta\"} 1",
        "ascolto_channel_connected{channel=\"discord\"} 1",
        "ascolto_channel_connected{channel=\"meta\"} 1",
        "ascolto_alert_latency_seconds_bucket{le=\"0.5\"} 0",
        "ascolto_alert_latency_seconds_bucket{le=\"1\"} 1",
        "ascolto_alert_latency_seconds_count 1",
        "ascolto_alert_latency_seconds_sum 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing in\n{metrics}"
        );
    }
    assert!(!metrics.contains("ascolto_platform_write_failures_total{"));
    t.finish().await;
}

#[tokio::test]
async fn an_edited_reply_is_posted_under_the_instagram_comment_as_written() {
    let t = Live::start().await;
    t.deliver(&instagram_comment()).await;
    let alert = t.alert_for("ig:1801").await;
    let click = t.press(&alert, "Edit");
    t.h.fake
        .wait_until("the Edit modal", STEP, |f| {
            f.interaction_modal(click).is_some()
        })
        .await;
    let modal = t.h.fake.interaction_modal(click).unwrap();
    let modal_id = modal["custom_id"].as_str().unwrap().to_owned();
    let edited = "Ciao Luca, ti scriviamo in privato con il tracking aggiornato.";
    t.h.fake
        .submit_modal(&modal_id, ids::MIA, &[("text", edited)]);
    let closed = t.h.closed(&alert).await;
    assert!(field(&closed, "Status").contains("(edited)"), "{closed}");
    let posts = t.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].path, "/v21.0/1801/replies");
    assert_eq!(posts[0].body, json!({"message": edited}));
    let trail =
        t.h.tracker()
            .store()
            .actions_for(&CommentId::new("ig:1801"))
            .await
            .unwrap();
    let sent = trail.last().unwrap();
    assert_eq!(sent.kind, ActionKind::Edited);
    assert_eq!(sent.sent_text.as_deref(), Some(edited));
    assert_eq!(sent.reply_message_id.as_deref(), Some("reply_1"));
    t.finish().await;
}

// ----- the binary's HTTP server without webhooks ----------------------------------------------

/// Kills the bot if the test fails before stopping it, so no process outlives the test.
struct Running(Option<std::process::Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascolto_run_serves_readyz_and_metrics_when_asked_even_without_webhooks() {
    use crate::support::fake_telegram::{tg, FakeTelegram, TOKEN};
    let fake = FakeTelegram::start(true).await;
    let dir = TestDir::new();
    // A free port for the bot (taken back from the OS the moment it is released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ascolto"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("run")
        .env("ASCOLTO__TELEGRAM__ENABLED", "true")
        .env("ASCOLTO__TELEGRAM__API_BASE", fake.base())
        .env("ASCOLTO__TELEGRAM__MODERATORS_CHAT", tg::MODS.to_string())
        .env("ASCOLTO__TELEGRAM__POLL_TIMEOUT", "1s")
        .env("ASCOLTO__HTTP__ALWAYS", "true")
        .env("ASCOLTO__HTTP__LISTEN", &listen)
        .env("ASCOLTO__STORE__URL", dir.db())
        .env("ASCOLTO__RULES__DIR", dir.rules())
        .env("TELEGRAM_TOKEN", TOKEN)
        .env_remove("DISCORD_TOKEN")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ascolto");
    let mut running = Running(Some(child));
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    // Generous: the binary starts, migrates its database and polls Telegram once.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let ready = loop {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await {
            if response.status().as_u16() == 200 {
                break response.text().await.unwrap();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never answered 200"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(ready, "ready\n");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "ascolto_channel_connected{channel=\"telegram\"} 1"),
        "{metrics}"
    );
    // No webhook channel is configured: there is no webhook endpoint.
    let webhook = http.get(format!("{base}{PATH}")).send().await.unwrap();
    assert_eq!(webhook.status().as_u16(), 404);
    let child = running.0.take().expect("running");
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("ascolto ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

crate::on_both_stores!(
    the_same_body_twice_is_stored_and_ingested_once,
    deliveries_left_by_a_crash_are_processed_at_the_next_start,
    a_messenger_message_is_flagged_and_the_pages_echo_answers_it,
    a_direct_message_reply_is_a_response_within_the_window,
    outside_the_24_hour_window_no_request_is_made,
    approve_posts_one_reply_under_the_facebook_comment,
    a_reply_whose_answer_was_lost_is_looked_for_before_posting_again,
);
