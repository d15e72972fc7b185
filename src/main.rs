//! The `ascolto` command line: parses arguments and wires the stages; no business rules here.

// Triage allocates a few small strings per comment (the verdict's explanations); mimalloc
// serves those markedly faster than the system allocator (see `benches/triage.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use clap::{Parser, Subcommand};

use ascolto::app::App;
use ascolto::clock::{Clock, ManualClock, SystemClock};
use ascolto::comment::{Author, Comment, Place, Source};
use ascolto::config::{
    discord_token, parse_duration, telegram_token, telegram_webhook_secret, RoomKind, Settings,
    TelegramMode,
};
use ascolto::digest::{self, DigestWindow};
use ascolto::eval::{self, Task};
use ascolto::http::{self, HttpServer};
use ascolto::meta::types::{MetaSecrets, Pages};
use ascolto::meta::Meta;
use ascolto::outbox::{Destination, Room};
use ascolto::rules::Library;
use ascolto::sla::format_wait;
use ascolto::store::Store;
use ascolto::{discord, explain, replay, telegram, telemetry};

/// Where `ascolto demo` writes the chart of its digest.
const DEMO_CHART: &str = "data/demo-digest.png";

#[derive(Parser)]
#[command(
    name = "ascolto",
    version,
    about = "Listens to your community: flags complaints and unanswered questions and drafts empathetic replies for moderators."
)]
struct Cli {
    /// Folder with default.toml (and optional local.toml).
    #[arg(long, global = true, default_value = "config")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot on Discord (token from DISCORD_TOKEN) and, with `[telegram] enabled`, on
    /// Telegram (token from TELEGRAM_TOKEN); Telegram alone when Discord is not configured.
    Run,
    /// Replay the bundled day in a community (examples/comments.jsonl) through the bot's
    /// pipeline, print the alerts and escalations moderators would see, and end with the
    /// day's digest (chart in data/demo-digest.png). No token or network needed.
    Demo {
        /// Database for the demo; it is emptied first.
        #[arg(long, default_value = "sqlite://data/demo.db")]
        db: String,
    },
    /// Replay any JSONL comment file (format in the README) through the pipeline.
    Replay {
        file: PathBuf,
        /// Database to use (default: a private in-memory one).
        #[arg(long, default_value = "sqlite::memory:")]
        db: String,
    },
    /// Print the digest of stored data (unanswered by age, complaints, response times,
    /// targets missed, moderators' actions), as posted daily in the moderators' channel.
    Digest {
        /// How far back to report: 30m, 24h, 7d...
        #[arg(long, default_value = "24h", value_parser = parse_since)]
        since: Duration,
        /// Also write the chart to this PNG file.
        #[arg(long, value_name = "FILE.png")]
        chart: Option<PathBuf>,
        /// Database to read (default: the configured `store.url`).
        #[arg(long)]
        db: Option<String>,
        /// End of the reported period, RFC 3339 (default: now), e.g. to look at a past day.
        #[arg(long, value_name = "TIME")]
        at: Option<DateTime<Utc>>,
    },
    /// Check or try the rule library.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Measure detection on labelled data: a CSV (`id,text,label`) for complaint, question and
    /// negative; an annotated chat stream (JSONL) for unanswered.
    Eval {
        /// complaint, question, negative or unanswered.
        #[arg(long)]
        task: Task,
        #[arg(long)]
        data: PathBuf,
        /// List false positives and false negatives with the rules that fired
        /// (unanswered: also score the naive baseline).
        #[arg(long)]
        explain: bool,
        /// Rule library to measure (default: the configured one).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// unanswered only: what a question grace of each length (e.g. `2m,10m,30m`) would
        /// save in alerts and delay for the questions nobody answered.
        #[arg(long, value_delimiter = ',', value_parser = parse_since)]
        grace: Vec<Duration>,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate a rule library; prints one line per problem and exits 1 if there are any.
    Check {
        /// Library folder (default: the configured `rules.dir`).
        dir: Option<PathBuf>,
    },
    /// Show how a text is triaged: language, labels, rules and matched text, and the draft.
    Test {
        text: String,
        /// Channel name the text is posted in (for channel-limited rules).
        #[arg(long, default_value = "general")]
        channel: String,
        /// Treat the text as a direct message to the bot.
        #[arg(long)]
        dm: bool,
    },
    /// For each rule giving (or cancelling) the task's label: how many rows of a labelled CSV
    /// it fires on and its precision there, to see whether a rule generalises.
    Stats {
        /// Labelled CSV (`id,text,label`).
        #[arg(long)]
        data: PathBuf,
        /// complaint, question or negative.
        #[arg(long)]
        task: Task,
        /// Also list each rule's words and patterns with their own counts.
        #[arg(long)]
        terms: bool,
        /// Rule library to measure (default: the configured one).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let settings = Settings::load(&cli.config)
        .with_context(|| format!("loading settings from {}", cli.config.display()))?;
    // The bot logs at the configured level; one-shot commands only warn.
    let level = match cli.command {
        Command::Run => settings.log.level.clone(),
        _ => "warn".to_owned(),
    };
    telemetry::init(&level);
    match cli.command {
        Command::Run => run_bot(settings).await,
        Command::Demo { db } => {
            reset_sqlite_file(&db)?;
            let chart = Path::new(DEMO_CHART);
            run_replay(
                settings,
                Path::new("examples/comments.jsonl"),
                &db,
                Some(chart),
            )
            .await
        }
        Command::Replay { file, db } => run_replay(settings, &file, &db, None).await,
        Command::Digest {
            since,
            chart,
            db,
            at,
        } => run_digest(settings, since, chart, db, at).await,
        Command::Rules { command } => match command {
            RulesCommand::Check { dir } => rules_check(&settings, dir),
            RulesCommand::Test { text, channel, dm } => {
                rules_test(settings, text, channel, dm).await
            }
            RulesCommand::Stats {
                data,
                task,
                terms,
                rules,
            } => rules_stats(&settings, task, &data, terms, rules),
        },
        Command::Eval {
            task,
            data,
            explain,
            rules,
            grace,
        } => {
            if task == Task::Unanswered {
                eval_unanswered(&data, explain, &grace)
            } else {
                anyhow::ensure!(
                    grace.is_empty(),
                    "--grace is for --task unanswered (a question grace is measured on a chat stream)"
                );
                run_eval(&settings, task, &data, explain, rules)
            }
        }
    }
}

/// `ascolto run`: checks settings and tokens before connecting, runs Discord, Telegram or both
/// (and Meta's webhooks beside Discord, whose channel shows their alerts) until Ctrl-C or
/// SIGTERM, then stops gracefully (work in flight finishes; anything missed is caught up at
/// the next start).
async fn run_bot(settings: Settings) -> Result<ExitCode> {
    let discord_token = if settings.discord_wanted() {
        settings.validate_for_discord()?;
        Some(discord_token()?)
    } else {
        None
    };
    let telegram_token = if settings.telegram.enabled {
        settings.validate_for_telegram()?;
        Some(telegram_token()?)
    } else {
        None
    };
    let webhook_secret =
        if settings.telegram.enabled && settings.telegram.mode == TelegramMode::Webhook {
            Some(telegram_webhook_secret()?)
        } else {
            None
        };
    // Like the tokens, Meta's secrets are checked before anything connects.
    let meta_secrets = if settings.meta.is_enabled() {
        if discord_token.is_none() {
            anyhow::bail!("Meta's pages are configured, but their alerts are shown in the moderators' Discord channel: configure [discord] too");
        }
        Some(MetaSecrets::from_env(&Pages::from_settings(
            &settings.meta,
        ))?)
    } else {
        None
    };
    let rooms = settings.rooms_for(discord_token.is_some(), telegram_token.is_some())?;
    let app = App::build(settings, Arc::new(SystemClock)).await?;
    // Every room is named before any channel starts, so no comment is alerted in one only.
    for kind in rooms {
        let room = match kind {
            RoomKind::Discord => Room {
                destination: Destination::Discord,
                channel: app.settings.discord.alert_channel.to_string(),
            },
            RoomKind::Telegram => Room {
                destination: Destination::Telegram,
                channel: app.settings.telegram.moderators_chat.to_string(),
            },
        };
        app.tracker.add_room(room);
    }
    // Discord's start gives back replies a crash left mid-send; alone, Telegram needs it done.
    if discord_token.is_none() {
        let recovered = app.tracker.recover_after_restart().await?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "replies interrupted by the last stop are back in the queue"
            );
        }
    }
    let mut bot = match discord_token {
        Some(token) => Some(
            discord::start(app.clone(), token)
                .await
                .context("starting the Discord bot")?,
        ),
        None => None,
    };
    let (meta, mut routes) = match (meta_secrets, &bot) {
        (Some(secrets), Some(bot)) => {
            let (meta, routes) = start_meta(&app, secrets, bot).await?;
            (Some(meta), vec![routes])
        }
        _ => (None, Vec::new()),
    };
    let tracker = app.tracker.clone();
    let mut polling = match telegram_token {
        Some(token) => Some(
            telegram::start_with(app.clone(), token, webhook_secret)
                .await
                .context("starting the Telegram channel")?,
        ),
        None => None,
    };
    // Discord's start tries again the comments that failed before; alone, Telegram needs it
    // done, once its room is named so that what they flag is alerted like any comment.
    if bot.is_none() {
        log_retried(tracker.retry_failures().await);
    }
    // One HTTP server for the channels that receive webhooks (Meta's, Telegram's in webhook
    // mode), with the health, readiness and metrics endpoints beside them.
    routes.extend(polling.as_ref().and_then(|p| p.webhook_routes()));
    let server = if !routes.is_empty() || app.settings.needs_http() {
        routes.push(http::status_routes(app.tracker.clone()));
        let router = http::router(routes, app.settings.http.max_body_kb * 1024);
        Some(HttpServer::start(&app.settings.http.listen, router).await?)
    } else {
        None
    };
    // A channel that stops on its own has ended its task: only the others are shut down.
    let outcome = tokio::select! {
        () = shutdown_signal() => Ok(()),
        stopped = async {
            match &mut bot {
                Some(bot) => bot.stopped().await,
                None => std::future::pending().await,
            }
        } => {
            bot = None;
            stopped.context("the Discord connection stopped")
        }
        stopped = async {
            match &mut polling {
                Some(polling) => polling.stopped().await,
                None => std::future::pending().await,
            }
        } => {
            polling = None;
            stopped.context("Telegram polling stopped")
        }
    };
    // Deliveries acknowledged but not processed yet are in the inbox: processed at the next
    // start.
    if let Some(server) = server {
        server.shutdown().await;
    }
    if let Some(meta) = meta {
        meta.stop().await;
    }
    if let Some(polling) = polling {
        polling.shutdown().await?;
    }
    if let Some(bot) = bot {
        bot.shutdown().await?;
    }
    // Another process sharing the store takes the scheduled checks over at once.
    app.tracker.duties().release_all().await;
    outcome.map(|()| ExitCode::SUCCESS)
}

fn log_retried(result: Result<ascolto::tracker::RetriedFailures, ascolto::tracker::TrackerError>) {
    match result {
        Ok(retried) if retried.succeeded + retried.failed > 0 => tracing::info!(
            succeeded = retried.succeeded,
            failed_again = retried.failed,
            "comments that had failed before were tried again"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "comments that had failed before could not be tried again; they are at the next start")
        }
    }
}

/// The Meta channel while the bot runs: its processor, its replies' delivery, and the task
/// that keeps its comments' Discord alerts in step.
struct MetaChannel {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Posts approved replies on Facebook, Instagram and Messenger.
    replies: ascolto::outbox::Worker,
}

impl MetaChannel {
    async fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
        // A reply being posted is finished and recorded; pending ones wait for the next start.
        if !self
            .replies
            .shutdown(std::time::Duration::from_secs(10))
            .await
        {
            tracing::warn!("a Meta reply still in flight at shutdown; it is looked for before being retried at the next start");
        }
    }
}

/// Starts the Meta channel; returns it and its webhook routes for the HTTP server.
async fn start_meta(
    app: &App,
    secrets: MetaSecrets,
    bot: &discord::BotHandle,
) -> Result<(MetaChannel, axum::Router)> {
    let (meta, notices) = Meta::start(app, secrets)
        .await
        .context("starting the Meta channel")?;
    let processor = meta.spawn_processor();
    let replies = meta.spawn_delivery(app.settings.outbox.policy());
    let alerts = discord::alerts::follow_meta(bot.data().clone(), notices);
    Ok((
        MetaChannel {
            tasks: vec![processor, alerts],
            replies,
        },
        meta.routes(),
    ))
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The demo starts from an empty database each time, so it always shows the whole day.
fn reset_sqlite_file(url: &str) -> Result<()> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Ok(());
    };
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("emptying the demo database {file}")),
        }
    }
    Ok(())
}

fn parse_since(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

async fn run_digest(
    settings: Settings,
    since: Duration,
    chart: Option<PathBuf>,
    db: Option<String>,
    at: Option<DateTime<Utc>>,
) -> Result<ExitCode> {
    let url = db.unwrap_or_else(|| settings.store.url.clone());
    // The digest only reads: a read-only file, or a copy, is enough, and nothing is migrated.
    let store = Store::open_read_only(&url).await?;
    let end = at.unwrap_or_else(|| SystemClock.now());
    let window = DigestWindow::ending(end, since, settings.digest_time_zone());
    let digest = digest::build_window(&store, &window, &settings).await?;
    print!("{}", digest.to_text());
    if let Some(path) = chart {
        digest::chart::write_png(&digest, &path)?;
        println!("\nChart written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Replay problems go to standard error as they are found, with the progress; alerts go to
/// standard output.
struct StderrNotes(telemetry::Progress);

impl replay::Notes for StderrNotes {
    fn problem(&mut self, message: &str) {
        self.0.finish();
        eprintln!("{message}");
    }

    fn progress(&mut self, summary: &replay::ReplaySummary) {
        self.0.tick(summary.comments + summary.skipped);
    }
}

async fn run_replay(
    settings: Settings,
    file: &Path,
    db: &str,
    chart: Option<&Path>,
) -> Result<ExitCode> {
    let limits = replay::Limits {
        max_comment_chars: settings.triage.max_comment_chars,
    };
    let reader = replay::open(file, limits)?;
    let name = reader.path().to_owned();
    // The replay sets the clock to its first comment's time.
    let clock = ManualClock::new(Utc::now());
    let app = App::build_with_store(settings, db, Arc::new(clock.clone())).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Replaying {} ({} rules loaded)\n",
        file.display(),
        app.tracker.library().rules.len()
    )?;
    let watch = replay::Watch {
        sla: &app.sla,
        escalation: &app.escalation,
        every: Duration::minutes(5),
    };
    let mut notes = StderrNotes(telemetry::Progress::new("comments replayed"));
    let summary = replay::run_watched(
        &app.tracker,
        &clock,
        &name,
        reader,
        Some(&watch),
        &mut out,
        &mut notes,
    )
    .await?;
    notes.0.finish();
    // The summary and the digest are read at the end of the replayed day, where the clock is.
    let mut line = format!(
        "── {} comments, {} flagged, {} answered in the channel, {} duplicates ignored, {} targets missed and escalated",
        summary.comments, summary.flagged, summary.answered_in_channel, summary.duplicates, summary.escalated
    );
    if summary.skipped > 0 {
        line.push_str(&format!(", {} lines skipped", summary.skipped));
    }
    if summary.out_of_order > 0 {
        line.push_str(&format!(
            ", {} comments out of time order",
            summary.out_of_order
        ));
    }
    if summary.in_grace > 0 {
        line.push_str(&format!(
            ", {} questions still within their grace (not alerted yet)",
            summary.in_grace
        ));
    }
    if summary.failed > 0 {
        line.push_str(&format!(
            ", {} comments could not be processed",
            summary.failed
        ));
    }
    writeln!(out, "{line}\n")?;
    let window = DigestWindow::ending(
        clock.now(),
        Duration::hours(24),
        app.settings.digest_time_zone(),
    );
    let digest = digest::build_window(app.tracker.store(), &window, &app.settings).await?;
    write!(out, "{}", digest.to_text())?;
    if let Some(path) = chart {
        digest::chart::write_png(&digest, path)?;
        writeln!(out, "\nChart of this digest: {}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn rules_check(settings: &Settings, dir: Option<PathBuf>) -> Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| settings.rules.dir.clone());
    match Library::load(&dir, &settings.templates.values) {
        Ok(library) => {
            println!(
                "{}: {} rules, {} templates, {} terms: OK",
                dir.display(),
                library.rules.len(),
                library.templates.len(),
                library.matcher.term_count()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            for problem in err.problems() {
                println!("{problem}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

async fn rules_test(
    settings: Settings,
    text: String,
    channel: String,
    dm: bool,
) -> Result<ExitCode> {
    let clock = ManualClock::new(Utc::now());
    let app = App::build_with_store(settings, "sqlite::memory:", Arc::new(clock)).await?;
    let place = Place {
        is_dm: dm,
        ..Place::channel(channel.clone(), channel)
    };
    let comment = Comment::new(
        "test",
        Source::Replay,
        place,
        Author::member("member", "member"),
        text,
        Utc::now(),
    );
    let (verdict, draft) = app.tracker.dry_run(&comment);
    print!("{}", explain::report(&verdict, draft.as_ref()));
    Ok(ExitCode::SUCCESS)
}

/// `ascolto rules stats`: how often each rule fires on labelled data, and how precisely.
fn rules_stats(
    settings: &Settings,
    task: Task,
    data: &Path,
    terms: bool,
    rules: Option<PathBuf>,
) -> Result<ExitCode> {
    anyhow::ensure!(
        task != Task::Unanswered,
        "rules stats needs a labelled CSV task: complaint, question or negative"
    );
    let dir = rules.unwrap_or_else(|| settings.rules.dir.clone());
    let library = Library::load(&dir, &settings.templates.values)?;
    let rows = eval::read_csv(data)?;
    let stats = eval::rule_stats(task, &rows, &library, &settings.triage_options());
    println!(
        "task: {task:?}  data: {}  rules: {}",
        data.display(),
        dir.display()
    );
    print!("{}", eval::rule_stats_text(&stats, &rows, terms));
    Ok(ExitCode::SUCCESS)
}

fn run_eval(
    settings: &Settings,
    task: Task,
    data: &Path,
    explain: bool,
    rules: Option<PathBuf>,
) -> Result<ExitCode> {
    let dir = rules.unwrap_or_else(|| settings.rules.dir.clone());
    let library = Library::load(&dir, &settings.templates.values)?;
    let rows = eval::read_csv(data)?;
    let mut progress = telemetry::Progress::new("rows evaluated");
    let report = eval::evaluate_with_progress(
        task,
        &rows,
        &library,
        &settings.triage_options(),
        &mut |done| progress.tick(done),
    );
    progress.finish();
    let c = report.confusion;
    if explain {
        print!("{}", report.explain_text());
    }
    println!(
        "task: {task:?}  data: {}  rules: {}",
        data.display(),
        dir.display()
    );
    println!("tp={} fp={} fn={} tn={}", c.tp, c.fp, c.fn_, c.tn);
    println!("precision: {:.3}", c.precision());
    println!("recall:    {:.3}", c.recall());
    println!("F1:        {:.3}", c.f1());
    println!("macro-F1:  {:.3}", c.macro_f1());
    println!("{}", c.summary_line());
    Ok(ExitCode::SUCCESS)
}

/// Replays an annotated chat stream through the answer detector (no rule library involved).
fn eval_unanswered(data: &Path, explain: bool, graces: &[Duration]) -> Result<ExitCode> {
    use ascolto::answer::eval::{evaluate_baseline_stream, evaluate_stream, grace_effects};
    let open = || -> Result<std::io::BufReader<std::fs::File>> {
        let file =
            std::fs::File::open(data).with_context(|| format!("opening {}", data.display()))?;
        Ok(std::io::BufReader::new(file))
    };
    let scores = evaluate_stream(open()?).with_context(|| format!("reading {}", data.display()))?;
    println!(
        "task: unanswered  data: {}  (unit: questions; class: nobody else answered)",
        data.display()
    );
    if explain {
        let baseline = evaluate_baseline_stream(open()?)?;
        println!(
            "baseline (author's name in the next 10 messages): {}",
            baseline.positive_summary_line()
        );
    }
    println!(
        "tp={} fp={} fn={} tn={}",
        scores.tp, scores.fp, scores.fn_, scores.tn
    );
    println!("{}", scores.positive_summary_line());
    if !graces.is_empty() {
        let effects = grace_effects(open()?, graces)?;
        println!("question grace (alerts without a grace: one per question):");
        for e in effects {
            let share = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
            println!(
                "  {:>6}: {} of {} alerts saved ({:.1}%), {} of them for questions nobody answered; {} of {} unanswered questions alerted {} later",
                format_wait(e.grace),
                e.saved,
                e.questions,
                share(e.saved, e.questions),
                e.saved_wrongly,
                e.delayed,
                e.truly_unanswered,
                format_wait(e.grace),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
