//! The live Discord layer end to end: the real bot (`ascolto::discord::start`, serenity and
//! poise, the tracker and a SQLite file) against the fake Discord of `tests/it/support` on
//! 127.0.0.1. Each test pushes what members and moderators do and waits for what the bot sends;
//! every request body the bot sends is checked against Discord's OpenAPI description
//! (`assert_clean` at the end of each test).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::support::app::copy_fixture_rules;
use crate::support::world::shard_of;
use crate::support::{ids, FakeDiscord, RecordedRequest, World};
use ascolto::app::App;
use ascolto::clock::{Clock, ManualClock, SystemClock};
use ascolto::comment::CommentId;
use ascolto::config::Settings;
use ascolto::discord::{self, BotHandle};
use ascolto::lifecycle::{ActionKind, CommentState};
use ascolto::outbox::OutboxKind;
use ascolto::store::Store;

/// Generous bound for one step; a healthy run takes milliseconds per step.
pub(crate) const STEP: Duration = Duration::from_secs(10);

/// A second moderator, for two moderators acting at once.
const LEA: u64 = 1_100_000_000_000_000_405;

pub(crate) const COMPLAINT_IT: &str = "Il mio ordine non è arrivato e nessuno mi risponde";

/// One test's world: the fake Discord, a folder with the rule library and the database, and
/// the running bot.
pub(crate) struct Harness {
    pub(crate) fake: FakeDiscord,
    pub(crate) dir: tempfile::TempDir,
    bot: Option<BotHandle>,
    /// The bot's clock: the system's, or a [`ManualClock`] the test moves.
    clock: Arc<dyn Clock>,
}

impl Harness {
    pub(crate) async fn start() -> Harness {
        Harness::start_with(World::default_test(), &[]).await
    }

    /// `env` overrides settings as `ASCOLTO__...` variables would.
    pub(crate) async fn start_with(world: World, env: &[(&str, &str)]) -> Harness {
        Harness::start_with_clock(world, env, Arc::new(SystemClock)).await
    }

    pub(crate) async fn start_with_clock(
        world: World,
        env: &[(&str, &str)],
        clock: Arc<dyn Clock>,
    ) -> Harness {
        let mut harness = Harness::unstarted(world, clock).await;
        harness.launch(env).await;
        harness
    }

    /// The fake and the folder, with no bot yet ([`Self::launch`] starts one).
    pub(crate) async fn unstarted(world: World, clock: Arc<dyn Clock>) -> Harness {
        init_logs();
        let fake = FakeDiscord::start(world).await;
        let dir = tempfile::tempdir().unwrap();
        copy_fixture_rules(&dir.path().join("rules"));
        Harness {
            fake,
            dir,
            bot: None,
            clock,
        }
    }

    pub(crate) fn settings(&self, env: &[(&str, &str)]) -> Settings {
        let mut vars: HashMap<String, String> = HashMap::from([
            (
                "ASCOLTO__STORE__URL".into(),
                format!(
                    "sqlite://{}",
                    self.dir.path().join("data/ascolto.db").display()
                ),
            ),
            (
                "ASCOLTO__RULES__DIR".into(),
                self.dir.path().join("rules").display().to_string(),
            ),
            ("ASCOLTO__DISCORD__API_BASE".into(), self.fake.api_base()),
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
            ("ASCOLTO__DISCORD__BACKFILL_LIMIT".into(), "50".into()),
            ("ASCOLTO__DISCORD__CHECK_EVERY".into(), "1s".into()),
            // Tests that are about the digest turn it on; the others would otherwise get one
            // at start whenever they run after its time of day.
            ("ASCOLTO__DIGEST__ENABLED".into(), "false".into()),
        ]);
        for (key, value) in env {
            vars.insert((*key).to_owned(), (*value).to_owned());
        }
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        Settings::load_with_env(&config, Some(vars)).expect("test settings")
    }

    /// Starts a bot on this harness's database and waits until each of its shards is
    /// connected.
    pub(crate) async fn launch(&mut self, env: &[(&str, &str)]) {
        let bot = self.launch_without_waiting(env).await;
        let shards = bot.data().shards.range();
        for shard in shards.first()..=shards.last() {
            self.fake.wait_shard_connected(shard, STEP).await;
        }
    }

    /// Starts a bot on this harness's database; returns it without waiting for the gateway.
    pub(crate) async fn launch_without_waiting(&mut self, env: &[(&str, &str)]) -> &BotHandle {
        let app = App::build(self.settings(env), self.clock.clone())
            .await
            .expect("app");
        let token = SecretString::from(self.fake.token());
        let bot = discord::start(app, token).await.expect("bot starts");
        self.bot.insert(bot)
    }

    /// Stops the bot the way `ascolto run` does on SIGTERM.
    pub(crate) async fn stop(&mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await.expect("clean shutdown");
        }
    }

    pub(crate) fn bot(&self) -> &BotHandle {
        self.bot.as_ref().expect("bot running")
    }

    pub(crate) fn tracker(&self) -> &ascolto::tracker::Tracker {
        &self.bot().data().tracker
    }

    pub(crate) async fn state(&self, message: u64) -> CommentState {
        self.tracker()
            .store()
            .comment(&CommentId(message.to_string()))
            .await
            .unwrap()
            .expect("comment stored")
            .state
    }

    /// Waits until the comment for `message` is stored (in `want` state, if given). The
    /// database sends no change notifications, so this polls every 10 ms within `STEP`;
    /// everything visible on Discord is awaited through the fake's notifications instead.
    pub(crate) async fn stored(&self, message: u64, want: Option<CommentState>) {
        let id = CommentId(message.to_string());
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let now = self.tracker().store().comment(&id).await.unwrap();
            if now
                .as_ref()
                .is_some_and(|s| want.is_none_or(|w| s.state == w))
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "comment {message} never reached {want:?}; it is {:?}",
                now.map(|s| s.state)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the alert about `message` in the moderators' channel.
    pub(crate) async fn alert_for(&self, message: u64) -> Value {
        let footer = format!("comment {message}");
        self.fake
            .wait_for_posted_message(
                ids::MODS,
                |m| m["embeds"][0]["footer"]["text"] == footer,
                STEP,
            )
            .await
    }

    /// Alerts (one per comment) in the moderators' channel now.
    pub(crate) fn alerts(&self) -> Vec<Value> {
        self.fake
            .posted_messages(ids::MODS)
            .into_iter()
            .filter(|m| m["embeds"][0]["footer"]["text"].is_string())
            .collect()
    }

    /// Waits until the alert message satisfies `condition`; returns it.
    pub(crate) async fn alert_until(
        &self,
        alert: &Value,
        what: &str,
        condition: impl Fn(&Value) -> bool,
    ) -> Value {
        let id = message_id(alert);
        self.fake
            .wait_until(what, STEP, |f| {
                f.message(ids::MODS, id).is_some_and(|m| condition(&m))
            })
            .await;
        self.fake.message(ids::MODS, id).unwrap()
    }

    /// Waits until the alert has no buttons and is closed (not just "sending the reply", which
    /// an approval shows until the outbox has posted it) and returns it.
    pub(crate) async fn closed(&self, alert: &Value) -> Value {
        self.alert_until(alert, "the alert to close", |m| {
            buttons(m).is_empty() && !m.to_string().contains("Sending the reply")
        })
        .await
    }

    /// Replies the bot posted in a channel.
    pub(crate) fn replies_in(&self, channel: u64) -> Vec<RecordedRequest> {
        let path = format!("/channels/{channel}/messages");
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.is("POST", &path) && r.status < 300)
            .collect()
    }

    /// Waits for the answer to an interaction (callback, and webhook calls after it).
    pub(crate) async fn responses(&self, interaction: u64, count: usize) -> Vec<RecordedRequest> {
        self.fake
            .wait_until("the interaction's answer", STEP, |f| {
                f.interaction_responses(interaction).len() >= count
            })
            .await;
        self.fake.interaction_responses(interaction)
    }

    /// The text an interaction's ephemeral answer showed.
    pub(crate) async fn private_answer(&self, interaction: u64) -> String {
        self.fake
            .wait_until("a private answer", STEP, |f| {
                f.interaction_original(interaction).is_some()
            })
            .await;
        let original = self.fake.interaction_original(interaction).unwrap();
        assert_eq!(
            original["flags"].as_u64().unwrap_or(0) & 64,
            64,
            "the answer is ephemeral: {original}"
        );
        original["content"].as_str().unwrap_or_default().to_owned()
    }

    pub(crate) async fn finish(mut self) {
        self.stop().await;
        self.fake.assert_clean();
    }
}

fn init_logs() {
    // Quiet unless RUST_LOG asks for more; output goes through the test harness.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub(crate) fn message_id(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

/// The buttons of a message, as (label, custom_id).
pub(crate) fn buttons(message: &Value) -> Vec<(String, String)> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().into_iter().flatten())
        .filter(|c| c["type"] == 2)
        .map(|c| {
            (
                c["label"].as_str().unwrap_or_default().to_owned(),
                c["custom_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn field(alert: &Value, name: &str) -> String {
    alert["embeds"][0]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == name)
        .and_then(|f| f["value"].as_str())
        .unwrap_or_else(|| panic!("alert has no field {name}: {alert}"))
        .to_owned()
}

/// The reply a moderator's approval must produce: a reply to the original message, pinging
/// nobody whatever the text says.
fn assert_safe_reply(reply: &RecordedRequest, channel: u64, original: u64) {
    let body = reply.json();
    assert_eq!(
        body["message_reference"]["message_id"],
        original.to_string()
    );
    assert_eq!(body["message_reference"]["channel_id"], channel.to_string());
    let mentions = &body["allowed_mentions"];
    assert_eq!(mentions["parse"], json!([]), "{mentions}");
    assert_eq!(mentions["users"], json!([]), "{mentions}");
    assert_eq!(mentions["roles"], json!([]), "{mentions}");
    assert_eq!(mentions["replied_user"], json!(false), "{mentions}");
}

#[tokio::test]
async fn an_italian_complaint_gets_an_alert_with_the_five_buttons() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);

    let alert = h.alert_for(complaint).await;
    let embed = &alert["embeds"][0];
    assert!(
        embed["title"].as_str().unwrap().contains("complaint"),
        "{embed}"
    );
    assert!(
        embed["title"].as_str().unwrap().contains("#support"),
        "{embed}"
    );
    let description = embed["description"].as_str().unwrap();
    assert!(description.contains(COMPLAINT_IT), "{description}");
    assert!(
        description.contains("Ci dispiace nora") || description.contains("nora, capiamo"),
        "an Italian draft: {description}"
    );
    assert_eq!(
        embed["url"],
        format!(
            "https://discord.com/channels/{}/{}/{complaint}",
            ids::GUILD,
            ids::SUPPORT
        )
    );
    assert!(field(&alert, "Author").contains(&format!("<@{}>", ids::NORA)));
    assert!(field(&alert, "Why").contains("it.complaint.late"));
    assert!(field(&alert, "Why").contains("\"non è arrivato\""));
    assert!(field(&alert, "Waiting").contains("min"));
    assert!(field(&alert, "Labels").contains("complaint"));

    let labels: Vec<String> = buttons(&alert).into_iter().map(|b| b.0).collect();
    assert_eq!(
        labels,
        [
            "Approve",
            "Edit",
            "Another wording",
            "Dismiss",
            "Mark answered"
        ]
    );
    for (_, custom_id) in buttons(&alert) {
        assert!(custom_id.starts_with("ascolto:"), "{custom_id}");
        assert!(custom_id.ends_with(&format!(":{complaint}")), "{custom_id}");
    }
    // The alert itself pings nobody.
    let post = h
        .fake
        .wait_for(
            |r| r.is("POST", &format!("/channels/{}/messages", ids::MODS)),
            STEP,
        )
        .await;
    assert_eq!(post.json()["allowed_mentions"]["parse"], json!([]));

    // The alert's id is written just after Discord returns it.
    h.stored(complaint, Some(CommentState::Alerted)).await;
    let stored = h
        .tracker()
        .store()
        .comment(&CommentId(complaint.to_string()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, CommentState::Alerted);
    assert_eq!(
        stored.alert.unwrap().message,
        message_id(&alert).to_string()
    );
    h.finish().await;
}

#[tokio::test]
async fn approve_replies_to_the_original_once_and_pings_nobody() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;
    let draft = h
        .tracker()
        .store()
        .comment(&CommentId(complaint.to_string()))
        .await
        .unwrap()
        .unwrap()
        .draft
        .unwrap()
        .text;

    let click = h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:approve:{complaint}"),
        ids::MIA,
    );
    let closed = h.closed(&alert).await;
    assert!(
        field(&closed, "Status").contains("Replied by mia"),
        "{closed}"
    );
    assert!(closed["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains(&draft));

    let replies = h.replies_in(ids::SUPPORT);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].json()["content"], draft);
    assert_safe_reply(&replies[0], ids::SUPPORT, complaint);
    // Acknowledged at once (deferred update), the alert then edited.
    let answer = h.responses(click, 1).await;
    assert_eq!(answer[0].json()["type"], 6);

    assert_eq!(h.state(complaint).await, CommentState::Replied);
    let trail = h
        .tracker()
        .store()
        .actions_for(&CommentId(complaint.to_string()))
        .await
        .unwrap();
    let approved = trail.last().unwrap();
    assert_eq!(approved.kind, ActionKind::Approved);
    assert_eq!(approved.moderator_name.as_deref(), Some("mia"));
    assert_eq!(
        approved.reply_message_id,
        replies[0].response.as_ref().unwrap()["id"]
            .as_str()
            .map(str::to_owned)
    );
    h.finish().await;
}

#[tokio::test]
async fn a_member_without_a_moderator_role_is_refused_and_nothing_is_sent() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;

    // Staff are not moderators either.
    for user in [ids::SAM, ids::OTTO] {
        let click = h.fake.click_button(
            message_id(&alert),
            &format!("ascolto:approve:{complaint}"),
            user,
        );
        let text = h.private_answer(click).await;
        assert!(text.contains("Only moderators"), "{text}");
    }
    assert!(h.replies_in(ids::SUPPORT).is_empty());
    h.stored(complaint, Some(CommentState::Alerted)).await;
    assert_eq!(
        buttons(&h.fake.message(ids::MODS, message_id(&alert)).unwrap()).len(),
        5
    );
    h.finish().await;
}

#[tokio::test]
async fn edit_opens_the_draft_and_posts_the_edited_text_safely() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;

    let click = h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:edit:{complaint}"),
        ids::MIA,
    );
    h.fake
        .wait_until("the Edit modal", STEP, |f| {
            f.interaction_modal(click).is_some()
        })
        .await;
    let modal = h.fake.interaction_modal(click).unwrap();
    let modal_id = modal["custom_id"].as_str().unwrap().to_owned();
    assert_eq!(modal_id, format!("ascolto:edited:{complaint}"));
    let input = &modal["components"][0]["components"][0];
    assert!(
        input["value"].as_str().unwrap().contains("nora"),
        "prefilled with the draft: {modal}"
    );

    let edited = format!(
        "Ciao nora, @everyone @here <@&{}> <@{}>: ci pensiamo noi oggi.",
        ids::MODERATOR_ROLE,
        ids::NORA
    );
    h.fake
        .submit_modal(&modal_id, ids::MIA, &[("text", edited.as_str())]);
    let closed = h.closed(&alert).await;
    assert!(field(&closed, "Status").contains("(edited)"), "{closed}");

    let replies = h.replies_in(ids::SUPPORT);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].json()["content"], edited);
    assert_safe_reply(&replies[0], ids::SUPPORT, complaint);

    let trail = h
        .tracker()
        .store()
        .actions_for(&CommentId(complaint.to_string()))
        .await
        .unwrap();
    let sent = trail.last().unwrap();
    assert_eq!(sent.kind, ActionKind::Edited);
    assert!(sent.draft_text.as_deref().unwrap().contains("nora"));
    assert_eq!(sent.sent_text.as_deref(), Some(edited.as_str()));
    h.finish().await;
}

#[tokio::test]
async fn a_direct_message_is_alerted_and_answered_in_the_dm() {
    let h = Harness::start().await;
    let dm = h.fake.dm_message_create(ids::NORA, COMPLAINT_IT);
    let channel = h.fake.dm_channel(ids::NORA);
    let alert = h.alert_for(dm).await;
    assert!(alert["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .contains("direct message"));

    h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:approve:{dm}"),
        ids::MIA,
    );
    h.closed(&alert).await;
    let replies = h.replies_in(channel);
    assert_eq!(replies.len(), 1);
    assert_safe_reply(&replies[0], channel, dm);
    h.finish().await;
}

#[tokio::test]
async fn deleting_the_comment_withdraws_its_alert() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;

    h.fake.message_delete(ids::SUPPORT, complaint);
    let closed = h.closed(&alert).await;
    assert!(field(&closed, "Status").contains("Deleted by the author"));
    assert_eq!(h.state(complaint).await, CommentState::Withdrawn);
    h.finish().await;
}

#[tokio::test]
async fn an_edited_comment_is_triaged_again_and_its_alert_follows() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;

    h.fake
        .message_update(ids::SUPPORT, complaint, "Tutto a posto, grazie!");
    let closed = h.closed(&alert).await;
    assert!(
        field(&closed, "Status").contains("no longer needs a reply"),
        "{closed}"
    );
    assert_eq!(h.state(complaint).await, CommentState::Clear);

    // A harmless message edited into a complaint is flagged then.
    let question = h
        .fake
        .message_create(ids::GENERAL, ids::OTTO, "Ciao a tutti", None);
    h.stored(question, Some(CommentState::Clear)).await;
    h.fake.message_update(
        ids::GENERAL,
        question,
        "Il pacco è in ritardo di una settimana",
    );
    let alert = h.alert_for(question).await;
    assert_eq!(buttons(&alert).len(), 5);
    h.finish().await;
}

#[tokio::test]
async fn a_staff_reply_marks_the_comment_answered() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;

    // Another member's reply is not an answer (anyone_answers is off)...
    h.fake
        .message_create(ids::SUPPORT, ids::OTTO, "Anche a me!", Some(complaint));
    // ...a staff member's is.
    h.fake.message_create(
        ids::SUPPORT,
        ids::SAM,
        "Ciao nora, ti scrivo in privato per il tracking.",
        Some(complaint),
    );
    let closed = h.closed(&alert).await;
    assert!(
        field(&closed, "Status").contains("Answered in the channel by sam"),
        "{closed}"
    );
    assert_eq!(h.state(complaint).await, CommentState::Answered);
    assert!(h.replies_in(ids::SUPPORT).is_empty());
    h.finish().await;
}

#[tokio::test]
async fn another_wording_then_dismiss_update_the_alert_in_place() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;
    let before = alert["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .to_owned();

    let reword = h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:reword:{complaint}"),
        ids::MIA,
    );
    let answer = h.responses(reword, 1).await;
    assert_eq!(
        answer[0].json()["type"],
        7,
        "the alert is updated in the response"
    );
    let after = h.fake.message(ids::MODS, message_id(&alert)).unwrap();
    assert_ne!(after["embeds"][0]["description"].as_str().unwrap(), before);
    assert_eq!(buttons(&after).len(), 5);

    let dismiss = h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:dismiss:{complaint}"),
        ids::MIA,
    );
    let answer = h.responses(dismiss, 1).await;
    assert_eq!(answer[0].json()["type"], 7);
    let closed = h.closed(&alert).await;
    assert!(field(&closed, "Status").contains("Dismissed by mia"));
    assert_eq!(h.state(complaint).await, CommentState::Dismissed);
    assert!(h.replies_in(ids::SUPPORT).is_empty());
    h.finish().await;
}

#[tokio::test]
async fn mark_answered_closes_the_alert() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;
    h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:answered:{complaint}"),
        ids::MIA,
    );
    let closed = h.closed(&alert).await;
    assert!(
        field(&closed, "Status").contains("Marked answered by mia"),
        "{closed}"
    );
    assert_eq!(h.state(complaint).await, CommentState::Answered);
    h.finish().await;
}

#[tokio::test]
async fn clicks_at_the_same_moment_send_exactly_one_reply() {
    let world = World::default_test().with_member(LEA, "lea", &[ids::MODERATOR_ROLE]);
    let h = Harness::start_with(world, &[]).await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;
    let approve = format!("ascolto:approve:{complaint}");

    // A double click and a second moderator, all before the bot answers any of them.
    let clicks = [
        h.fake.click_button(message_id(&alert), &approve, ids::MIA),
        h.fake.click_button(message_id(&alert), &approve, ids::MIA),
        h.fake.click_button(message_id(&alert), &approve, LEA),
    ];
    h.closed(&alert).await;
    for click in clicks {
        h.responses(click, 1).await;
    }
    // Exactly one click won; the others were told privately.
    let mut told = 0;
    for click in clicks {
        if let Some(original) = h.fake.interaction_original(click) {
            if original["flags"].as_u64().unwrap_or(0) & 64 == 64 {
                told += 1;
            }
        }
    }
    assert_eq!(told, 2, "two clicks get a private 'already' answer");
    // A losing click can close the alert ("sending") before the winner's reply is out.
    h.stored(complaint, Some(CommentState::Replied)).await;
    assert_eq!(h.replies_in(ids::SUPPORT).len(), 1);
    let approvals = h
        .tracker()
        .store()
        .actions_for(&CommentId(complaint.to_string()))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == ActionKind::Approved)
        .count();
    assert_eq!(approvals, 1);
    h.finish().await;
}

#[tokio::test]
async fn after_a_restart_old_buttons_work_and_nothing_is_alerted_twice() {
    let mut h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(complaint).await;
    h.stop().await;

    // Written while the bot was down: caught up from the checkpoint at the next start.
    let missed = h.fake.seed_message(
        ids::SUPPORT,
        ids::OTTO,
        "Il mio reso non è arrivato al magazzino",
        None,
        Utc::now(),
    );
    h.launch(&[]).await;
    let missed_alert = h.alert_for(missed).await;
    assert_eq!(buttons(&missed_alert).len(), 5);

    h.fake.click_button(
        message_id(&alert),
        &format!("ascolto:approve:{complaint}"),
        ids::MIA,
    );
    h.closed(&alert).await;
    let replies = h.replies_in(ids::SUPPORT);
    assert_eq!(replies.len(), 1);
    assert_safe_reply(&replies[0], ids::SUPPORT, complaint);
    assert_eq!(
        h.alerts().len(),
        2,
        "one alert per comment: {:#?}",
        h.alerts()
    );
    assert_eq!(h.fake.identify_count(), 2);
    h.finish().await;
}

#[tokio::test]
async fn a_message_the_database_refuses_is_recorded_passed_and_alerted_after_a_restart() {
    let mut h = Harness::start().await;
    let db = format!(
        "sqlite://{}",
        h.dir.path().join("data/ascolto.db").display()
    );
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
        .await
        .unwrap();
    // A drill: the database refuses this one message, as a failing disk would refuse a write.
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON comments WHEN NEW.text LIKE '%consegna%'
         BEGIN SELECT RAISE(ABORT, 'drill: refused'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let refused = h.fake.message_create(
        ids::SUPPORT,
        ids::OTTO,
        "La consegna è in ritardo di una settimana e nessuno mi risponde",
        None,
    );
    let next = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    // The message after it is alerted, and the channel's checkpoint moved past both.
    h.alert_for(next).await;
    let store = h.tracker().store();
    let channel = ascolto::comment::ChannelId(ids::SUPPORT.to_string());
    // The checkpoint moves once the batch is stored, and the outbox may post the alert first.
    let deadline = tokio::time::Instant::now() + STEP;
    while store.checkpoint(&channel).await.unwrap() != Some(next.to_string()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the checkpoint did not move past {next}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failures = store
        .open_failures(ascolto::failures::MAX_ATTEMPTS)
        .await
        .unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].comment.id.as_str(), refused.to_string());
    assert!(
        failures[0].error.contains("drill: refused"),
        "{}",
        failures[0].error
    );
    assert!(store
        .comment(&CommentId(refused.to_string()))
        .await
        .unwrap()
        .is_none());

    // The disk is repaired; the next start takes the message in from the record.
    sqlx::query("DROP TRIGGER refuse")
        .execute(&mut conn)
        .await
        .unwrap();
    h.stop().await;
    h.launch(&[]).await;
    h.alert_for(refused).await;
    assert!(h
        .tracker()
        .store()
        .open_failures(ascolto::failures::MAX_ATTEMPTS)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(h.alerts().len(), 2, "{:#?}", h.alerts());
    h.finish().await;
}

#[tokio::test]
async fn history_before_the_first_start_is_caught_up() {
    init_logs();
    let fake = FakeDiscord::start(World::default_test()).await;
    let earlier = Utc::now() - chrono::Duration::minutes(30);
    let complaint = fake.seed_message(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None, earlier);
    let answered = fake.seed_message(
        ids::GENERAL,
        ids::OTTO,
        "Il pacco è in ritardo",
        None,
        earlier + chrono::Duration::minutes(1),
    );
    fake.seed_message(
        ids::GENERAL,
        ids::SAM,
        "Otto, controllo subito.",
        Some(answered),
        earlier + chrono::Duration::minutes(2),
    );
    let dir = tempfile::tempdir().unwrap();
    copy_fixture_rules(&dir.path().join("rules"));
    let mut h = Harness {
        fake,
        dir,
        bot: None,
        clock: Arc::new(SystemClock),
    };
    h.launch(&[]).await;

    let alert = h.alert_for(complaint).await;
    assert!(
        field(&alert, "Waiting").starts_with("30 min")
            || field(&alert, "Waiting").starts_with("29 min")
    );
    h.stored(answered, Some(CommentState::Answered)).await;
    h.finish().await;
}

#[tokio::test]
async fn a_dropped_gateway_resumes_and_nothing_is_lost_or_doubled() {
    let h = Harness::start().await;
    let first = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    h.alert_for(first).await;

    let (second, third) = h.fake.dispatch_while_disconnected(|f| {
        (
            f.message_create(ids::SUPPORT, ids::OTTO, "Il mio pacco è in ritardo", None),
            f.message_create(ids::GENERAL, ids::NORA, "Il regalo non è arrivato", None),
        )
    });
    h.alert_for(second).await;
    h.alert_for(third).await;
    // And live traffic after the resume still flows.
    let fourth =
        h.fake
            .message_create(ids::GENERAL, ids::OTTO, "Ordine in ritardo, di nuovo", None);
    h.alert_for(fourth).await;

    assert!(h.fake.resume_count() >= 1, "the session was resumed");
    assert_eq!(h.fake.identify_count(), 1, "never re-identified");
    assert_eq!(
        h.alerts().len(),
        4,
        "one alert per comment: {:#?}",
        h.alerts()
    );
    h.finish().await;
}

#[tokio::test]
async fn slash_commands_queue_test_and_reload() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    h.alert_for(complaint).await;

    // Anyone may try a text; nothing is stored.
    let test = h
        .fake
        .slash_command(
            "ascolto",
            Some("test"),
            &[("text", json!("Il pacco non è arrivato!"))],
            ids::OTTO,
        )
        .await;
    let text = h.private_answer(test).await;
    assert!(text.contains("complaint"), "{text}");
    assert!(text.contains("it.complaint.late"), "{text}");
    assert!(
        text.contains("Ci dispiace otto") || text.contains("otto, capiamo"),
        "{text}"
    );

    // The queue is for moderators.
    let refused = h
        .fake
        .slash_command("ascolto", Some("queue"), &[], ids::OTTO)
        .await;
    assert!(h.private_answer(refused).await.contains("Only moderators"));
    let queue = || async {
        let asked = h
            .fake
            .slash_command("ascolto", Some("queue"), &[], ids::MIA)
            .await;
        h.private_answer(asked).await
    };
    let text = queue().await;
    assert!(text.contains("1 waiting"), "{text}");
    assert!(text.contains(&complaint.to_string()), "a jump link: {text}");
    // A long queue: the oldest that fit in one message, and how many more.
    let mut later = Vec::new();
    for _ in 0..16 {
        let id = h
            .fake
            .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
        h.alert_for(id).await;
        later.push(id);
    }
    let text = queue().await;
    assert!(text.contains("17 waiting"), "{text}");
    let shown = text.matches("• **complaint**").count();
    assert!(
        text.contains(&format!("…and {} more.", 17 - shown)),
        "{text}"
    );
    assert!(
        text.contains(&complaint.to_string()),
        "oldest first: {text}"
    );
    assert!(!text.contains(&later[15].to_string()), "{text}");

    // A broken library is refused with its errors; the old one stays.
    std::fs::write(
        h.dir.path().join("rules/it/broken.toml"),
        "[[rule]]\nid = \"it.broken\"\nlabels = [\"complaint\"]\n[rule.any]\npatterns = ['(']\n",
    )
    .unwrap();
    let reload = h
        .fake
        .slash_command("ascolto", Some("reload"), &[], ids::MIA)
        .await;
    let text = h.private_answer(reload).await;
    assert!(text.contains("not** loaded"), "{text}");
    assert!(text.contains("it.broken"), "{text}");
    let still = h
        .fake
        .message_create(ids::GENERAL, ids::OTTO, "Il pacco è in ritardo", None);
    h.alert_for(still).await;

    std::fs::remove_file(h.dir.path().join("rules/it/broken.toml")).unwrap();
    let reload = h
        .fake
        .slash_command("ascolto", Some("reload"), &[], ids::MIA)
        .await;
    assert!(h.private_answer(reload).await.contains("reloaded"));
    h.finish().await;
}

#[tokio::test]
async fn wrong_settings_or_token_stop_the_start_with_a_clear_error() {
    init_logs();
    let fake = FakeDiscord::start(World::default_test()).await;
    let dir = tempfile::tempdir().unwrap();
    copy_fixture_rules(&dir.path().join("rules"));
    let h = Harness {
        fake,
        dir,
        bot: None,
        clock: Arc::new(SystemClock),
    };

    let no_alert_channel = h.settings(&[("ASCOLTO__DISCORD__ALERT_CHANNEL", "0")]);
    let app = App::build(no_alert_channel, Arc::new(SystemClock))
        .await
        .unwrap();
    let err = discord::start(app, SecretString::from(h.fake.token()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("discord.alert_channel"), "{err}");

    let app = App::build(h.settings(&[]), Arc::new(SystemClock))
        .await
        .unwrap();
    let err = discord::start(app, SecretString::from("not-the-token".to_owned()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("DISCORD_TOKEN"), "{err}");
    assert!(
        !err.to_string().contains("not-the-token"),
        "the token is never shown: {err}"
    );

    let app = App::build(
        h.settings(&[("ASCOLTO__DISCORD__API_BASE", "http://127.0.0.1:9")]),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let err = discord::start(app, SecretString::from(h.fake.token()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("http://127.0.0.1:9"), "{err}");
    assert_eq!(h.fake.identify_count(), 0, "nothing connected");
}

/// Messages in the moderators' channel that are escalations (not alerts or digests).
fn escalations(h: &Harness) -> Vec<Value> {
    h.fake
        .posted_messages(ids::MODS)
        .into_iter()
        .filter(|m| {
            m["content"]
                .as_str()
                .unwrap_or("")
                .contains("Response target")
        })
        .collect()
}

#[tokio::test]
async fn a_question_is_alerted_only_if_still_unanswered_when_its_grace_runs_out() {
    let clock = ManualClock::new(Utc::now());
    let h = Harness::start_with_clock(World::default_test(), &[], Arc::new(clock.clone())).await;
    let answered = h.fake.message_create(
        ids::GENERAL,
        ids::NORA,
        "How do I change my password?",
        None,
    );
    let waiting = h.fake.message_create(
        ids::GENERAL,
        ids::OTTO,
        "Does anyone know when the shop opens?",
        None,
    );
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    // A complaint is alerted at once; the questions are flagged and wait (10 min by default).
    h.alert_for(complaint).await;
    h.stored(answered, Some(CommentState::Flagged)).await;
    h.stored(waiting, Some(CommentState::Flagged)).await;
    // The community answers one within the grace.
    h.fake.message_create(
        ids::GENERAL,
        ids::SAM,
        "Settings, then Security, Nora.",
        Some(answered),
    );
    h.stored(answered, Some(CommentState::Answered)).await;

    clock.advance(chrono::Duration::minutes(11));
    let alert = h.alert_for(waiting).await;
    assert!(alert.to_string().contains("Does anyone know"), "{alert}");
    h.stored(waiting, Some(CommentState::Alerted)).await;
    // The answered question was never alerted: one alert for the complaint, one for the other.
    assert_eq!(h.alerts().len(), 2, "{:#?}", h.alerts());
    assert!(!h
        .tracker()
        .store()
        .outbox_ever(&CommentId(answered.to_string()), OutboxKind::Alert)
        .await
        .unwrap());
    h.finish().await;
}

#[tokio::test]
async fn a_target_warns_in_the_alert_then_escalates_once_within_the_ping_budget() {
    let clock = ManualClock::new(Utc::now());
    let role = ids::MODERATOR_ROLE.to_string();
    let env = [
        ("ASCOLTO__ESCALATION__ROLE_ID", role.as_str()),
        ("ASCOLTO__ESCALATION__MAX_PINGS_PER_HOUR", "1"),
    ];
    let h = Harness::start_with_clock(World::default_test(), &env, Arc::new(clock.clone())).await;
    let first = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let alert = h.alert_for(first).await;
    assert!(
        field(&alert, "Target").starts_with("⏱ target 30 min"),
        "{alert}"
    );

    // 80% of the target used: the alert warns.
    clock.advance(chrono::Duration::minutes(25));
    let warned = h
        .alert_until(&alert, "the target warning", |m| {
            field(m, "Target").starts_with("⚠ target 30 min: 5 min left")
        })
        .await;
    assert_eq!(buttons(&warned).len(), 5, "still open");

    // Missed: one escalation pinging the configured role and nobody else.
    clock.advance(chrono::Duration::minutes(7));
    let escalation = h
        .fake
        .wait_for(
            |r| {
                r.is("POST", &format!("/channels/{}/messages", ids::MODS))
                    && r.json()["content"]
                        .as_str()
                        .is_some_and(|c| c.contains("Response target"))
            },
            STEP,
        )
        .await;
    let escalation = escalation.json();
    let content = escalation["content"].as_str().unwrap();
    assert!(content.starts_with(&format!("<@&{role}> ⛔")), "{content}");
    assert!(content.contains("missed by 1 min"), "{content}");
    assert!(
        content.contains(&first.to_string()),
        "a jump link: {content}"
    );
    assert_eq!(escalation["allowed_mentions"]["parse"], json!([]));
    assert_eq!(escalation["allowed_mentions"]["roles"], json!([role]));
    h.alert_until(&alert, "the missed target in the alert", |m| {
        field(m, "Target").starts_with("⛔ target 30 min: missed by")
    })
    .await;

    // A second comment, already past its target by the bot's clock: escalated too, but the
    // hourly budget of one ping is spent. The first is never escalated again.
    let second = h
        .fake
        .message_create(ids::GENERAL, ids::OTTO, "Il pacco è in ritardo", None);
    h.fake
        .wait_until("the second escalation", STEP, |f| {
            f.posted_messages(ids::MODS).iter().any(|m| {
                m["content"].as_str().is_some_and(|c| {
                    c.contains("Response target") && c.contains(&second.to_string())
                })
            })
        })
        .await;
    clock.advance(chrono::Duration::minutes(10));
    let third = h
        .fake
        .message_create(ids::GENERAL, ids::NORA, "Il regalo non è arrivato", None);
    h.alert_for(third).await;
    h.fake
        .wait_until("the third escalation", STEP, |_| escalations(&h).len() == 3)
        .await;
    let all = escalations(&h);
    let pings = all
        .iter()
        .filter(|m| m["content"].as_str().unwrap().starts_with("<@&"))
        .count();
    assert_eq!(pings, 1, "{all:#?}");
    assert!(all[1]["content"]
        .as_str()
        .unwrap()
        .contains("no ping: the hourly ping budget is spent"));
    h.finish().await;
}

/// The digest messages in the moderators' channel.
fn digests(h: &Harness) -> Vec<Value> {
    h.fake
        .posted_messages(ids::MODS)
        .into_iter()
        .filter(|m| {
            m["content"]
                .as_str()
                .unwrap_or("")
                .contains("Ascolto digest")
        })
        .collect()
}

#[tokio::test]
async fn the_daily_digest_is_posted_once_with_its_chart_and_a_missed_one_at_start() {
    let start = Utc::now();
    let clock = ManualClock::new(start);
    // Due from this very minute (UTC, the default time zone).
    let time = start.format("%H:%M").to_string();
    let env = [
        ("ASCOLTO__DIGEST__ENABLED", "true"),
        ("ASCOLTO__DIGEST__TIME", time.as_str()),
    ];
    let mut h =
        Harness::start_with_clock(World::default_test(), &env, Arc::new(clock.clone())).await;
    let post = h
        .fake
        .wait_for(
            |r| r.is("POST", &format!("/channels/{}/messages", ids::MODS)) && !r.files.is_empty(),
            STEP,
        )
        .await;
    let content = post.json()["content"].as_str().unwrap().to_owned();
    assert!(content.contains("Ascolto digest"), "{content}");
    assert!(content.contains("Unanswered"), "{content}");
    assert!(!content.contains("posted late"), "on time: {content}");
    assert_eq!(post.json()["allowed_mentions"]["parse"], json!([]));
    assert_eq!(post.files[0].filename, "ascolto-digest.png");
    assert!(post.files[0].bytes.starts_with(b"\x89PNG"), "a PNG chart");

    // A complaint during the day, then the bot is down at the next digest time.
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    h.alert_for(complaint).await;
    h.stop().await;
    clock.advance(chrono::Duration::hours(26));
    h.launch(&env).await;
    h.fake
        .wait_until("the missed digest", STEP, |_| digests(&h).len() == 2)
        .await;
    let late = digests(&h)[1]["content"].as_str().unwrap().to_owned();
    assert!(late.contains("posted late"), "{late}");
    assert!(
        late.contains("24 h+") || late.contains("24h+"),
        "the complaint waits over a day: {late}"
    );

    // Restarting again posts nothing new; the next day's digest comes at its time.
    h.stop().await;
    h.launch(&env).await;
    clock.set(start + chrono::Duration::hours(48) + chrono::Duration::seconds(30));
    h.fake
        .wait_until("the next day's digest", STEP, |_| digests(&h).len() == 3)
        .await;
    assert!(!digests(&h)[2]["content"]
        .as_str()
        .unwrap()
        .contains("posted late"));
    assert_eq!(digests(&h).len(), 3);
    h.finish().await;
}

#[tokio::test]
async fn the_digest_command_posts_the_digest_now_for_moderators_only() {
    let h = Harness::start().await;
    let complaint = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    h.alert_for(complaint).await;

    let refused = h
        .fake
        .slash_command("ascolto", Some("digest"), &[], ids::OTTO)
        .await;
    assert!(h.private_answer(refused).await.contains("Only moderators"));
    assert!(digests(&h).is_empty());

    let asked = h
        .fake
        .slash_command("ascolto", Some("digest"), &[], ids::MIA)
        .await;
    h.fake
        .wait_until("the digest", STEP, |_| digests(&h).len() == 1)
        .await;
    let digest = &digests(&h)[0];
    let content = digest["content"].as_str().unwrap();
    assert!(content.contains("Unanswered"), "{content}");
    assert!(
        content.contains("it.complaint.late"),
        "complaints by rule: {content}"
    );
    assert_eq!(digest["attachments"][0]["filename"], "ascolto-digest.png");
    h.fake
        .wait_until("the confirmation", STEP, |f| {
            f.interaction_original(asked).is_some_and(|m| {
                m["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Digest posted")
            })
        })
        .await;
    h.finish().await;
}

/// A channel of the second guild in the sharded tests.
const LOBBY: u64 = 1_100_000_000_000_000_205;

/// How many gateway shards the sharded tests use.
const SHARDS: u32 = 2;

/// The default world on [`SHARDS`] shards with a second guild (channel [`LOBBY`]) on another
/// shard than the first, chosen by Discord's rule; returns it with the two guild ids.
fn sharded_world() -> (World, u64, u64) {
    let first = ids::GUILD;
    let second = (1..)
        .map(|k: u64| ids::GUILD + (k << 22))
        .find(|g| shard_of(*g, SHARDS) != shard_of(first, SHARDS))
        .expect("a guild on the other shard");
    let world = World::default_test()
        .with_guild(second, "Second Community")
        .with_channel_in(second, LOBBY, "lobby")
        .with_shards(SHARDS);
    (world, first, second)
}

/// The settings every `ascolto run` of the sharded tests shares, against `fake`.
fn run_env(fake: &FakeDiscord) -> Vec<(&'static str, String)> {
    vec![
        ("DISCORD_TOKEN", fake.token()),
        ("ASCOLTO__DISCORD__API_BASE", fake.api_base()),
        ("ASCOLTO__DISCORD__ALERT_CHANNEL", ids::MODS.to_string()),
        (
            "ASCOLTO__DISCORD__MODERATOR_ROLES",
            ids::MODERATOR_ROLE.to_string(),
        ),
        ("ASCOLTO__DISCORD__STAFF_ROLES", ids::STAFF_ROLE.to_string()),
        ("ASCOLTO__DISCORD__CHECK_EVERY", "1s".into()),
        ("ASCOLTO__DIGEST__ENABLED", "false".into()),
        ("ASCOLTO__LOG__LEVEL", "info,serenity=warn".into()),
    ]
}

fn with<'a>(
    base: &'a [(&'static str, String)],
    more: &[(&'static str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    base.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

/// Two `ascolto run` processes share one bot: A runs gateway shard 0 and B shard 1 of 2, each
/// with its own SQLite file. The fake sends each guild's events only on its shard and direct
/// messages on shard 0, as Discord does; every comment must be stored and alerted by exactly
/// the process whose shard holds its guild (or shard 0, for a DM), and by no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_split_the_shards_and_each_comment_is_handled_by_exactly_one() {
    use crate::support::app::{AscoltoRun, TestDir};
    use ascolto::discord::shards::shard_of_guild;

    init_logs();
    let (world, first, second) = sharded_world();
    for guild in [first, second] {
        // The bot's copy of Discord's rule agrees with the fake's.
        assert_eq!(shard_of_guild(guild, SHARDS), shard_of(guild, SHARDS));
    }
    let fake = FakeDiscord::start(world).await;

    let env = run_env(&fake);
    let (dir_a, dir_b) = (TestDir::new(), TestDir::new());
    let a = AscoltoRun::start(
        &dir_a,
        "a",
        &with(
            &env,
            &[
                ("ASCOLTO__DISCORD__SHARDS", "0"),
                ("ASCOLTO__DISCORD__SHARD_COUNT", "2"),
            ],
        ),
    );
    let b = AscoltoRun::start(
        &dir_b,
        "b",
        &with(
            &env,
            &[
                ("ASCOLTO__DISCORD__SHARDS", "1"),
                ("ASCOLTO__DISCORD__SHARD_COUNT", "2"),
            ],
        ),
    );
    // Generous: each binary starts, migrates its database and connects.
    let start = Duration::from_secs(60);
    fake.wait_connected(start).await;
    a.wait_ready(start).await;
    b.wait_ready(start).await;
    assert_eq!(fake.connected_shards(), vec![[0, SHARDS], [1, SHARDS]]);

    let in_first = fake.message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let in_second = fake.message_create(LOBBY, ids::OTTO, COMPLAINT_IT, None);
    let direct = fake.dm_message_create(ids::NORA, COMPLAINT_IT);
    for comment in [in_first, in_second, direct] {
        let footer = format!("comment {comment}");
        fake.wait_for_posted_message(
            ids::MODS,
            |m| m["embeds"][0]["footer"]["text"] == footer,
            STEP,
        )
        .await;
    }

    let (a_ok, a_log) = a.stop().await;
    let (b_ok, b_log) = b.stop().await;
    assert!(a_ok, "{a_log}");
    assert!(b_ok, "{b_log}");
    assert!(a_log.contains("shard 0 of 2"), "{a_log}");
    assert!(b_log.contains("shard 1 of 2"), "{b_log}");

    // Exactly one alert per comment, whichever process posted it.
    let alerts = fake.posted_messages(ids::MODS);
    for comment in [in_first, in_second, direct] {
        let footer = format!("comment {comment}");
        let count = alerts
            .iter()
            .filter(|m| m["embeds"][0]["footer"]["text"] == footer)
            .count();
        assert_eq!(count, 1, "alerts for comment {comment}");
    }

    // Each comment is in the store of the process running its shard, alerted, and nowhere else.
    let owner = |guild: Option<u64>| match guild.map_or(0, |g| shard_of(g, SHARDS)) {
        0 => "a",
        _ => "b",
    };
    let stores = [
        ("a", Store::open_read_only(&dir_a.db()).await.unwrap()),
        ("b", Store::open_read_only(&dir_b.db()).await.unwrap()),
    ];
    for (comment, guild) in [
        (in_first, Some(first)),
        (in_second, Some(second)),
        (direct, None),
    ] {
        for (name, store) in &stores {
            let stored = store
                .comment(&CommentId(comment.to_string()))
                .await
                .unwrap()
                .map(|c| c.state);
            if *name == owner(guild) {
                assert_eq!(
                    stored,
                    Some(CommentState::Alerted),
                    "comment {comment} in {name}"
                );
            } else {
                assert_eq!(stored, None, "comment {comment} must not be in {name}");
            }
        }
    }
    fake.assert_clean();
}

/// Issue 14's whole flow: two `ascolto run` processes on one PostgreSQL database, each running
/// one of two gateway shards. Comments in guilds on both shards are alerted exactly once, their
/// missed targets escalated once and the day's digest posted once, by whichever process holds
/// the scheduled checks; that process is then killed (SIGKILL), and the survivor takes the
/// checks over within the lease: a question asked after the kill is alerted when its grace
/// runs out, by the survivor, and nothing is posted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_post_everything_once_and_the_survivor_takes_over() {
    crate::support::app::on_postgres(async {
        use crate::support::app::{AscoltoRun, TestDir};

        init_logs();
        let (world, first, second) = sharded_world();
        let fake = FakeDiscord::start(world).await;
        // Written before the bot started and past their one-minute target: caught up at
        // start by the process running their guild's shard, alerted, and escalated at once.
        let before = Utc::now() - chrono::Duration::minutes(5);
        let old_first = fake.seed_message(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None, before);
        let old_second = fake.seed_message(LOBBY, ids::OTTO, COMPLAINT_IT, None, before);

        let env = run_env(&fake);
        let shared = [
            ("ASCOLTO__DISCORD__SHARD_COUNT", "2"),
            ("ASCOLTO__CLUSTER__LEASE", "3s"),
            ("ASCOLTO__SLA__TARGETS__COMPLAINT", "1m"),
            ("ASCOLTO__SLA__QUESTION_GRACE", "3s"),
            ("ASCOLTO__DIGEST__ENABLED", "true"),
            ("ASCOLTO__DIGEST__TIME", "00:00"),
        ];
        // One folder, so one database: both processes share it.
        let dir = TestDir::new();
        assert!(dir.db().starts_with("postgres://"), "{}", dir.db());
        let start = |name: &str, shard: &'static str| {
            let mut vars = with(&env, &shared);
            vars.push(("ASCOLTO__DISCORD__SHARDS", shard));
            AscoltoRun::start(&dir, name, &vars)
        };
        let a = start("a", "0");
        let b = start("b", "1");
        let ready = Duration::from_secs(60);
        a.wait_ready(ready).await;
        b.wait_ready(ready).await;

        let posts = |needle: &'static str| {
            let fake = &fake;
            move || {
                fake.posted_messages(ids::MODS)
                    .into_iter()
                    .filter(|m| m["content"].as_str().unwrap_or("").contains(needle))
                    .count()
            }
        };
        let escalations = posts("Response target");
        let digests = posts("Ascolto digest");
        let alerts_for = |comment: u64| {
            let footer = format!("comment {comment}");
            fake.posted_messages(ids::MODS)
                .into_iter()
                .filter(|m| m["embeds"][0]["footer"]["text"] == footer)
                .count()
        };
        let announced = wait_for_condition(ready, || {
            alerts_for(old_first) == 1
                && alerts_for(old_second) == 1
                && escalations() == 2
                && digests() == 1
        })
        .await;
        assert!(
            announced,
            "both old complaints alerted and escalated, and the digest: {:#?}\n--- a:\n{}\n--- b:\n{}",
            fake.posted_messages(ids::MODS),
            a.log(),
            b.log()
        );

        // Kill whichever process holds the scheduled checks.
        let store = Store::connect(&dir.db()).await.unwrap();
        let (holder, _) = store
            .duty_holder("announce")
            .await
            .unwrap()
            .expect("a holder");
        let pid_of = |holder: &str| holder.split(':').nth(1).and_then(|p| p.parse::<u32>().ok());
        let (dead, survivor, survivor_shard) = if pid_of(&holder) == Some(a.pid()) {
            (a, b, 1)
        } else {
            assert_eq!(pid_of(&holder), Some(b.pid()), "{holder}");
            (b, a, 0)
        };
        // A channel of the guild on the survivor's shard, and a member who may write there.
        let (survivor_channel, survivor_author) = if shard_of(first, SHARDS) == survivor_shard {
            (ids::GENERAL, ids::NORA)
        } else {
            assert_eq!(shard_of(second, SHARDS), survivor_shard);
            (LOBBY, ids::OTTO)
        };
        let dead_log = dead.kill().await;

        // Asked after the kill, in the survivor's guild: only the holder of the checks alerts
        // a question whose grace ran out, so its alert proves the survivor took them over.
        let question = fake.message_create(
            survivor_channel,
            survivor_author,
            "Does anyone know when the shop opens?",
            None,
        );
        // Lease (3 s) + one check (1 s) + grace (3 s), with room for a loaded machine.
        let alerted = wait_for_condition(Duration::from_secs(60), || alerts_for(question) == 1).await;
        assert!(
            alerted,
            "the question was not alerted after the takeover; the survivor's log:\n{}\n--- the dead one's:\n{dead_log}",
            survivor.log()
        );
        let (now_holder, _) = store
            .duty_holder("announce")
            .await
            .unwrap()
            .expect("a holder");
        assert_eq!(pid_of(&now_holder), Some(survivor.pid()), "{now_holder}");

        // A few more checks by the survivor: nothing already done is done again.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (ok, survivor_log) = survivor.stop().await;
        assert!(ok, "{survivor_log}");
        assert!(
            survivor_log.contains("took the duty over"),
            "the survivor says it took over:\n{survivor_log}\n--- the dead one:\n{dead_log}"
        );
        for comment in [old_first, old_second, question] {
            assert_eq!(alerts_for(comment), 1, "alerts for comment {comment}");
        }
        assert_eq!(escalations(), 2, "escalations");
        assert_eq!(digests(), 1, "digests");
        fake.assert_clean();
    })
    .await;
}

/// Polls `done` every 50 ms until it holds (true), or `timeout` passes (false).
async fn wait_for_condition(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// A `shards` value that is not a shard id or a range stops `ascolto run` before it connects,
/// naming the key; so does a range beyond `shard_count`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_shards_setting_stops_the_start_naming_the_key() {
    use crate::support::app::{AscoltoRun, TestDir};

    let fake = FakeDiscord::start(World::default_test()).await;
    let env = run_env(&fake);
    for (shards, count, says) in [
        ("zero-one", "2", "is not a shard id"),
        ("1-0", "2", "runs backwards"),
        ("0-2", "2", "shard 2 does not exist"),
        ("0", "0", "discord.shard_count is 0"),
    ] {
        let dir = TestDir::new();
        let run = AscoltoRun::start(
            &dir,
            "bad",
            &with(
                &env,
                &[
                    ("ASCOLTO__DISCORD__SHARDS", shards),
                    ("ASCOLTO__DISCORD__SHARD_COUNT", count),
                ],
            ),
        );
        let (ok, log) = run.exit().await;
        assert!(!ok, "shards = {shards:?} must stop the start: {log}");
        assert!(
            log.contains("discord.shards") && log.contains(says),
            "{shards:?}: {log}"
        );
    }
    assert_eq!(fake.identify_count(), 0, "no process connected");
    fake.assert_clean();
}

/// With `shard_count` unset the bot runs every shard Discord recommends (two here) in one
/// process, and `/readyz` says Discord is connected only once both are: while the fake holds
/// shard 1 back, shard 0 alone is not enough. Then both guilds' comments reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_runs_every_recommended_shard_and_is_ready_only_when_all_are_up() {
    use ascolto::discord::shards::ShardRange;
    use ascolto::metrics::Channel;

    let (world, _, _) = sharded_world();
    let mut h = Harness::unstarted(world, Arc::new(SystemClock)).await;
    let held = h.fake.hold_shard(1);
    h.launch_without_waiting(&[]).await;
    assert_eq!(h.bot().data().shards.range(), ShardRange::all(SHARDS));
    h.fake.wait_shard_connected(0, STEP).await;
    let data = h.bot().data().clone();
    wait_until("the bot to see shard 0 connected", || {
        data.shards.connected() == [0]
    })
    .await;
    assert!(
        data.tracker
            .metrics()
            .channels_down()
            .contains(&Channel::Discord),
        "one shard of two is up: not ready"
    );
    drop(held);
    h.fake.wait_shard_connected(1, STEP).await;
    wait_until("/readyz to count Discord as connected", || {
        data.tracker.metrics().channels_down().is_empty()
    })
    .await;

    let in_first = h
        .fake
        .message_create(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None);
    let in_second = h.fake.message_create(LOBBY, ids::OTTO, COMPLAINT_IT, None);
    h.alert_for(in_first).await;
    h.alert_for(in_second).await;
    h.finish().await;
}

/// Catching up after downtime follows the shards: a process running one shard reads the
/// history of the guilds on it only, and direct messages only if it runs shard 0. One
/// database, three runs: both shards (to meet a DM conversation), then each shard alone while
/// messages wait in both guilds and the DM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catching_up_reads_only_the_guilds_and_dms_of_the_process_shards() {
    let (world, first, second) = sharded_world();
    let mut h = Harness::unstarted(world, Arc::new(SystemClock)).await;
    h.launch(&[]).await;
    let known = h.fake.dm_message_create(ids::NORA, COMPLAINT_IT);
    h.alert_for(known).await;
    h.stop().await;

    let dm = h.fake.dm_channel(ids::NORA);
    let now = Utc::now();
    let missed = [
        (
            h.fake
                .seed_message(ids::SUPPORT, ids::NORA, COMPLAINT_IT, None, now),
            ids::SUPPORT,
            Some(first),
        ),
        (
            h.fake
                .seed_message(LOBBY, ids::OTTO, COMPLAINT_IT, None, now),
            LOBBY,
            Some(second),
        ),
        (
            h.fake.seed_message(dm, ids::NORA, COMPLAINT_IT, None, now),
            dm,
            None,
        ),
    ];
    let db = format!(
        "sqlite://{}",
        h.dir.path().join("data/ascolto.db").display()
    );
    let mut caught_up = Vec::new();
    for shard in [shard_of(first, SHARDS), shard_of(second, SHARDS)] {
        let mine = |guild: Option<u64>| guild.map_or(0, |g| shard_of(g, SHARDS)) == shard;
        let before = h.fake.requests().len();
        let shard_text = shard.to_string();
        let count = SHARDS.to_string();
        h.launch(&[
            ("ASCOLTO__DISCORD__SHARDS", &shard_text),
            ("ASCOLTO__DISCORD__SHARD_COUNT", &count),
        ])
        .await;
        for (message, _, guild) in missed {
            if mine(guild) {
                h.alert_for(message).await;
                caught_up.push(message);
            }
        }
        h.stop().await;
        let history = h.fake.requests()[before..].to_vec();
        let store = Store::open_read_only(&db).await.unwrap();
        for (message, channel, guild) in missed {
            if mine(guild) || caught_up.contains(&message) {
                continue;
            }
            let path = format!("/channels/{channel}/messages");
            assert!(
                !history.iter().any(|r| r.is("GET", &path)),
                "shard {shard} read the history of channel {channel}, on another shard"
            );
            let stored = store
                .comment(&CommentId(message.to_string()))
                .await
                .unwrap();
            assert!(
                stored.is_none(),
                "shard {shard} caught up message {message}"
            );
        }
    }
    assert_eq!(
        caught_up.len(),
        missed.len(),
        "each missed message was caught up once"
    );
    h.fake.assert_clean();
}

/// Polls `condition` (state the bot keeps in memory, with no notification) every 10 ms
/// within [`STEP`].
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + STEP;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
