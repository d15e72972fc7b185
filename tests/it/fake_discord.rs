//! Smoke tests of the fake Discord (`tests/it/support`) with the real serenity client, built the way
//! the bot builds it. They prove the fake is good enough to test the bot against: events arrive
//! with the fields serenity needs, what serenity sends passes Discord's spec, reconnects resume.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{ids, FakeDiscord, World};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use serenity::all::{
    ButtonStyle, ChannelId, Client, ClientBuilder, ComponentInteractionDataKind, Context,
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateInputText,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    CreateMessage, CreateModal, EditInteractionResponse, EditMessage, Event, EventHandler,
    GatewayIntents, GetMessages, GuildId, InputTextStyle, Interaction, Message, MessageId,
    MessageUpdateEvent, RawEventHandler, Ready, ResumedEvent, RoleId, UserId,
};
use serenity::async_trait;
use tokio::sync::Notify;

/// Generous bound for one step; a healthy run takes milliseconds per step.
const STEP: Duration = Duration::from_secs(10);

// ----- a minimal bot ------------------------------------------------------------------------------

/// What the test bot's handlers saw, in order.
#[derive(Clone, Debug)]
enum Seen {
    Ready {
        session_id: String,
    },
    GuildCreate {
        guild: GuildId,
        channels: usize,
        members: usize,
    },
    Message(Box<Message>),
    Component {
        custom_id: String,
        user: u64,
    },
    ModalSubmit {
        custom_id: String,
        values: Vec<(String, String)>,
    },
    Updated {
        id: u64,
        content: Option<String>,
    },
    Deleted {
        id: u64,
        guild: Option<GuildId>,
    },
    Resumed,
    /// A dispatch serenity could not parse: the fake sent an incomplete payload.
    Unknown(String),
}

#[derive(Default)]
struct Log {
    seen: Mutex<Vec<Seen>>,
    changed: Notify,
}

impl Log {
    fn push(&self, seen: Seen) {
        self.seen.lock().unwrap().push(seen);
        self.changed.notify_waiters();
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `pick` finds something in the log.
    async fn wait<T>(&self, what: &str, pick: impl Fn(&[Seen]) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = pick(&self.seen.lock().unwrap()) {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("bot never saw {what}; it saw: {:#?}", self.all());
            }
        }
    }

    async fn wait_message(&self, content: &str) -> Message {
        self.wait(&format!("message {content:?}"), |seen| {
            seen.iter().find_map(|s| match s {
                Seen::Message(m) if m.content == content => Some((**m).clone()),
                _ => None,
            })
        })
        .await
    }

    fn count_messages(&self, content: &str) -> usize {
        self.all()
            .iter()
            .filter(|s| matches!(s, Seen::Message(m) if m.content == content))
            .count()
    }

    fn assert_no_unknown_events(&self) {
        let unknown: Vec<String> = self
            .all()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Unknown(event) => Some(event),
                _ => None,
            })
            .collect();
        assert!(unknown.is_empty(), "serenity dropped events: {unknown:?}");
    }
}

/// Behaviour under test: `!alert` in any channel posts an alert with buttons to `mods`:
/// `ack` answers ephemerally, `note` opens a modal, `later` defers, edits the deferred answer
/// and sends a follow-up. DMs get an echo with an `ack` button.
struct Handler(Arc<Log>);

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        self.0.push(Seen::Ready {
            session_id: ready.session_id,
        });
    }

    async fn guild_create(&self, _ctx: Context, guild: serenity::all::Guild, _new: Option<bool>) {
        self.0.push(Seen::GuildCreate {
            guild: guild.id,
            channels: guild.channels.len(),
            members: guild.members.len(),
        });
    }

    async fn message(&self, ctx: Context, msg: Message) {
        self.0.push(Seen::Message(Box::new(msg.clone())));
        if msg.author.bot {
            return; // never react to ourselves (Discord echoes the bot's own posts)
        }
        if msg.guild_id.is_none() {
            let echo = CreateMessage::new()
                .content(format!("echo: {}", msg.content))
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    "ack",
                )
                .label("OK")])]);
            msg.channel_id
                .send_message(&ctx, echo)
                .await
                .expect("DM reply");
            return;
        }
        if msg.content == "!alert" {
            let buttons = vec![
                CreateButton::new("ack")
                    .label("Acknowledge")
                    .style(ButtonStyle::Primary),
                CreateButton::new("note")
                    .label("Add note")
                    .style(ButtonStyle::Secondary),
                CreateButton::new("later").label("Later"),
            ];
            let alert = CreateMessage::new()
                .content(format!("Complaint from <@{}> needs a reply", msg.author.id))
                .components(vec![CreateActionRow::Buttons(buttons)])
                .allowed_mentions(CreateAllowedMentions::new());
            ChannelId::new(ids::MODS)
                .send_message(&ctx, alert)
                .await
                .expect("post alert");
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Component(component) => {
                assert!(matches!(
                    component.data.kind,
                    ComponentInteractionDataKind::Button
                ));
                self.0.push(Seen::Component {
                    custom_id: component.data.custom_id.clone(),
                    user: component.user.id.get(),
                });
                if component.data.custom_id == "later" {
                    component.defer_ephemeral(&ctx.http).await.expect("defer");
                    let edit = EditInteractionResponse::new().content("Handled later");
                    component
                        .edit_response(&ctx.http, edit)
                        .await
                        .expect("edit original");
                    let followup = CreateInteractionResponseFollowup::new()
                        .content("Follow-up")
                        .ephemeral(true);
                    component
                        .create_followup(&ctx.http, followup)
                        .await
                        .expect("follow-up");
                    return;
                }
                let response = if component.data.custom_id == "note" {
                    let input = CreateInputText::new(InputTextStyle::Paragraph, "Note", "note");
                    CreateInteractionResponse::Modal(
                        CreateModal::new("note_modal", "Add a note")
                            .components(vec![CreateActionRow::InputText(input)]),
                    )
                } else {
                    CreateInteractionResponse::Message(
                        CreateInteractionResponseMessage::new()
                            .content("Acknowledged")
                            .ephemeral(true),
                    )
                };
                component
                    .create_response(&ctx.http, response)
                    .await
                    .expect("component response");
            }
            Interaction::Modal(modal) => {
                let values = modal
                    .data
                    .components
                    .iter()
                    .flat_map(|row| &row.components)
                    .filter_map(|c| match c {
                        serenity::all::ActionRowComponent::InputText(t) => {
                            Some((t.custom_id.clone(), t.value.clone().unwrap_or_default()))
                        }
                        _ => None,
                    })
                    .collect();
                self.0.push(Seen::ModalSubmit {
                    custom_id: modal.data.custom_id.clone(),
                    values,
                });
                let response = CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new().content("Note saved"),
                );
                modal
                    .create_response(&ctx.http, response)
                    .await
                    .expect("modal response");
            }
            _ => {}
        }
    }

    async fn message_update(
        &self,
        _ctx: Context,
        _old: Option<Message>,
        _new: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        // `new` is only filled from serenity's message cache (off by default): read the event.
        self.0.push(Seen::Updated {
            id: event.id.get(),
            content: event.content,
        });
    }

    async fn message_delete(
        &self,
        _ctx: Context,
        _channel: ChannelId,
        message: MessageId,
        guild: Option<GuildId>,
    ) {
        self.0.push(Seen::Deleted {
            id: message.get(),
            guild,
        });
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        self.0.push(Seen::Resumed);
    }
}

/// Catches dispatches serenity turned into `Event::Unknown` (missing required fields).
struct Raw(Arc<Log>);

#[async_trait]
impl RawEventHandler for Raw {
    async fn raw_event(&self, _ctx: Context, event: Event) {
        if let Event::Unknown(unknown) = event {
            self.0.push(Seen::Unknown(format!("{unknown:?}")));
        }
    }
}

struct Bot {
    log: Arc<Log>,
    http: Arc<serenity::http::Http>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const INTENTS: GatewayIntents = GatewayIntents::GUILDS
    .union(GatewayIntents::GUILD_MESSAGES)
    .union(GatewayIntents::DIRECT_MESSAGES)
    .union(GatewayIntents::MESSAGE_CONTENT);

/// Builds and starts the client exactly like the bot does, and waits for GUILD_CREATE.
async fn start_bot(fake: &FakeDiscord, intents: GatewayIntents) -> Bot {
    let log = Arc::new(Log::default());
    let http = serenity::http::HttpBuilder::new(fake.token())
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build();
    let mut client: Client = ClientBuilder::new_with_http(http, intents)
        .event_handler(Handler(log.clone()))
        .raw_event_handler(Raw(log.clone()))
        .await
        .expect("client builds");
    let http = client.http.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = client.start().await {
            panic!("client stopped: {e}");
        }
    });
    log.wait("GUILD_CREATE", |seen| {
        seen.iter()
            .any(|s| matches!(s, Seen::GuildCreate { .. }))
            .then_some(())
    })
    .await;
    Bot { log, http, task }
}

async fn start(world: World) -> (FakeDiscord, Bot) {
    let fake = FakeDiscord::start(world).await;
    let bot = start_bot(&fake, INTENTS).await;
    (fake, bot)
}

/// Posts `!alert` as mia and returns the alert message the bot posted to `mods`.
async fn trigger_alert(fake: &FakeDiscord) -> Value {
    fake.message_create(ids::SUPPORT, ids::MIA, "!alert", None);
    fake.wait_for_posted_message(
        ids::MODS,
        |m| m["components"].as_array().is_some_and(|c| !c.is_empty()),
        STEP,
    )
    .await
}

fn id_of(value: &Value) -> u64 {
    value["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("snowflake id")
}

// ----- the tests ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_guild_create_and_messages_reach_the_handler() {
    let (fake, bot) = start(World::default_test()).await;

    let ready = bot
        .log
        .wait("READY", |seen| {
            seen.iter().find_map(|s| match s {
                Seen::Ready { session_id } => Some(session_id.clone()),
                _ => None,
            })
        })
        .await;
    assert_eq!(ready, "fake-session-1");
    let guild = bot
        .log
        .wait("GUILD_CREATE", |seen| {
            seen.iter().find_map(|s| match s {
                Seen::GuildCreate {
                    guild,
                    channels,
                    members,
                } => Some((*guild, *channels, *members)),
                _ => None,
            })
        })
        .await;
    assert_eq!(guild, (GuildId::new(ids::GUILD), 3, 5));
    assert_eq!(
        bot.http.application_id().map(|a| a.get()),
        Some(ids::APPLICATION),
        "serenity takes the application id from READY"
    );

    let reply_to = fake.message_create(ids::GENERAL, ids::NORA, "my order never arrived", None);
    fake.message_create(ids::GENERAL, ids::MIA, "sorry to hear that", Some(reply_to));
    fake.message_create(ids::SUPPORT_THREAD, ids::SAM, "in the thread", None);

    let complaint = bot.log.wait_message("my order never arrived").await;
    assert_eq!(complaint.guild_id, Some(GuildId::new(ids::GUILD)));
    assert_eq!(complaint.channel_id.get(), ids::GENERAL);
    assert_eq!(complaint.author.name, "nora");
    assert!(complaint
        .member
        .as_ref()
        .is_some_and(|m| m.roles.is_empty()));

    let reply = bot.log.wait_message("sorry to hear that").await;
    let roles: Vec<u64> = reply
        .member
        .as_ref()
        .unwrap()
        .roles
        .iter()
        .map(|r| r.get())
        .collect();
    assert_eq!(roles, vec![ids::MODERATOR_ROLE]);
    let referenced = reply
        .referenced_message
        .as_ref()
        .expect("referenced message");
    assert_eq!(referenced.id.get(), reply_to);
    assert_eq!(
        reply
            .mentions
            .iter()
            .map(|u| u.id.get())
            .collect::<Vec<_>>(),
        vec![ids::NORA]
    );

    let threaded = bot.log.wait_message("in the thread").await;
    assert_eq!(threaded.guild_id, Some(GuildId::new(ids::GUILD)));

    fake.message_update(ids::GENERAL, reply_to, "my order never arrived (edited)");
    fake.message_delete(ids::SUPPORT_THREAD, threaded.id.get());
    let updated = bot
        .log
        .wait("MESSAGE_UPDATE", |seen| {
            seen.iter().find_map(|s| match s {
                Seen::Updated { id, content } if *id == reply_to => Some(content.clone()),
                _ => None,
            })
        })
        .await;
    assert_eq!(updated.as_deref(), Some("my order never arrived (edited)"));
    let deleted_in = bot
        .log
        .wait("MESSAGE_DELETE", |seen| {
            seen.iter().find_map(|s| match s {
                Seen::Deleted { id, guild } if *id == threaded.id.get() => Some(*guild),
                _ => None,
            })
        })
        .await;
    assert_eq!(deleted_in, Some(GuildId::new(ids::GUILD)));

    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_post_with_button_is_recorded_and_matches_the_spec() {
    let (fake, bot) = start(World::default_test()).await;

    let alert = trigger_alert(&fake).await;
    let path = format!("/channels/{}/messages", ids::MODS);
    let post = fake.wait_for(|r| r.is("POST", &path), STEP).await;
    assert_eq!(post.status, 200);
    let body = post.json();
    // serenity spells an empty CreateAllowedMentions out in full.
    assert_eq!(
        body["allowed_mentions"],
        json!({"parse": [], "users": [], "roles": []})
    );
    assert_eq!(body["components"][0]["type"], 1);
    assert_eq!(body["components"][0]["components"][0]["custom_id"], "ack");
    assert!(
        fake.schema_violations().is_empty(),
        "{:#?}",
        fake.schema_violations()
    );

    // Discord's answer: the stored message, no pings (allowed_mentions is empty), component ids.
    assert_eq!(alert["author"]["id"], ids::BOT.to_string());
    assert_eq!(alert["mentions"], json!([]));
    assert_eq!(alert["components"][0]["components"][0]["id"], 2);

    // Like Discord, the fake echoes the bot's own post over the gateway.
    let echoed = bot
        .log
        .wait_message(alert["content"].as_str().unwrap())
        .await;
    assert!(echoed.author.bot);
    assert_eq!(echoed.guild_id, Some(GuildId::new(ids::GUILD)));

    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn button_click_reaches_the_handler_and_the_callback_is_answered() {
    let (fake, bot) = start(World::default_test()).await;
    let alert = trigger_alert(&fake).await;

    let interaction = fake.click_button(id_of(&alert), "ack", ids::SAM);
    let clicked = bot
        .log
        .wait("button click", |seen| {
            seen.iter().find_map(|s| match s {
                Seen::Component { custom_id, user } => Some((custom_id.clone(), *user)),
                _ => None,
            })
        })
        .await;
    assert_eq!(clicked, ("ack".to_owned(), ids::SAM));

    let callback = fake
        .wait_for(
            |r| r.path.starts_with(&format!("/interactions/{interaction}/")),
            STEP,
        )
        .await;
    assert_eq!(callback.status, 204);
    assert_eq!(callback.json()["type"], 4);
    assert_eq!(fake.interaction_responses(interaction).len(), 1);
    let original = fake
        .interaction_original(interaction)
        .expect("original response");
    assert_eq!(original["content"], "Acknowledged");
    assert_eq!(original["flags"], 64, "ephemeral");

    // Ephemeral answers are not part of the channel's history.
    assert_eq!(fake.posted_messages(ids::MODS).len(), 1);

    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modal_opened_from_a_button_can_be_submitted() {
    let (fake, bot) = start(World::default_test()).await;
    let alert = trigger_alert(&fake).await;

    let click = fake.click_button(id_of(&alert), "note", ids::MIA);
    fake.wait_for(
        |r| r.path.starts_with(&format!("/interactions/{click}/")),
        STEP,
    )
    .await;
    assert_eq!(
        fake.interaction_modal(click).unwrap()["custom_id"],
        "note_modal"
    );

    let submit = fake.submit_modal("note_modal", ids::MIA, &[("note", "called the customer")]);
    let values = bot
        .log
        .wait("modal submit", |seen| {
            seen.iter().find_map(|s| match s {
                Seen::ModalSubmit { custom_id, values } if custom_id == "note_modal" => {
                    Some(values.clone())
                }
                _ => None,
            })
        })
        .await;
    assert_eq!(
        values,
        vec![("note".to_owned(), "called the customer".to_owned())]
    );
    let answer = fake
        .wait_for(
            |r| r.path.starts_with(&format!("/interactions/{submit}/")),
            STEP,
        )
        .await;
    assert_eq!(answer.status, 204);
    assert_eq!(
        fake.interaction_original(submit).unwrap()["content"],
        "Note saved"
    );

    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_gateway_resumes_and_replays_missed_events_once() {
    let (fake, bot) = start(World::default_test()).await;
    fake.wait_connected(STEP).await;

    // The socket drops; the event is pushed while the bot is away and must come by replay.
    fake.dispatch_while_disconnected(|fake| {
        fake.message_create(ids::GENERAL, ids::OTTO, "sent while you were away", None);
    });
    bot.log.wait_message("sent while you were away").await;
    bot.log
        .wait("RESUMED", |seen| {
            seen.iter()
                .any(|s| matches!(s, Seen::Resumed))
                .then_some(())
        })
        .await;
    assert_eq!(
        fake.identify_count(),
        1,
        "serenity must resume, not re-identify"
    );
    assert_eq!(fake.resume_count(), 1);
    assert_eq!(fake.resumes()[0].replayed, vec!["MESSAGE_CREATE"]);

    // Dispatches keep their order, so once a later marker arrives any duplicate would have too.
    fake.message_create(ids::GENERAL, ids::OTTO, "marker", None);
    bot.log.wait_message("marker").await;
    assert_eq!(bot.log.count_messages("sent while you were away"), 1);

    // A second, plain drop: the event may travel live or by replay, but arrives exactly once.
    fake.drop_gateway_connection();
    fake.message_create(ids::GENERAL, ids::NORA, "right after the drop", None);
    bot.log.wait_message("right after the drop").await;
    fake.wait_connected(STEP).await;
    fake.message_create(ids::GENERAL, ids::NORA, "marker 2", None);
    bot.log.wait_message("marker 2").await;
    assert_eq!(bot.log.count_messages("right after the drop"), 1);
    assert_eq!(fake.identify_count(), 1);
    assert_eq!(fake.resume_count(), 2);

    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_history_honours_after_before_and_limit() {
    let fake = FakeDiscord::start(World::default_test()).await;
    let at = |minute| Utc.with_ymd_and_hms(2026, 3, 1, 9, minute, 0).unwrap();
    let seeded: Vec<u64> = (0..5)
        .map(|i| fake.seed_message(ids::SUPPORT, ids::NORA, &format!("old {i}"), None, at(i)))
        .collect();
    let bot = start_bot(&fake, INTENTS).await;
    let channel = ChannelId::new(ids::SUPPORT);
    let ids_of = |messages: Vec<Message>| messages.iter().map(|m| m.id.get()).collect::<Vec<_>>();

    // `after` returns the messages right after the anchor, newest first (like Discord).
    let after = channel
        .messages(
            &bot.http,
            GetMessages::new().after(MessageId::new(seeded[1])).limit(2),
        )
        .await
        .expect("GET messages");
    assert_eq!(ids_of(after), vec![seeded[3], seeded[2]]);
    let request = fake
        .wait_for(|r| r.query_param("after").is_some(), STEP)
        .await;
    assert_eq!(request.query_param("limit"), Some("2"));

    let before = channel
        .messages(
            &bot.http,
            GetMessages::new()
                .before(MessageId::new(seeded[3]))
                .limit(2),
        )
        .await
        .expect("GET messages");
    assert_eq!(ids_of(before), vec![seeded[2], seeded[1]]);

    let all = channel
        .messages(&bot.http, GetMessages::new())
        .await
        .expect("GET messages");
    assert_eq!(all.len(), 5);
    assert_eq!(all[0].id.get(), seeded[4], "newest first");
    assert_eq!(all[4].timestamp.unix_timestamp(), at(0).timestamp());
    assert_eq!(all[0].guild_id, None, "REST messages carry no guild_id");

    // Seeded history was never dispatched.
    assert_eq!(bot.log.count_messages("old 0"), 0);
    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_use_a_dm_channel() {
    let (fake, bot) = start(World::default_test()).await;

    fake.dm_message_create(ids::NORA, "hello bot");
    let dm = bot.log.wait_message("hello bot").await;
    assert_eq!(dm.guild_id, None);
    assert_eq!(dm.channel_id.get(), fake.dm_channel(ids::NORA));
    let echo = fake
        .wait_for_posted_message(
            fake.dm_channel(ids::NORA),
            |m| m["content"] == "echo: hello bot",
            STEP,
        )
        .await;
    assert_eq!(echo["author"]["bot"], true);

    // Components work in DMs too (the interaction carries `user` instead of `member`).
    let click = fake.click_button(id_of(&echo), "ack", ids::NORA);
    let answer = fake
        .wait_for(
            |r| r.path.starts_with(&format!("/interactions/{click}/")),
            STEP,
        )
        .await;
    assert_eq!(answer.status, 204);

    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_message_content_intent_guild_messages_arrive_empty() {
    let fake = FakeDiscord::start(World::default_test()).await;
    let intents = INTENTS.difference(GatewayIntents::MESSAGE_CONTENT);
    let bot = start_bot(&fake, intents).await;

    let plain = fake.message_create(ids::GENERAL, ids::NORA, "you will not read this", None);
    let mention = format!("<@{}> but this one mentions you", ids::BOT);
    fake.message_create(ids::GENERAL, ids::NORA, &mention, None);
    bot.log.wait_message(&mention).await;
    let hidden = bot
        .log
        .wait("the plain message", |seen| {
            seen.iter().find_map(|s| match s {
                Seen::Message(m) if m.id.get() == plain => Some(m.content.clone()),
                _ => None,
            })
        })
        .await;
    assert_eq!(hidden, "");
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_acknowledged() {
    let mut world = World::default_test();
    world.heartbeat_interval = Duration::from_millis(100);
    let (fake, _bot) = start(world).await;
    fake.wait_until("three heartbeats", STEP, |f| f.heartbeat_count() >= 3)
        .await;
    assert_eq!(
        fake.identify_count(),
        1,
        "acknowledged heartbeats keep the session"
    );
    assert_eq!(fake.resume_count(), 0);
    fake.assert_clean();
}

// ----- the schema checker itself (no network) ----------------------------------------------------

fn check(method: &str, path: &str, query: &[(&str, &str)], body: Option<Value>) -> Vec<String> {
    let spec = crate::support::schema::spec();
    let op = spec.operation(method, path).expect("known operation");
    let query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    spec.check_request(&op, &query, body.as_ref())
}

#[test]
fn schema_check_accepts_a_valid_message_and_rejects_mistakes() {
    let path = "/channels/1100000000000000203/messages";
    let valid = json!({
        "content": "hi",
        "tts": false,
        "allowed_mentions": {"parse": []},
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "custom_id": "ack", "label": "Acknowledge"}
        ]}],
        "message_reference": {"message_id": 1_100_000_000_000_000_500u64, "fail_if_not_exists": false},
    });
    assert_eq!(check("POST", path, &[], Some(valid)), Vec::<String>::new());

    let typo = check("POST", path, &[], Some(json!({"contnet": "hi"})));
    assert!(typo[0].contains("`contnet` is not described"), "{typo:?}");

    let long_label = "x".repeat(81);
    let bad_button = check(
        "POST",
        path,
        &[],
        Some(json!({"components": [{"type": 1, "components": [
            {"type": 2, "style": 9, "custom_id": "ack", "label": long_label}
        ]}]})),
    );
    let text = bad_button.join("\n");
    assert!(text.contains("maxLength 80"), "{text}");
    assert!(text.contains("is not one of"), "{text}");

    let missing_type = check(
        "POST",
        path,
        &[],
        Some(json!({"components": [{"components": []}]})),
    );
    assert!(missing_type
        .join("\n")
        .contains("missing required property `type`"));

    let bad_limit = check("GET", path, &[("limit", "500")], None);
    assert!(bad_limit[0].contains("above maximum 100"), "{bad_limit:?}");
    let bad_param = check("GET", path, &[("afterr", "1")], None);
    assert!(bad_param[0].contains("`afterr`"), "{bad_param:?}");
    assert!(check("GET", path, &[("limit", "50"), ("after", "1")], None).is_empty());
}

#[test]
fn schema_check_handles_interaction_callbacks() {
    let path = "/interactions/1/token/callback";
    let ok = json!({"type": 4, "data": {"content": "done", "flags": 64}});
    assert!(check("POST", path, &[], Some(ok)).is_empty());
    let modal = json!({"type": 9, "data": {"custom_id": "m", "title": "Title", "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "note", "style": 2, "label": "Note"}]}
    ]}});
    assert!(check("POST", path, &[], Some(modal)).is_empty());
    let bad = check("POST", path, &[], Some(json!({"type": 42})));
    assert!(bad[0].contains("matches none"), "{bad:?}");
    let no_body = check("POST", path, &[], None);
    assert!(
        no_body[0].contains("requires a request body"),
        "{no_body:?}"
    );
}

#[test]
fn schema_allowances_for_serenity_command_options_stay_narrow() {
    let path = "/applications/1/commands";
    let subcommand = |extra: Value| {
        let mut option = json!({
            "type": 1, "name": "user", "description": "Report a member", "required": false,
            "autocomplete": false, "channel_types": [], "choices": [], "options": [],
            "min_value": null, "max_value": null, "min_length": null, "max_length": null,
        });
        crate::support::objects::merge(&mut option, extra);
        json!([{"name": "triage", "description": "d", "nsfw": false, "options": [option]}])
    };
    // What serenity 0.12.5 sends: neutral values of fields that do not apply are accepted.
    assert_eq!(
        check("PUT", path, &[], Some(subcommand(json!({})))),
        Vec::<String>::new()
    );
    // A real value on a field that does not apply is still reported.
    let wrong = check(
        "PUT",
        path,
        &[],
        Some(subcommand(json!({"channel_types": [0]}))),
    );
    assert!(!wrong.is_empty());
    let bad_nsfw = check(
        "PUT",
        path,
        &[],
        Some(json!([{"name": "x", "description": "d", "nsfw": "no"}])),
    );
    assert!(bad_nsfw[0].contains("`nsfw`"), "{bad_nsfw:?}");
}

// ----- poise ----------------------------------------------------------------------------------------

type PoiseError = Box<dyn std::error::Error + Send + Sync>;
type PoiseContext<'a> = poise::Context<'a, (), PoiseError>;

/// Moderation commands
#[poise::command(slash_command, subcommands("triage_user"))]
async fn triage(_ctx: PoiseContext<'_>) -> Result<(), PoiseError> {
    Ok(())
}

/// Report a member
#[poise::command(slash_command, rename = "user")]
async fn triage_user(
    ctx: PoiseContext<'_>,
    #[description = "Who"] who: serenity::all::User,
    #[description = "Why"] reason: Option<String>,
    #[description = "How urgent"] urgency: Option<i64>,
) -> Result<(), PoiseError> {
    let text = format!(
        "reported {} ({}, urgency {})",
        who.name,
        reason.unwrap_or_default(),
        urgency.unwrap_or(0)
    );
    ctx.say(text).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poise_registers_and_runs_slash_commands() {
    let fake = FakeDiscord::start(World::default_test()).await;
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: vec![triage()],
            ..Default::default()
        })
        .setup(|ctx, _ready, framework| {
            Box::pin(async move {
                poise::builtins::register_globally(ctx, &framework.options().commands).await?;
                Ok(())
            })
        })
        .build();
    let http = serenity::http::HttpBuilder::new(fake.token())
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build();
    let mut client = ClientBuilder::new_with_http(http, INTENTS)
        .framework(framework)
        .await
        .expect("client builds");
    let task = tokio::spawn(async move { client.start().await });

    let options = [("who", json!(ids::NORA.to_string())), ("urgency", json!(3))];
    let interaction = fake
        .slash_command("triage", Some("user"), &options, ids::MIA)
        .await;
    let answer = fake
        .wait_for(
            |r| r.path.starts_with(&format!("/interactions/{interaction}/")),
            STEP,
        )
        .await;
    assert_eq!(answer.status, 204);
    let original = fake
        .interaction_original(interaction)
        .expect("poise answered");
    assert_eq!(original["content"], "reported nora (, urgency 3)");
    assert_eq!(original["type"], 20, "slash command responses are type 20");

    let commands = fake.registered_commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0]["options"][0]["name"], "user");
    fake.wait_for(|r| r.is("GET", "/oauth2/applications/@me"), STEP)
        .await;
    task.abort();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_answer_edit_and_follow_up() {
    let (fake, bot) = start(World::default_test()).await;
    let alert = trigger_alert(&fake).await;

    let click = fake.click_button(id_of(&alert), "later", ids::SAM);
    let calls = fake
        .wait_for_count(
            |r| r.path.contains(&format!("fake-interaction-token-{click}")),
            3,
            STEP,
        )
        .await;
    let shape: Vec<(String, u16)> = calls.iter().map(|r| (r.method.clone(), r.status)).collect();
    assert_eq!(
        shape,
        [
            ("POST".into(), 204),
            ("PATCH".into(), 200),
            ("POST".into(), 200)
        ],
        "defer, edit @original, follow-up"
    );
    assert_eq!(calls[0].json()["type"], 5);
    let original = fake.interaction_original(click).unwrap();
    assert_eq!(original["content"], "Handled later");
    assert_eq!(
        original["flags"], 64,
        "deferred ephemerally, loading flag cleared by the edit"
    );
    assert_eq!(fake.interaction_responses(click).len(), 3);

    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_endpoints_answer_like_discord() {
    let (fake, bot) = start(World::default_test()).await;
    let http = &bot.http;

    let me = http.get_current_user().await.expect("users/@me");
    assert_eq!(me.id.get(), ids::BOT);
    let app = http
        .get_current_application_info()
        .await
        .expect("application");
    assert_eq!(app.id.get(), ids::APPLICATION);
    assert_eq!(app.owner.map(|o| o.id.get()), Some(ids::MIA));

    let member = GuildId::new(ids::GUILD)
        .member(http, UserId::new(ids::SAM))
        .await
        .expect("member");
    assert_eq!(member.roles, vec![RoleId::new(ids::STAFF_ROLE)]);
    let roles = GuildId::new(ids::GUILD).roles(http).await.expect("roles");
    assert!(roles.contains_key(&RoleId::new(ids::MODERATOR_ROLE)));
    let mods = ChannelId::new(ids::MODS)
        .to_channel(http)
        .await
        .expect("channel");
    assert_eq!(mods.guild().map(|c| c.name), Some("mods".to_owned()));
    let thread = ChannelId::new(ids::SUPPORT_THREAD)
        .to_channel(http)
        .await
        .expect("thread");
    assert_eq!(
        thread.guild().and_then(|c| c.parent_id),
        Some(ChannelId::new(ids::SUPPORT))
    );

    // Post, edit, delete: each comes back over the gateway like on Discord.
    let channel = ChannelId::new(ids::GENERAL);
    let posted = channel.say(http, "first draft").await.expect("post");
    let edited = channel
        .edit_message(http, posted.id, EditMessage::new().content("final text"))
        .await
        .expect("edit");
    assert!(edited.edited_timestamp.is_some());
    bot.log
        .wait("echo of the edit", |seen| {
            seen.iter()
                .any(|s| matches!(s, Seen::Updated { id, .. } if *id == posted.id.get()))
                .then_some(())
        })
        .await;
    channel
        .delete_message(http, posted.id)
        .await
        .expect("delete");
    assert!(fake.posted_messages(ids::GENERAL).is_empty());
    let gone = channel.message(http, posted.id).await.expect_err("deleted");
    assert!(gone.to_string().contains("Unknown Message"), "{gone}");

    let dm = UserId::new(ids::OTTO)
        .create_dm_channel(http)
        .await
        .expect("DM channel");
    assert_eq!(dm.id.get(), fake.dm_channel(ids::OTTO));
    dm.id.say(http, "hello otto").await.expect("DM");
    assert_eq!(
        fake.posted_messages(dm.id.get())[0]["content"],
        "hello otto"
    );

    // A 404 on a known route (the deleted message) is an answer, not a problem.
    bot.log.assert_no_unknown_events();
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_refusals_are_reported() {
    let fake = FakeDiscord::start(World::default_test()).await;
    let url = format!("{}/api/v10/guilds/{}/bans", fake.api_base(), ids::GUILD);
    let response = reqwest::Client::new()
        .post(&url)
        .header("Authorization", format!("Bot {}", fake.token()))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    assert_eq!(
        fake.unknown_routes(),
        vec![format!("POST /api/v10/guilds/{}/bans", ids::GUILD)]
    );

    let wrong = serenity::http::HttpBuilder::new("not-the-token")
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build();
    assert!(wrong.get_current_user().await.is_err());
    assert_eq!(fake.rejections().len(), 1, "{:?}", fake.rejections());

    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fake.assert_clean()));
    let message = *result
        .expect_err("assert_clean must fail")
        .downcast::<String>()
        .unwrap();
    assert!(message.contains("unknown route"), "{message}");
    assert!(message.contains("401"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_at_identify() {
    let mut world = World::default_test();
    world.token = "the-real-token".into();
    let fake = FakeDiscord::start(world).await;
    let http = serenity::http::HttpBuilder::new("a-wrong-token")
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build();
    let mut client = ClientBuilder::new_with_http(http, INTENTS)
        .event_handler(Handler(Arc::default()))
        .await
        .expect("client builds");
    // GET /gateway needs no token, so serenity reaches the fake gateway and gets close 4004.
    let outcome = tokio::time::timeout(STEP, client.start())
        .await
        .expect("client gives up");
    assert!(outcome.unwrap_err().to_string().contains("uthentication"));
    assert_eq!(fake.identify_count(), 0);
}
