//! The Telegram channel end to end: the real application (`App::build`) polling the fake Bot
//! API in `support::fake_telegram`, which checks every request against Telegram's spec.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Value};

use ascolto::app::App;
use ascolto::clock::ManualClock;
use ascolto::comment::CommentId;
use ascolto::lifecycle::{ActionKind, CommentState};
use ascolto::telegram::{self, TelegramApi, TelegramHandle};

use crate::support::app::{t0, TestDir};
use crate::support::fake_telegram::{tg, FakeTelegram, Recorded, TOKEN};

const WAIT: Duration = Duration::from_secs(15);
const COMPLAINT: &str = "Il mio ordine non è arrivato e nessuno mi risponde";

struct Run {
    fake: FakeTelegram,
    dir: TestDir,
    clock: ManualClock,
    app: App,
    handle: Option<TelegramHandle>,
}

impl Run {
    async fn start(privacy_ok: bool) -> Run {
        let fake = FakeTelegram::start(privacy_ok).await;
        let dir = TestDir::new();
        let clock = ManualClock::new(t0());
        let (app, handle) = start_on(&fake, &dir, &clock).await;
        Run {
            fake,
            dir,
            clock,
            app,
            handle: Some(handle),
        }
    }

    async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.expect("clean stop");
        }
    }

    async fn restart(&mut self) {
        self.stop().await;
        let (app, handle) = start_on(&self.fake, &self.dir, &self.clock).await;
        self.app = app;
        self.handle = Some(handle);
    }

    async fn state(&self, id: &CommentId) -> CommentState {
        self.app
            .tracker
            .store()
            .comment(id)
            .await
            .unwrap()
            .expect("stored")
            .state
    }

    /// Waits until the comment reaches `state`.
    async fn wait_state(&self, id: &CommentId, state: CommentState) {
        let deadline = std::time::Instant::now() + WAIT;
        while self
            .app
            .tracker
            .store()
            .comment(id)
            .await
            .unwrap()
            .map(|s| s.state)
            != Some(state)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{id} never became {state:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn start_on(
    fake: &FakeTelegram,
    dir: &TestDir,
    clock: &ManualClock,
) -> (App, TelegramHandle) {
    let base = fake.base();
    let mods = tg::MODS.to_string();
    let env = [
        ("ASCOLTO__TELEGRAM__ENABLED", "true"),
        ("ASCOLTO__TELEGRAM__API_BASE", base.as_str()),
        ("ASCOLTO__TELEGRAM__MODERATORS_CHAT", mods.as_str()),
        ("ASCOLTO__TELEGRAM__POLL_TIMEOUT", "1s"),
        ("ASCOLTO__TELEGRAM__CHECK_EVERY", "1s"),
    ];
    let app = dir.app(&env, Arc::new(clock.clone())).await;
    let handle = telegram::start(app.clone(), SecretString::from(TOKEN))
        .await
        .expect("telegram starts");
    (app, handle)
}

fn comment_id(chat: i64, message: i64) -> CommentId {
    CommentId::new(format!("telegram:{chat}:{message}"))
}

fn to_chat(chat: i64) -> impl Fn(&Value) -> bool {
    move |p| p["chat_id"].as_i64() == Some(chat)
}

/// The alert for a comment: the sendMessage to the moderators' chat quoting `text`.
async fn alert_for(fake: &FakeTelegram, text: &str) -> Recorded {
    let text = text.to_owned();
    fake.wait_for(
        "sendMessage",
        move |p| p["chat_id"] == tg::MODS && p["text"].as_str().is_some_and(|t| t.contains(&text)),
        WAIT,
    )
    .await
}

fn alert_id(alert: &Recorded) -> i64 {
    alert.response["result"]["message_id"].as_i64().unwrap()
}

/// The `callback_data` of the alert's button labelled `label`.
fn button(alert: &Recorded, label: &str) -> String {
    alert.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .find(|b| b["text"] == label)
        .and_then(|b| b["callback_data"].as_str())
        .unwrap_or_else(|| panic!("no {label} button"))
        .to_owned()
}

/// Waits until the alert message reads `wanted` (after the bot's edits).
async fn wait_alert_text(fake: &FakeTelegram, alert: i64, wanted: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let message = fake.message(tg::MODS, alert).unwrap();
        if message["text"].as_str().is_some_and(|t| t.contains(wanted)) {
            return message;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the alert never said {wanted:?}: {message}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_complaint_in_a_topic_is_alerted_and_approve_replies_there_exactly_once() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let nora = fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, Some(tg::TOPIC));
    let id = comment_id(tg::SHOP, nora);

    let alert = alert_for(fake, COMPLAINT).await;
    let text = alert.params["text"].as_str().unwrap();
    assert!(text.contains("Nora Rossi in Telegram · Clienti"), "{text}");
    assert!(text.contains("🔗 https://t.me/c/1000000001/"), "{text}");
    assert!(text.contains("Why: it.complaint.late"), "{text}");
    assert!(
        text.contains("Suggested reply:\nCi dispiace Nora Rossi"),
        "{text}"
    );
    assert!(alert.params.get("parse_mode").is_none(), "plain text only");
    let labels: Vec<_> = alert.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|b| b["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        labels,
        ["Approve", "Another wording", "Dismiss", "Mark answered"]
    );
    run.wait_state(&id, CommentState::Alerted).await;
    let stored = run.app.tracker.store().comment(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.comment.reply_to, None,
        "the topic's root is not a reply"
    );
    let draft = stored.draft.unwrap().text;

    let click = fake.click(
        tg::MIA,
        tg::MODS,
        alert_id(&alert),
        &button(&alert, "Approve"),
    );
    let reply = fake.wait_for("sendMessage", to_chat(tg::SHOP), WAIT).await;
    assert_eq!(reply.params["reply_parameters"]["message_id"], nora);
    assert_eq!(reply.params["message_thread_id"], tg::TOPIC);
    assert_eq!(reply.params["text"], json!(draft));
    assert!(reply.params.get("parse_mode").is_none());

    let closed = wait_alert_text(fake, alert_id(&alert), "Replied by Mia").await;
    assert!(
        closed.get("reply_markup").is_none(),
        "no buttons once replied"
    );
    run.wait_state(&id, CommentState::Replied).await;
    // A second click on a stale copy of the buttons sends nothing more.
    let again = fake.click(
        tg::MIA,
        tg::MODS,
        alert_id(&alert),
        &button(&alert, "Approve"),
    );
    fake.wait_for(
        "answerCallbackQuery",
        move |p| p["callback_query_id"] == again.as_str(),
        WAIT,
    )
    .await;
    assert_eq!(fake.calls("sendMessage", to_chat(tg::SHOP)).len(), 1);
    assert_eq!(fake.answers(&click), 1, "every click answered exactly once");
    let actions = run.app.tracker.store().actions_for(&id).await.unwrap();
    assert_eq!(actions.last().unwrap().kind, ActionKind::Approved);
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_by_someone_who_is_not_a_moderator_is_refused_and_changes_nothing() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let nora = fake.post(tg::PUBLIC, tg::NORA, COMPLAINT, None, None);
    let alert = alert_for(fake, COMPLAINT).await;
    assert!(alert.params["text"]
        .as_str()
        .unwrap()
        .contains("https://t.me/negozio_it/"));
    let click = fake.click(
        tg::EVE,
        tg::MODS,
        alert_id(&alert),
        &button(&alert, "Approve"),
    );
    let answer = fake
        .wait_for(
            "answerCallbackQuery",
            move |p| p["callback_query_id"] == click.as_str(),
            WAIT,
        )
        .await;
    assert_eq!(answer.params["show_alert"], true);
    assert!(answer.params["text"]
        .as_str()
        .unwrap()
        .contains("Only Ascolto's moderators"));
    let dismiss = fake.click(
        tg::EVE,
        tg::MODS,
        alert_id(&alert),
        &button(&alert, "Dismiss"),
    );
    fake.wait_for(
        "answerCallbackQuery",
        move |p| p["callback_query_id"] == dismiss.as_str(),
        WAIT,
    )
    .await;
    assert!(fake.calls("sendMessage", to_chat(tg::PUBLIC)).is_empty());
    assert_eq!(
        run.state(&comment_id(tg::PUBLIC, nora)).await,
        CommentState::Alerted
    );
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_replying_to_the_alert_sends_their_own_wording() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let nora = fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    let alert = alert_for(fake, COMPLAINT).await;
    // The fake has answered the alert's sendMessage; a reply is known to be to the alert once
    // the bot has recorded it (a moderator cannot reply in the milliseconds between).
    run.wait_state(&comment_id(tg::SHOP, nora), CommentState::Alerted)
        .await;
    // Chatter among moderators is not an edit.
    fake.post(tg::MODS, tg::MIA, "Chi se ne occupa?", None, None);
    let mine = "Ciao Nora, il corriere consegna domani mattina.";
    fake.post(tg::MODS, tg::MIA, mine, Some(alert_id(&alert)), None);
    let reply = fake.wait_for("sendMessage", to_chat(tg::SHOP), WAIT).await;
    assert_eq!(reply.params["text"], mine);
    assert_eq!(reply.params["reply_parameters"]["message_id"], nora);
    assert!(reply.params.get("message_thread_id").is_none());
    wait_alert_text(fake, alert_id(&alert), "Replied by Mia (edited)").await;
    let id = comment_id(tg::SHOP, nora);
    let actions = run.app.tracker.store().actions_for(&id).await.unwrap();
    let last = actions.last().unwrap();
    assert_eq!(last.kind, ActionKind::Edited);
    assert_eq!(last.sent_text.as_deref(), Some(mine));
    // A non-moderator replying to an alert sends nothing.
    fake.post(
        tg::MODS,
        tg::EVE,
        "Lo faccio io",
        Some(alert_id(&alert)),
        None,
    );
    fake.wait_until_confirmed(WAIT).await;
    assert_eq!(fake.calls("sendMessage", to_chat(tg::SHOP)).len(), 1);
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_in_the_moderators_chat_show_the_queue_try_a_text_post_the_digest_and_reload() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let nora = fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    alert_for(fake, COMPLAINT).await;
    run.wait_state(&comment_id(tg::SHOP, nora), CommentState::Alerted)
        .await;
    let answer = |wanted: &'static str| {
        fake.wait_for(
            "sendMessage",
            move |p| {
                p["chat_id"] == tg::MODS && p["text"].as_str().is_some_and(|t| t.contains(wanted))
            },
            WAIT,
        )
    };

    fake.post(tg::MODS, tg::MIA, "/queue", None, None);
    let queue = answer("waiting for an answer").await;
    let text = queue.params["text"].as_str().unwrap();
    assert!(
        text.starts_with("1 waiting for an answer (oldest first)\n"),
        "{text}"
    );
    assert!(text.contains("• complaint — Nora"), "{text}");
    assert!(text.contains(COMPLAINT), "{text}");
    assert!(
        queue.params.get("parse_mode").is_none(),
        "plain text: {}",
        queue.params
    );

    // Addressed to this bot by name, as Telegram's command menu writes it in groups.
    fake.post(
        tg::MODS,
        tg::EVE,
        "/test@ascolto_test_bot Il pacco non è arrivato!",
        None,
        None,
    );
    let test = answer("labels:").await;
    let text = test.params["text"].as_str().unwrap();
    assert!(text.contains("complaint"), "{text}");
    assert!(text.contains("language: it"), "{text}");

    // The queue shows members' private messages: moderators only, as are the digest and a
    // reload of the rules.
    for command in ["/queue", "/digest", "/reload"] {
        fake.post(tg::MODS, tg::EVE, command, None, None);
    }
    fake.post(tg::MODS, tg::MIA, "/reload", None, None);
    answer("Rule library reloaded:").await;
    let refusals = fake.calls("sendMessage", |p| {
        p["chat_id"] == tg::MODS
            && p["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Only Ascolto's moderators"))
    });
    assert_eq!(refusals.len(), 3, "{refusals:#?}");
    fake.post(tg::MODS, tg::MIA, "/digest", None, None);
    answer("Ascolto digest").await;
    fake.wait_for("sendPhoto", to_chat_text(tg::MODS), WAIT)
        .await;
    // A command for another bot, and one Ascolto does not know, get no answer.
    fake.post(tg::MODS, tg::MIA, "/queue@other_bot", None, None);
    fake.post(tg::MODS, tg::MIA, "/weather Roma", None, None);
    fake.post(tg::MODS, tg::MIA, "/help", None, None);
    answer("/test <text>").await;
    fake.wait_until_confirmed(WAIT).await;
    let to_mods = fake.calls("sendMessage", to_chat(tg::MODS));
    // The alert, the queue, the test, three refusals, the reload, the digest and the help:
    // nothing else.
    assert_eq!(to_mods.len(), 9, "{to_mods:#?}");
    // Nothing was stored for the text tried.
    assert_eq!(run.app.tracker.open().await.unwrap().len(), 1);
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_admins_reply_answers_the_comment_and_the_alert_says_so() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let nora = fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    let alert = alert_for(fake, COMPLAINT).await;
    let id = comment_id(tg::SHOP, nora);
    run.wait_state(&id, CommentState::Alerted).await;
    fake.post(
        tg::SHOP,
        tg::LUCA,
        "Ciao Nora, controllo subito il tuo ordine.",
        Some(nora),
        None,
    );
    run.wait_state(&id, CommentState::Answered).await;
    let closed = wait_alert_text(fake, alert_id(&alert), "Answered in the channel by Luca").await;
    assert!(closed.get("reply_markup").is_none());
    assert!(!fake
        .calls("getChatAdministrators", to_chat(tg::SHOP))
        .is_empty());
    // A member's reply to the same kind of complaint answers nothing.
    let other = fake.post(
        tg::SHOP,
        tg::NORA,
        "Anche il secondo ordine non è arrivato",
        None,
        None,
    );
    alert_for(fake, "Anche il secondo").await;
    fake.post(tg::SHOP, tg::EVE, "Anche a me!", Some(other), None);
    fake.wait_until_confirmed(WAIT).await;
    assert_eq!(
        run.state(&comment_id(tg::SHOP, other)).await,
        CommentState::Alerted
    );
    run.stop().await;
    run.fake.assert_clean();
}

async fn a_restart_neither_loses_nor_repeats_updates() {
    let mut run = Run::start(true).await;
    let first = run.fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    alert_for(&run.fake, COMPLAINT).await;
    run.fake.wait_until_confirmed(WAIT).await;
    run.stop().await;

    // Written while the bot is down.
    let second = run.fake.post(
        tg::PUBLIC,
        tg::EVE,
        "Il rimborso è in ritardo di due settimane",
        None,
        None,
    );
    let expected_offset = run.fake.next_update_id() - 1;
    let before = run.fake.requests().len();
    run.restart().await;
    alert_for(&run.fake, "Il rimborso è in ritardo").await;
    let polls: Vec<_> = run.fake.requests()[before..]
        .iter()
        .filter(|r| r.method == "getUpdates")
        .map(|r| r.params["offset"].as_i64())
        .collect();
    assert_eq!(
        polls.first().copied().flatten(),
        Some(expected_offset),
        "resumes at the stored offset"
    );
    let alerts = run.fake.calls("sendMessage", to_chat(tg::MODS));
    assert_eq!(alerts.len(), 2, "one alert per comment across the restart");
    assert_eq!(
        run.state(&comment_id(tg::SHOP, first)).await,
        CommentState::Alerted
    );
    run.wait_state(&comment_id(tg::PUBLIC, second), CommentState::Alerted)
        .await;
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_control_is_waited_out_and_the_call_retried() {
    let fake = FakeTelegram::start(true).await;
    let wait = json!({"retry_after": 1});
    fake.fail_next(
        "getUpdates",
        429,
        "Too Many Requests: retry after 1",
        wait.clone(),
    );
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", wait);
    let dir = TestDir::new();
    let (app, handle) = start_on(&fake, &dir, &ManualClock::new(t0())).await;
    let nora = fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    alert_for(&fake, COMPLAINT).await;
    let requests = fake.requests();
    for method in ["getUpdates", "sendMessage"] {
        let calls: Vec<_> = requests.iter().filter(|r| r.method == method).collect();
        let refused = calls.iter().position(|r| r.status == 429).expect("a 429");
        let retried = calls[refused + 1..]
            .iter()
            .find(|r| r.status == 200)
            .expect("retried after the 429");
        let waited = retried.at - calls[refused].at;
        assert!(
            waited >= Duration::from_millis(950),
            "{method} retried after {waited:?}"
        );
    }
    // The alert was retried by the outbox: one row, two attempts, sent once.
    let id = comment_id(tg::SHOP, nora);
    let deadline = std::time::Instant::now() + WAIT;
    let row = loop {
        let rows = app.tracker.store().outbox_for(&id).await.unwrap();
        let alert = rows
            .into_iter()
            .find(|r| r.payload.kind() == ascolto::outbox::OutboxKind::Alert)
            .expect("the alert's outbox row");
        if alert.state == ascolto::outbox::OutboxState::Sent {
            break alert;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never sent: {alert:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(row.attempts, 2, "{row:?}");
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("rate limited")),
        "{row:?}"
    );
    assert_eq!(fake.calls("sendMessage", to_chat(tg::MODS)).len(), 1);
    handle.shutdown().await.unwrap();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_mode_is_detected_at_start() {
    let mut run = Run::start(false).await;
    assert!(run.handle.as_ref().unwrap().privacy_mode());
    let notice = telegram::privacy_notice(&run.handle.as_ref().unwrap().telegram().bot).unwrap();
    assert!(notice.contains("@ascolto_test_bot"), "{notice}");
    assert!(notice.contains("/setprivacy"), "{notice}");
    run.stop().await;

    let mut run = Run::start(true).await;
    assert!(!run.handle.as_ref().unwrap().privacy_mode());
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_update_is_skipped_and_the_next_ones_handled() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let bad = fake.next_update_id();
    fake.push_raw(json!({"update_id": bad, "message": {"message_id": "not a number", "chat": 5}}));
    fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    alert_for(fake, COMPLAINT).await;
    fake.wait_until_confirmed(WAIT).await;
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.method == "getUpdates" && r.params["offset"].as_i64() > Some(bad)));
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dismiss_another_wording_and_edits_keep_the_alert_in_step() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let nora = fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    let id = comment_id(tg::SHOP, nora);
    let alert = alert_for(fake, COMPLAINT).await;
    let message = alert_id(&alert);

    fake.click(
        tg::MIA,
        tg::MODS,
        message,
        &button(&alert, "Another wording"),
    );
    wait_alert_text(fake, message, "capiamo il fastidio").await;
    assert_eq!(run.state(&id).await, CommentState::Alerted);

    // The author edits the complaint away: the alert says so and loses its buttons.
    fake.edit(tg::SHOP, nora, "Scusate, è arrivato adesso. Grazie!");
    let edited = wait_alert_text(fake, message, "no longer needs a reply").await;
    assert!(edited.get("reply_markup").is_none());
    run.wait_state(&id, CommentState::Clear).await;

    // A new complaint, dismissed.
    let other = fake.post(tg::SHOP, tg::EVE, "Il pacco è in ritardo", None, None);
    let alert = alert_for(fake, "Il pacco è in ritardo").await;
    let click = fake.click(
        tg::MIA,
        tg::MODS,
        alert_id(&alert),
        &button(&alert, "Dismiss"),
    );
    wait_alert_text(fake, alert_id(&alert), "Dismissed by Mia").await;
    run.wait_state(&comment_id(tg::SHOP, other), CommentState::Dismissed)
        .await;
    fake.wait_for(
        "answerCallbackQuery",
        move |p| p["callback_query_id"] == click.as_str(),
        WAIT,
    )
    .await;
    run.stop().await;
    run.fake.assert_clean();
}

async fn replies_follow_a_group_upgraded_to_a_supergroup_and_direct_messages_work() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let old = fake.post(tg::OLD_GROUP, tg::NORA, COMPLAINT, None, None);
    let alert = alert_for(fake, COMPLAINT).await;
    fake.migrate(tg::OLD_GROUP, tg::UPGRADED);
    fake.wait_until_confirmed(WAIT).await;
    fake.click(
        tg::MIA,
        tg::MODS,
        alert_id(&alert),
        &button(&alert, "Approve"),
    );
    let reply = fake
        .wait_for("sendMessage", to_chat(tg::UPGRADED), WAIT)
        .await;
    assert_eq!(reply.params["reply_parameters"]["message_id"], old);
    run.wait_state(&comment_id(tg::OLD_GROUP, old), CommentState::Replied)
        .await;

    let dm = fake.post(tg::NORA, tg::NORA, "Il mio reso è in ritardo", None, None);
    let alert = alert_for(fake, "Il mio reso è in ritardo").await;
    assert!(alert.params["text"]
        .as_str()
        .unwrap()
        .contains("Telegram · direct message"));
    let stored = run
        .app
        .tracker
        .store()
        .comment(&comment_id(tg::NORA, dm))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.comment.place.is_dm);
    fake.click(
        tg::MIA,
        tg::MODS,
        alert_id(&alert),
        &button(&alert, "Approve"),
    );
    let reply = fake.wait_for("sendMessage", to_chat(tg::NORA), WAIT).await;
    assert_eq!(reply.params["reply_parameters"]["message_id"], dm);
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_sends_a_chart_as_a_multipart_photo() {
    let fake = FakeTelegram::start(true).await;
    let api = TelegramApi::new(&fake.base(), SecretString::from(TOKEN)).unwrap();
    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3];
    api.send_photo(
        telegram::types::ChatId(tg::MODS),
        png.clone(),
        "digest.png",
        "Digest",
    )
    .await
    .unwrap();
    let sent = fake.wait_for("sendPhoto", |_| true, WAIT).await;
    assert_eq!(sent.params["chat_id"], tg::MODS.to_string());
    assert_eq!(sent.files.len(), 1);
    assert_eq!(sent.files[0].0, "photo");
    assert_eq!(sent.files[0].2, png);
    let wrong = TelegramApi::new(&fake.base(), SecretString::from("1:wrong")).unwrap();
    let err = wrong.get_me().await.unwrap_err();
    assert!(
        matches!(err, telegram::TelegramError::Unauthorized(_)),
        "{err}"
    );
    assert!(
        !err.to_string().contains("1:wrong"),
        "the token never shows: {err}"
    );
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_refuses_requests_the_spec_does_not_describe() {
    let fake = FakeTelegram::start(true).await;
    let api = TelegramApi::new(&fake.base(), SecretString::from(TOKEN)).unwrap();
    let timeout = Duration::from_secs(5);
    let _ = api
        .call::<Value>(
            "sendMessage",
            &json!({"chat_id": tg::MODS, "txt": "hi"}),
            timeout,
        )
        .await;
    let _ = api
        .call::<Value>(
            "sendMessage",
            &json!({"chat_id": true, "text": "hi", "reply_parameters": {"message": 1}}),
            timeout,
        )
        .await;
    let _ = api.call::<Value>("sendMesage", &json!({}), timeout).await;
    let violations = fake.violations().join("\n");
    for expected in [
        "required field `text` is missing",
        "`txt` is not a field of sendMessage",
        "chat_id: expected",
        "ReplyParameters lacks required `message_id`",
        "`message` is not a field of ReplyParameters",
        "`sendMesage` is not a Bot API method",
    ] {
        assert!(
            violations.contains(expected),
            "{expected:?} not in:\n{violations}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_alert_warns_as_its_target_nears_and_says_when_it_is_missed() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    let alert = alert_for(fake, COMPLAINT).await;
    assert!(alert.params["text"]
        .as_str()
        .unwrap()
        .contains("⏱ target 30 min: 30 min left"));
    run.clock.advance(chrono::Duration::minutes(25));
    let nearing = wait_alert_text(fake, alert_id(&alert), "⚠ target 30 min: 5 min left").await;
    assert!(
        nearing.get("reply_markup").is_some(),
        "still open, still with buttons"
    );
    run.clock.advance(chrono::Duration::minutes(10));
    wait_alert_text(fake, alert_id(&alert), "⛔ target 30 min: missed by 5 min").await;
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_could_not_be_posted_is_posted_at_the_next_start() {
    let mut run = Run::start(true).await;
    run.fake.fail_next(
        "sendMessage",
        403,
        "Forbidden: bot was kicked from the supergroup chat",
        Value::Null,
    );
    let nora = run.fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    // Refused for good: given up at once, and the moderators are told.
    let notice = run
        .fake
        .wait_for(
            "sendMessage",
            |p| {
                p["chat_id"] == tg::MODS
                    && p["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("gave up posting the alert"))
            },
            WAIT,
        )
        .await;
    let text = notice.params["text"].as_str().unwrap();
    assert!(
        text.contains("about Nora Rossi in Telegram · Clienti"),
        "{text}"
    );
    assert!(text.contains("not a member of that chat"), "{text}");
    let id = comment_id(tg::SHOP, nora);
    assert_eq!(run.state(&id).await, CommentState::Flagged);
    let alerts = |fake: &FakeTelegram| {
        fake.calls("sendMessage", |p| {
            p["chat_id"] == tg::MODS && p["text"].as_str().is_some_and(|t| t.contains(COMPLAINT))
        })
    };
    assert!(alerts(&run.fake).is_empty());
    run.restart().await;
    alert_for(&run.fake, COMPLAINT).await;
    run.wait_state(&id, CommentState::Alerted).await;
    run.stop().await;
    run.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_refused_because_the_group_moved_goes_to_the_supergroup() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let old = fake.post(tg::OLD_GROUP, tg::NORA, COMPLAINT, None, None);
    let alert = alert_for(fake, COMPLAINT).await;
    fake.migrate_unannounced(tg::OLD_GROUP, tg::UPGRADED);
    fake.click(
        tg::MIA,
        tg::MODS,
        alert_id(&alert),
        &button(&alert, "Approve"),
    );
    let reply = fake
        .wait_for("sendMessage", to_chat(tg::UPGRADED), WAIT)
        .await;
    assert_eq!(reply.params["reply_parameters"]["message_id"], old);
    let refused: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "sendMessage" && r.params["chat_id"] == tg::OLD_GROUP)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].status, 400);
    run.wait_state(&comment_id(tg::OLD_GROUP, old), CommentState::Replied)
        .await;
    run.stop().await;
    run.fake.assert_clean();
}

/// Kills the bot if the test fails before stopping it, so no process outlives the test.
struct Stray(Option<std::process::Child>);

impl Drop for Stray {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `ascolto run` as an operator starts it: Telegram alone, the token from the environment.
fn ascolto_run(fake: &FakeTelegram, dir: &TestDir, token: Option<&str>) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ascolto"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("run")
        .env("ASCOLTO__TELEGRAM__ENABLED", "true")
        .env("ASCOLTO__TELEGRAM__API_BASE", fake.base())
        .env("ASCOLTO__TELEGRAM__MODERATORS_CHAT", tg::MODS.to_string())
        .env("ASCOLTO__TELEGRAM__POLL_TIMEOUT", "1s")
        .env("ASCOLTO__STORE__URL", dir.db())
        .env("ASCOLTO__RULES__DIR", dir.rules())
        .env_remove("DISCORD_TOKEN")
        .env_remove("TELEGRAM_TOKEN")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(token) = token {
        cmd.env("TELEGRAM_TOKEN", token);
    }
    cmd.spawn().expect("run ascolto")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascolto_run_serves_telegram_alone_warns_about_privacy_and_never_logs_the_token() {
    let fake = FakeTelegram::start(false).await;
    let dir = TestDir::new();
    let mut child = Stray(Some(ascolto_run(&fake, &dir, Some(TOKEN))));
    fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    alert_for(&fake, COMPLAINT).await;
    let child = child.0.take().expect("running");
    // A graceful stop, as a service manager asks for it.
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
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("privacy mode is on"), "{log}");
    assert!(log.contains("/setprivacy"), "{log}");
    assert!(
        !log.contains("AAfake-token"),
        "the token never shows: {log}"
    );
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascolto_run_without_the_token_says_where_it_belongs() {
    let fake = FakeTelegram::start(true).await;
    let dir = TestDir::new();
    let child = ascolto_run(&fake, &dir, None);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("ascolto ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("TELEGRAM_TOKEN"), "{stderr}");
    assert!(
        !stderr.contains("DISCORD_TOKEN"),
        "Discord is not asked for: {stderr}"
    );
    assert!(fake.requests().is_empty());
}

/// Discord and Telegram in one process on one database, both moderators' rooms (the default
/// when both run), as `ascolto run` starts them.
struct BothRooms {
    discord: crate::support::FakeDiscord,
    telegram: FakeTelegram,
    app: App,
    bot: Option<ascolto::discord::BotHandle>,
    polling: Option<TelegramHandle>,
    _dir: TestDir,
}

impl BothRooms {
    async fn start() -> BothRooms {
        use crate::support::{ids, FakeDiscord, World};
        let discord = FakeDiscord::start(World::default_test()).await;
        let telegram = FakeTelegram::start(true).await;
        let dir = TestDir::new();
        let (d_base, t_base) = (discord.api_base(), telegram.base());
        let (d_mods, t_mods) = (ids::MODS.to_string(), tg::MODS.to_string());
        let (mod_role, staff_role) = (ids::MODERATOR_ROLE.to_string(), ids::STAFF_ROLE.to_string());
        let env = [
            ("ASCOLTO__DISCORD__API_BASE", d_base.as_str()),
            ("ASCOLTO__DISCORD__ALERT_CHANNEL", d_mods.as_str()),
            ("ASCOLTO__DISCORD__MODERATOR_ROLES", mod_role.as_str()),
            ("ASCOLTO__DISCORD__STAFF_ROLES", staff_role.as_str()),
            ("ASCOLTO__DISCORD__CHECK_EVERY", "1s"),
            ("ASCOLTO__TELEGRAM__ENABLED", "true"),
            ("ASCOLTO__TELEGRAM__API_BASE", t_base.as_str()),
            ("ASCOLTO__TELEGRAM__MODERATORS_CHAT", t_mods.as_str()),
            ("ASCOLTO__TELEGRAM__POLL_TIMEOUT", "1s"),
            ("ASCOLTO__TELEGRAM__CHECK_EVERY", "1s"),
            ("ASCOLTO__ALERTS__ROOMS", "discord,telegram"),
        ];
        let app = dir.app(&env, Arc::new(ManualClock::new(t0()))).await;
        assert_eq!(
            app.settings.rooms_for(true, true).unwrap(),
            [
                ascolto::config::RoomKind::Discord,
                ascolto::config::RoomKind::Telegram
            ]
        );
        let bot = ascolto::discord::start(app.clone(), SecretString::from(discord.token()))
            .await
            .expect("discord starts");
        discord.wait_connected(WAIT).await;
        let polling = telegram::start(app.clone(), SecretString::from(TOKEN))
            .await
            .expect("telegram starts");
        BothRooms {
            discord,
            telegram,
            app,
            bot: Some(bot),
            polling: Some(polling),
            _dir: dir,
        }
    }

    /// The Discord alert whose footer names `comment`.
    async fn discord_alert(&self, comment: &CommentId) -> Value {
        let footer = format!("comment {comment}");
        self.discord
            .wait_for_posted_message(
                crate::support::ids::MODS,
                |m| m["embeds"][0]["footer"]["text"] == footer.as_str(),
                WAIT,
            )
            .await
    }

    async fn discord_alert_until(&self, alert: &Value, what: &str, ok: impl Fn(&Value) -> bool) {
        let id = crate::discord_bot::message_id(alert);
        self.discord
            .wait_until(what, WAIT, |f| {
                f.message(crate::support::ids::MODS, id)
                    .is_some_and(|m| ok(&m))
            })
            .await;
    }

    async fn wait_state(&self, id: &CommentId, state: CommentState) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let now = self.app.tracker.store().comment(id).await.unwrap();
            if now.as_ref().map(|s| s.state) == Some(state) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} never became {state:?}: {:?}",
                now.map(|s| s.state)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(mut self) {
        if let Some(polling) = self.polling.take() {
            polling.shutdown().await.expect("telegram stops");
        }
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await.expect("discord stops");
        }
        self.telegram.assert_clean();
        self.discord.assert_clean();
    }
}

async fn with_both_rooms_a_telegram_comment_approved_in_discord_is_replied_in_telegram() {
    use crate::discord_bot::{buttons, message_id};
    use crate::support::ids;
    let both = BothRooms::start().await;
    let nora = both
        .telegram
        .post(tg::SHOP, tg::NORA, COMPLAINT, None, Some(tg::TOPIC));
    let id = comment_id(tg::SHOP, nora);
    // One alert in each room.
    let tg_alert = alert_for(&both.telegram, COMPLAINT).await;
    let dc_alert = both.discord_alert(&id).await;
    both.wait_state(&id, CommentState::Alerted).await;

    let approve = buttons(&dc_alert)
        .into_iter()
        .find(|(label, _)| label == "Approve")
        .expect("an Approve button")
        .1;
    both.discord
        .click_button(message_id(&dc_alert), &approve, ids::MIA);
    // The reply goes to the comment's own platform, in its topic, replying to it: once.
    let reply = both
        .telegram
        .wait_for("sendMessage", to_chat(tg::SHOP), WAIT)
        .await;
    assert_eq!(reply.params["reply_parameters"]["message_id"], nora);
    assert_eq!(reply.params["message_thread_id"], tg::TOPIC);
    both.wait_state(&id, CommentState::Replied).await;
    // Done in both rooms: the Telegram alert says who replied and lost its buttons.
    let closed = wait_alert_text(&both.telegram, alert_id(&tg_alert), "Replied by").await;
    assert!(closed.get("reply_markup").is_none(), "{closed}");
    both.discord_alert_until(&dc_alert, "the Discord alert to close", |m| {
        buttons(m).is_empty() && m.to_string().contains("Replied by")
    })
    .await;
    assert_eq!(
        both.telegram.calls("sendMessage", to_chat(tg::SHOP)).len(),
        1
    );
    // Nothing of it was posted on Discord's community channels.
    assert!(both.discord.posted_messages(ids::SUPPORT).is_empty());
    let rows = both.app.tracker.store().outbox_for(&id).await.unwrap();
    let reply_rows: Vec<_> = rows
        .iter()
        .filter(|r| r.payload.kind() == ascolto::outbox::OutboxKind::Reply)
        .collect();
    assert_eq!(reply_rows.len(), 1);
    assert_eq!(
        reply_rows[0].destination,
        ascolto::outbox::Destination::Telegram
    );
    both.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_both_rooms_a_discord_comment_approved_in_telegram_is_replied_in_discord() {
    use crate::discord_bot::buttons;
    use crate::support::ids;
    let both = BothRooms::start().await;
    let text = "Il mio rimborso non è arrivato e nessuno mi risponde";
    let complaint = both
        .discord
        .message_create(ids::SUPPORT, ids::NORA, text, None);
    let id = CommentId::new(complaint.to_string());
    let dc_alert = both.discord_alert(&id).await;
    let tg_alert = alert_for(&both.telegram, text).await;
    assert!(
        tg_alert.params["text"]
            .as_str()
            .unwrap()
            .contains(&format!("comment {complaint}")),
        "{}",
        tg_alert.params["text"]
    );
    // A non-moderator's click in Telegram is refused there too.
    let refused = both.telegram.click(
        tg::EVE,
        tg::MODS,
        alert_id(&tg_alert),
        &button(&tg_alert, "Approve"),
    );
    both.telegram
        .wait_for(
            "answerCallbackQuery",
            move |p| p["callback_query_id"] == refused.as_str(),
            WAIT,
        )
        .await;
    assert!(both.discord.posted_messages(ids::SUPPORT).is_empty());

    both.telegram.click(
        tg::MIA,
        tg::MODS,
        alert_id(&tg_alert),
        &button(&tg_alert, "Approve"),
    );
    let reply = both
        .discord
        .wait_for_posted_message(ids::SUPPORT, |_| true, WAIT)
        .await;
    assert_eq!(
        reply["message_reference"]["message_id"],
        complaint.to_string(),
        "{reply}"
    );
    both.wait_state(&id, CommentState::Replied).await;
    wait_alert_text(&both.telegram, alert_id(&tg_alert), "Replied by Mia").await;
    both.discord_alert_until(&dc_alert, "the Discord alert to close", |m| {
        buttons(m).is_empty() && m.to_string().contains("Replied by Mia")
    })
    .await;
    assert_eq!(both.discord.posted_messages(ids::SUPPORT).len(), 1);
    assert!(both
        .telegram
        .calls("sendMessage", to_chat(tg::SHOP))
        .is_empty());

    // Dismissed in Discord: the Telegram alert shows it too.
    let second = "Il pacco è in ritardo di una settimana";
    let other = both
        .discord
        .message_create(ids::SUPPORT, ids::NORA, second, None);
    let other_id = CommentId::new(other.to_string());
    let dc_other = both.discord_alert(&other_id).await;
    let tg_other = alert_for(&both.telegram, second).await;
    let dismiss = buttons(&dc_other)
        .into_iter()
        .find(|(label, _)| label == "Dismiss")
        .expect("a Dismiss button")
        .1;
    both.discord.click_button(
        crate::discord_bot::message_id(&dc_other),
        &dismiss,
        ids::MIA,
    );
    let dismissed = wait_alert_text(&both.telegram, alert_id(&tg_other), "Dismissed by").await;
    assert!(dismissed.get("reply_markup").is_none());
    both.wait_state(&other_id, CommentState::Dismissed).await;
    both.finish().await;
}

async fn escalations_and_the_daily_digest_reach_the_telegram_room() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    alert_for(fake, COMPLAINT).await;
    // Past the complaint's 30-minute target: one escalation, plain text.
    run.clock.advance(chrono::Duration::minutes(35));
    let escalation = fake
        .wait_for(
            "sendMessage",
            |p| {
                p["chat_id"] == tg::MODS
                    && p["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("⛔ Response target 30 min missed"))
            },
            WAIT,
        )
        .await;
    let text = escalation.params["text"].as_str().unwrap();
    assert!(text.contains("Nora Rossi"), "{text}");
    assert!(text.contains(COMPLAINT), "{text}");
    assert!(!text.contains("**") && !text.contains("<@&"), "{text}");
    assert!(escalation.params.get("parse_mode").is_none());

    // The digest at 18:00: its text, then its chart as a photo.
    run.clock.advance(chrono::Duration::hours(9));
    let digest = fake
        .wait_for(
            "sendMessage",
            |p| {
                p["chat_id"] == tg::MODS
                    && p["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Ascolto digest"))
            },
            WAIT,
        )
        .await;
    let text = digest.params["text"].as_str().unwrap();
    assert!(text.contains("Unanswered now: 1"), "{text}");
    let chart = fake
        .wait_for("sendPhoto", to_chat_text(tg::MODS), WAIT)
        .await;
    assert_eq!(chart.files.len(), 1);
    assert!(chart.files[0].2.starts_with(b"\x89PNG"), "a PNG chart");
    // Once each, however many checks run.
    fake.wait_until_confirmed(WAIT).await;
    run.clock.advance(chrono::Duration::minutes(1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let escalations = fake.calls("sendMessage", |p| {
        p["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("⛔ Response target"))
    });
    assert_eq!(escalations.len(), 1);
    assert_eq!(fake.calls("sendPhoto", |_| true).len(), 1);
    run.stop().await;
    run.fake.assert_clean();
}

/// `chat_id` as a multipart form carries it: text.
fn to_chat_text(chat: i64) -> impl Fn(&Value) -> bool {
    move |p| p["chat_id"].as_str() == Some(chat.to_string().as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_removed_from_a_group_gives_the_reply_up_and_moderators_are_told_once() {
    let mut run = Run::start(true).await;
    let fake = &run.fake;
    let first = fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    let second = fake.post(tg::SHOP, tg::EVE, "Il pacco è in ritardo", None, None);
    let alert_one = alert_for(fake, COMPLAINT).await;
    let alert_two = alert_for(fake, "Il pacco è in ritardo").await;
    // One approval at a time, each failing: the refusal is armed for the next sendMessage,
    // whichever chat it goes to, so nothing else may be on its way then (the moderators'
    // notice included).
    let told = |p: &Value| {
        p["chat_id"] == tg::MODS
            && p["text"]
                .as_str()
                .is_some_and(|t| t.contains("gave up posting"))
    };
    let mut notice = None;
    for alert in [&alert_one, &alert_two] {
        fake.fail_next(
            "sendMessage",
            403,
            "Forbidden: bot was kicked from the supergroup chat",
            Value::Null,
        );
        fake.click(
            tg::MIA,
            tg::MODS,
            alert_id(alert),
            &button(alert, "Approve"),
        );
        // Refused for good at once, the comment back with the moderators.
        let back = wait_alert_text(fake, alert_id(alert), "could not be posted").await;
        assert!(back.get("reply_markup").is_some(), "buttons back: {back}");
        if notice.is_none() {
            notice = Some(fake.wait_for("sendMessage", told, WAIT).await);
        }
    }
    run.wait_state(&comment_id(tg::SHOP, first), CommentState::Alerted)
        .await;
    run.wait_state(&comment_id(tg::SHOP, second), CommentState::Alerted)
        .await;
    let notice = notice.expect("told after the first refusal");
    let text = notice.params["text"].as_str().unwrap();
    assert!(text.contains("not a member of that chat"), "{text}");
    fake.wait_until_confirmed(WAIT).await;
    let notices = fake.calls("sendMessage", |p| {
        p["text"]
            .as_str()
            .is_some_and(|t| t.contains("gave up posting"))
    });
    assert_eq!(notices.len(), 1, "told once: {notices:#?}");
    assert_eq!(fake.calls("sendMessage", to_chat(tg::SHOP)).len(), 0);
    run.stop().await;
    run.fake.assert_clean();
}

const WEBHOOK_SECRET: &str = "test-webhook-Secret_42";

/// The bot in webhook mode: Telegram started with the secret, and its route served by the
/// bot's HTTP server on 127.0.0.1.
async fn start_webhook(
    fake: &FakeTelegram,
    dir: &TestDir,
    clock: &ManualClock,
) -> (TelegramHandle, ascolto::http::HttpServer) {
    let base = fake.base();
    let mods = tg::MODS.to_string();
    let env = [
        ("ASCOLTO__TELEGRAM__ENABLED", "true"),
        ("ASCOLTO__TELEGRAM__API_BASE", base.as_str()),
        ("ASCOLTO__TELEGRAM__MODERATORS_CHAT", mods.as_str()),
        ("ASCOLTO__TELEGRAM__CHECK_EVERY", "1s"),
        ("ASCOLTO__TELEGRAM__MODE", "webhook"),
        (
            "ASCOLTO__TELEGRAM__WEBHOOK_URL",
            "https://bot.example.org/webhooks/telegram",
        ),
    ];
    let app = dir.app(&env, Arc::new(clock.clone())).await;
    let handle = telegram::start_with(
        app.clone(),
        SecretString::from(TOKEN),
        Some(SecretString::from(WEBHOOK_SECRET)),
    )
    .await
    .expect("telegram starts in webhook mode");
    let routes = handle.webhook_routes().expect("webhook routes");
    let server = ascolto::http::HttpServer::start(
        "127.0.0.1:0",
        ascolto::http::router(vec![routes], app.settings.http.max_body_kb * 1024),
    )
    .await
    .expect("server");
    (handle, server)
}

async fn deliver(server: &ascolto::http::HttpServer, secret: Option<&str>, update: &Value) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("{}/webhooks/telegram", server.base_url()))
        .json(update);
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    request
        .send()
        .await
        .expect("the bot answers")
        .status()
        .as_u16()
}

async fn webhook_mode_refuses_a_bad_secret_and_takes_an_update_in_once_across_restarts() {
    let fake = FakeTelegram::start(true).await;
    let dir = TestDir::new();
    let clock = ManualClock::new(t0());
    let (handle, server) = start_webhook(&fake, &dir, &clock).await;
    let set = fake.wait_for("setWebhook", |_| true, WAIT).await;
    assert_eq!(
        set.params["url"],
        "https://bot.example.org/webhooks/telegram"
    );
    assert_eq!(set.params["secret_token"], WEBHOOK_SECRET);

    let nora = fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    let updates = fake.take_updates();
    assert_eq!(updates.len(), 1);
    let update = &updates[0];
    // Without the secret, or with another one: 403, nothing stored.
    assert_eq!(deliver(&server, None, update).await, 403);
    assert_eq!(
        deliver(&server, Some("test-webhook-Secret_4"), update).await,
        403
    );
    let store = handle.telegram().tracker.store().clone();
    let id = comment_id(tg::SHOP, nora);
    assert!(store.comment(&id).await.unwrap().is_none());
    // With it: stored, acknowledged, handled; Telegram's retry of it changes nothing.
    assert_eq!(deliver(&server, Some(WEBHOOK_SECRET), update).await, 200);
    assert_eq!(deliver(&server, Some(WEBHOOK_SECRET), update).await, 200);
    alert_for(&fake, COMPLAINT).await;
    assert!(
        fake.calls("getUpdates", |_| true).is_empty(),
        "webhook mode never polls"
    );
    server.shutdown().await;
    handle.shutdown().await.expect("clean stop");

    // After a restart the same update (Telegram retrying) is still taken in once, and one
    // stored while the bot was stopping is handled.
    let (handle, server) = start_webhook(&fake, &dir, &clock).await;
    assert_eq!(deliver(&server, Some(WEBHOOK_SECRET), update).await, 200);
    let other = fake.post(
        tg::PUBLIC,
        tg::EVE,
        "Il rimborso è in ritardo di due settimane",
        None,
        None,
    );
    for update in fake.take_updates() {
        assert_eq!(deliver(&server, Some(WEBHOOK_SECRET), &update).await, 200);
    }
    alert_for(&fake, "Il rimborso è in ritardo").await;
    let deadline = std::time::Instant::now() + WAIT;
    while store
        .comment(&comment_id(tg::PUBLIC, other))
        .await
        .unwrap()
        .map(|s| s.state)
        != Some(CommentState::Alerted)
    {
        assert!(std::time::Instant::now() < deadline, "never alerted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        fake.calls("sendMessage", to_chat(tg::MODS)).len(),
        2,
        "one alert per comment"
    );
    server.shutdown().await;
    handle.shutdown().await.expect("clean stop");
    fake.assert_clean();
}

async fn two_processes_on_one_database_take_turns_reading_updates() {
    let fake = FakeTelegram::start(true).await;
    let dir = TestDir::new();
    let clock = ManualClock::new(t0());
    let (_first_app, first) = start_on(&fake, &dir, &clock).await;
    fake.wait_for("getUpdates", |_| true, WAIT).await;
    let (_second_app, second) = start_on(&fake, &dir, &clock).await;
    fake.post(tg::SHOP, tg::NORA, COMPLAINT, None, None);
    alert_for(&fake, COMPLAINT).await;
    fake.wait_until_confirmed(WAIT).await;
    // Only one process polled while both ran: every poll's offset follows the last.
    let polls = fake.calls("getUpdates", |_| true);
    let concurrent = polls
        .windows(2)
        .filter(|w| w[1].params["offset"].as_i64() < w[0].params["offset"].as_i64())
        .count();
    assert_eq!(concurrent, 0, "offsets never go back");
    // The first stops: the second takes over and reads what comes next.
    first.shutdown().await.expect("clean stop");
    fake.post(
        tg::PUBLIC,
        tg::EVE,
        "Il rimborso è in ritardo di due settimane",
        None,
        None,
    );
    alert_for(&fake, "Il rimborso è in ritardo").await;
    assert_eq!(fake.calls("sendMessage", to_chat(tg::MODS)).len(), 2);
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.method != "getUpdates" || r.status == 200),
        "no 409 from two pollers"
    );
    second.shutdown().await.expect("clean stop");
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_rooms_keeps_every_alert_it_had_in_its_room() {
    use ascolto::outbox::Destination;
    let dir = tempfile::tempdir().unwrap();
    // The schema as it was: every migration before this branch's.
    let old = dir.path().join("old-migrations");
    std::fs::create_dir_all(&old).unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&all).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.as_str() < "0008" {
            std::fs::copy(entry.path(), old.join(&name)).unwrap();
        }
    }
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        let at = "2026-11-20T09:00:00Z";
        for (id, source) in [("telegram:-1009:5", "telegram"), ("777", "discord")] {
            sqlx::query(
                "INSERT INTO comments (id, source, channel_id, channel_name, is_dm, author_id,
                    author_name, author_is_staff, text, created_at, state, state_changed_at)
                 VALUES (?, ?, 'c', 'c', 0, 'a', 'a', 0, 't', ?, 'alerted', ?)",
            )
            .bind(id)
            .bind(source)
            .bind(at)
            .bind(at)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        // The Telegram comment's Discord alert went out through the outbox; its Telegram
        // alert, posted directly, then took its place in `alerts`.
        sqlx::query(
            "INSERT INTO outbox (destination, channel, comment_id, kind, payload, state,
                created_at, done_at, message_id)
             VALUES ('discord', '900', 'telegram:-1009:5', 'alert', '{}', 'sent', ?, ?, '4242')",
        )
        .bind(at)
        .bind(at)
        .execute(&mut conn)
        .await
        .unwrap();
        for (id, channel, message) in [("telegram:-1009:5", "-1001", "17"), ("777", "900", "4343")]
        {
            sqlx::query(
                "INSERT INTO alerts (comment_id, channel_id, message_id, posted_at)
                 VALUES (?, ?, ?, ?)",
            )
            .bind(id)
            .bind(channel)
            .bind(message)
            .bind(at)
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
    let store = ascolto::store::Store::connect(&db).await.unwrap();
    let tg_comment = CommentId::new("telegram:-1009:5");
    let in_telegram = store
        .alert_in(&tg_comment, Destination::Telegram, "-1001")
        .await
        .unwrap()
        .expect("the Telegram alert");
    assert_eq!(in_telegram.message, "17");
    let in_discord = store
        .alert_in(&tg_comment, Destination::Discord, "900")
        .await
        .unwrap()
        .expect("the Discord alert, from its outbox row");
    assert_eq!(in_discord.message, "4242");
    assert_eq!(
        store
            .alert_in(&CommentId::new("777"), Destination::Discord, "900")
            .await
            .unwrap()
            .map(|a| a.message),
        Some("4343".to_owned())
    );
    assert_eq!(
        store
            .comment_alerted_at(Destination::Telegram, "-1001", "17")
            .await
            .unwrap(),
        Some(tg_comment.clone())
    );
    // The comment still reads as alerted, with one alert.
    assert!(store
        .comment(&tg_comment)
        .await
        .unwrap()
        .unwrap()
        .alert
        .is_some());
}

crate::on_both_stores!(
    multi_thread:
    a_complaint_in_a_topic_is_alerted_and_approve_replies_there_exactly_once,
    a_restart_neither_loses_nor_repeats_updates,
    replies_follow_a_group_upgraded_to_a_supergroup_and_direct_messages_work,
    webhook_mode_refuses_a_bad_secret_and_takes_an_update_in_once_across_restarts,
    two_processes_on_one_database_take_turns_reading_updates,
    escalations_and_the_daily_digest_reach_the_telegram_room,
    with_both_rooms_a_telegram_comment_approved_in_discord_is_replied_in_telegram,
);
