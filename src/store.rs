//! The store: SQLite through sqlx, holding comments, verdicts, drafts, alerts, the audit
//! trail of moderator actions, per-channel checkpoints, escalations, digest claims, the
//! outbox of platform writes, and webhook channels' bookkeeping (stored deliveries, Meta's
//! direct-message windows).
//!
//! Queries and row mapping only: what to write is the tracker's decision, and the tracker is
//! the only caller of the writing functions (the adapters read). Each function is one
//! statement or one transaction, and state changes are compare-and-set on a
//! [`Transition`], so two moderators clicking at the same moment cannot both win.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Row};

use crate::comment::{Author, AuthorId, ChannelId, Comment, CommentId, Place, Source};
use crate::draft::Draft;
use crate::failures::{Failure, FailureKind, Stage};
use crate::lifecycle::{Action, ActionKind, AlertRef, CommentState, StoredComment, Transition};
use crate::outbox::{Destination, NewOutbox, OutboxId, OutboxKind, OutboxRow, OutboxState};
use crate::rules::{Label, Lang, TemplateId};
use crate::triage::Verdict;

/// The order a channel's platform writes go out in (of `outbox r` joined to its comment `c`):
/// a write taken up by a worker first, then by the comment's time, so alerts follow the
/// conversation. Shared by [`Store::outbox_heads`] and the next claim of a finished write.
macro_rules! queue_order {
    () => {
        "CASE WHEN r.state = 'claimed' THEN 0 ELSE 1 END, COALESCE(c.created_at, r.created_at), r.id"
    };
}

/// Claims the outbox row whose id is the SQL expression `$which` (compare-and-set): pending
/// and due, or claimed with its lease run out. Binds `$2` the lease's end, `$3` now (ms).
macro_rules! claim_sql {
    ($which:expr) => {
        concat!(
            "UPDATE outbox SET
                maybe_sent = CASE WHEN state = 'claimed' THEN 1 ELSE maybe_sent END,
                state = 'claimed', lease_ms = $2, attempts = attempts + 1
             WHERE id = ",
            $which,
            " AND ((state = 'pending' AND COALESCE(due_ms, 0) <= $3)
                    OR (state = 'claimed' AND COALESCE(lease_ms, 0) <= $3))
             RETURNING *"
        )
    };
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // Not a `#[source]`: the message already includes sqlx's, and error chains would repeat it.
    #[error("database error: {}", db_message(.0))]
    Db(sqlx::Error),
    #[error("cannot open the database {db}: {message}")]
    Open { db: String, message: String },
    #[error("cannot prepare the database {db}: {message}")]
    Migrate { db: String, message: String },
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the database {db} has an older schema than this version of Ascolto reads (it has migration {found}, needs {needed}): run `ascolto run` or `ascolto replay FILE --db URL` on it once with write access to upgrade it")]
    OldSchema { db: String, found: i64, needed: i64 },
    #[error("stored data for comment {id} is unreadable: {message}")]
    Corrupt { id: String, message: String },
    #[error("store.url `{url}` names no store Ascolto knows: use `sqlite://FILE` (the embedded store) or `postgres://USER@HOST:PORT/DB`")]
    UnknownUrl { url: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Db(error)
    }
}

/// sqlx's message, with what to do when the cause is one an operator can fix.
fn db_message(error: &sqlx::Error) -> String {
    let hint = match error.as_database_error().and_then(|e| e.code()).as_deref() {
        // SQLite's result codes.
        Some("5") | Some("6") => Some(format!(
            "another process kept the database locked for over {} s; stop it (another ascolto, a sqlite3 shell) and try again",
            BUSY_TIMEOUT.as_secs()
        )),
        Some("8") => Some("the database file or its folder is read-only; fix its permissions".into()),
        Some("13") => Some("the disk is full; free some space".into()),
        Some("14") => Some("check that the file exists (check the path) and that its folder can be read".into()),
        Some("11") | Some("26") => Some("the file is damaged or not a SQLite database; restore a backup".into()),
        // PostgreSQL's SQLSTATEs.
        Some("28P01") | Some("28000") => Some("PostgreSQL refused the user or password: check the URL's user and the PGPASSWORD environment variable".into()),
        Some("3D000") => Some("that database does not exist on the server: create it (createdb) or fix the URL".into()),
        Some("53100") => Some("the server's disk is full; free some space".into()),
        Some("57P01") | Some("57P02") | Some("57P03") => Some("the server is shutting down or starting: it is retried".into()),
        _ => None,
    };
    let hint = hint.or_else(|| match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => Some(
            "the database server did not answer: check that it runs and that the URL's host and port are right".into(),
        ),
        _ => None,
    });
    match hint {
        Some(hint) => format!("{error} ({hint})"),
        None => error.to_string(),
    }
}

/// How long a statement waits for another process's lock before failing. Long enough for a
/// backup or a `sqlite3` session to finish a write, short enough to notice a stuck process.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Connections to a PostgreSQL server per process: a few writers at once (the server has no
/// single-writer limit), and few enough that several processes stay under the server's
/// default `max_connections` of 100.
const POSTGRES_CONNECTIONS: u32 = 8;

/// Which engine a store URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one file, one writer.
    Sqlite,
    /// The scale-out store: several processes on one server.
    Postgres,
}

impl Backend {
    /// The engine of a `store.url`, or why it names none.
    pub fn of(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnknownUrl { url: db_name(url) })
        }
    }

    /// Rows per multi-row statement of a batch. Each statement is one round trip: to
    /// SQLite's worker thread, or over the network to PostgreSQL, where a round trip costs
    /// far more than a row, so statements there are as long as they usefully get (250 rows,
    /// 4,000 parameters at most; PostgreSQL takes 65,535). SQLite looks each numbered
    /// parameter (`$N`) up by name in a list, so a statement's binding grows with the square
    /// of its parameters (at 50 rows, 800 parameters, that lookup was a tenth of the time):
    /// 16 rows (256 parameters at most) keep both small there.
    fn rows_per_statement(self) -> usize {
        match self {
            Backend::Sqlite => 16,
            Backend::Postgres => 250,
        }
    }
}

/// The database as messages name it: the URL without its query string and without a
/// password (PostgreSQL URLs may carry one; it must never reach a log).
pub fn db_name(url: &str) -> String {
    let bare = url.split('?').next().unwrap_or(url);
    match bare.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((who, host)) => {
                let user = who.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => bare.to_owned(),
        },
        None => bare.to_owned(),
    }
}

/// The file behind a `sqlite:` URL, unless the database lives in memory.
fn db_file(url: &str) -> Option<&str> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    path.split('?').next()
}

/// Why opening failed, worded for an operator.
fn open_error(db: &str, error: sqlx::Error) -> StoreError {
    StoreError::Open {
        db: db.to_owned(),
        message: db_message(&error),
    }
}

/// `url` with SQLite's open mode added unless it names one: `rwc` creates a missing file,
/// `ro` opens only to read.
fn with_sqlite_mode(url: &str, mode: &str) -> String {
    if url.contains(":memory:") || url.contains("mode=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode={mode}")
}

/// A pool on `url` with the settings every store shares. SQLite's pragmas are set on each
/// new connection: the Any driver takes only a URL, which cannot carry them.
async fn pool(
    url: &str,
    backend: Backend,
    connections: u32,
    writes: bool,
    db: &str,
) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let options = AnyConnectOptions::from_str(url)
        .map_err(|e| open_error(db, e))?
        // A replay or a digest reads big batches on purpose: sqlx's warning about slow
        // statements would be noise in their output; keep it for debugging.
        .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1))
        .log_statements(log::LevelFilter::Trace);
    let mut pool = AnyPoolOptions::new()
        .max_connections(connections)
        // A single connection is kept open (the writer, or an in-memory database's only one).
        .min_connections(if connections == 1 { 1 } else { 0 })
        .idle_timeout(None)
        .max_lifetime(None);
    if backend == Backend::Sqlite {
        // One connection first, by hand: a file that is no database fails here, with one
        // error, rather than in the pool's hook, which would log it again on its own.
        let mut first = AnyConnection::connect_with(&options)
            .await
            .map_err(|e| open_error(db, e))?;
        sqlite_pragmas(&mut first, writes)
            .await
            .map_err(|e| open_error(db, e))?;
        first.close().await.map_err(|e| open_error(db, e))?;
        pool = pool.after_connect(move |conn, _meta| Box::pin(sqlite_pragmas(conn, writes)));
    }
    pool.connect_with(options)
        .await
        .map_err(|e| open_error(db, e))
}

/// The settings SQLite keeps per connection.
async fn sqlite_pragmas(conn: &mut AnyConnection, writes: bool) -> Result<(), sqlx::Error> {
    let busy = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
    sqlx::query(&busy).execute(&mut *conn).await?;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await?;
    if writes {
        // WAL with synchronous=NORMAL: a commit no longer waits for an fsync (the WAL is
        // synced at checkpoints). A crash of the process loses nothing; a power cut may lose
        // the last commits, never the database's consistency — and what it loses is caught
        // up (backfill reads from the checkpoint, a write's nonce and history check guard
        // against doubles).
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&mut *conn)
            .await?;
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The schema's migrations for `backend`.
fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    }
}

/// Applies `backend`'s migrations, naming the database if they fail.
async fn migrate(pool: &AnyPool, backend: Backend, db: &str) -> Result<(), StoreError> {
    migrator(backend)
        .run(pool)
        .await
        .map_err(|e| StoreError::Migrate {
            db: db.to_owned(),
            message: e.to_string(),
        })
}

/// The head of the moderators' queue ([`Store::open_queue`]).
#[derive(Debug, Clone)]
pub struct OpenQueue {
    /// Comments waiting for an answer, in all.
    pub waiting: u64,
    /// The oldest of them, oldest first.
    pub oldest: Vec<StoredComment>,
}

/// A time as both stores keep it: RFC 3339 text in UTC, as sqlx's SQLite driver always wrote
/// it, so rows written before PostgreSQL was supported read the same, and times compare
/// correctly as text.
pub fn db_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// A day as both stores keep it: `YYYY-MM-DD`.
fn db_day(day: NaiveDate) -> String {
    day.format("%F").to_string()
}

/// A stored time back, from [`db_time`]'s text (or SQLite's `YYYY-MM-DD HH:MM:SS` form).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// Reading stored times and flags from a row of either store.
trait RowExt {
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    fn time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// A 0/1 flag (both stores keep flags as integers).
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    fn day(&self, column: &str) -> Result<NaiveDate, StoreError>;
}

impl RowExt for AnyRow {
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        let text: String = self.try_get(column)?;
        parse_time(&text).ok_or_else(|| bad_time(column, &text))
    }

    fn time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = self.try_get(column)?;
        text.map(|t| parse_time(&t).ok_or_else(|| bad_time(column, &t)))
            .transpose()
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        Ok(self.try_get::<i64, _>(column)? != 0)
    }

    fn day(&self, column: &str) -> Result<NaiveDate, StoreError> {
        let text: String = self.try_get(column)?;
        NaiveDate::parse_from_str(&text, "%F").map_err(|_| bad_time(column, &text))
    }
}

fn bad_time(column: &str, text: &str) -> StoreError {
    StoreError::Corrupt {
        id: format!("(column {column})"),
        message: format!("`{text}` is not a time"),
    }
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads. SQLite: several connections (WAL readers never wait for the writer).
    pool: AnyPool,
    /// Writes. SQLite: one connection. SQLite has one writer at a time; with several
    /// connections writing, the losers wait in SQLite's busy handler, which sleeps in steps of
    /// up to 100 ms — under a burst that sleeping was most of an alert's latency. One writer
    /// connection queues writes in the pool instead, first come first served, with no
    /// sleeping. PostgreSQL: the same pool as reads (its writers do not block each other).
    writer: AnyPool,
    backend: Backend,
    /// The database as messages name it.
    name: std::sync::Arc<str>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    /// `sqlite:` URLs open the embedded store, `postgres://` ones a PostgreSQL server (its
    /// password, if any, from the `PGPASSWORD` environment variable or the URL).
    ///
    /// An empty (0-byte) SQLite file is accepted as a new database, with a warning: that is
    /// what SQLite makes of it, and what `touch` or a provisioning tool leaves for a new
    /// database; a truncated real database cannot be told apart, nor recovered from the empty
    /// file.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let db = db_name(url);
        let backend = Backend::of(url)?;
        let file = match backend {
            Backend::Sqlite => db_file(url),
            Backend::Postgres => None,
        };
        if let Some(path) = file {
            if let Some(parent) = Path::new(path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                        path: parent.display().to_string(),
                        source,
                    })?;
                }
            }
            if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
                tracing::warn!("database {db} is an empty file: treating it as a new database");
            }
        }
        let (writer, pool) = match backend {
            Backend::Sqlite => {
                let url = with_sqlite_mode(url, "rwc");
                let writer = pool(&url, backend, 1, true, &db).await?;
                migrate(&writer, backend, &db).await?;
                // An in-memory database exists once per connection: its one connection does both.
                let readers = match file {
                    None => writer.clone(),
                    Some(_) => pool(&url, backend, 4, true, &db).await?,
                };
                (writer, readers)
            }
            Backend::Postgres => {
                let pool = pool(url, backend, POSTGRES_CONNECTIONS, true, &db).await?;
                migrate(&pool, backend, &db).await?;
                (pool.clone(), pool)
            }
        };
        Ok(Store {
            pool,
            writer,
            backend,
            name: db.into(),
        })
    }

    /// Opens an existing database only to read it (`ascolto digest`): nothing is created or
    /// migrated, so a read-only file or a copy works. A schema older than this version's is
    /// refused with what to do, rather than read wrongly.
    pub async fn open_read_only(url: &str) -> Result<Store, StoreError> {
        let db = db_name(url);
        let backend = Backend::of(url)?;
        let pool = match backend {
            Backend::Sqlite => pool(&with_sqlite_mode(url, "ro"), backend, 4, false, &db).await?,
            Backend::Postgres => pool(url, backend, 2, false, &db).await?,
        };
        let needed = migrator(backend)
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        let found: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
        if found < needed {
            return Err(StoreError::OldSchema { db, found, needed });
        }
        Ok(Store {
            writer: pool.clone(),
            pool,
            backend,
            name: db.into(),
        })
    }

    /// The database as messages name it (its URL without options or password).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The writer connection, for a channel adapter's own bookkeeping tables (Telegram's
    /// update offset): state that is the platform's, not a comment's, so not the tracker's to
    /// write. On SQLite it is the one writer, so these writes queue with the others instead
    /// of waiting in SQLite's busy handler. Queries written for it must read on both engines
    /// (numbered `$1` placeholders, times as [`db_time`] text).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// A private in-memory database (tests, `rules test`).
    pub async fn in_memory() -> Result<Store, StoreError> {
        Store::connect("sqlite::memory:").await
    }

    /// Stores a newly triaged comment with its verdict and draft, and the outbox rows its
    /// alert needs (`then`), in one transaction. Returns false, changing nothing, when the
    /// comment id is already stored.
    pub async fn insert_triaged(
        &self,
        comment: &Comment,
        verdict: &Verdict,
        state: CommentState,
        draft: Option<&Draft>,
        now: DateTime<Utc>,
        then: &[NewOutbox],
    ) -> Result<bool, StoreError> {
        let one = NewTriaged {
            comment,
            verdict,
            state,
            draft,
            then,
        };
        let inserted = self.insert_triaged_many(&[one], now).await?;
        Ok(inserted.first().copied().unwrap_or(false))
    }

    /// Stores many newly triaged comments as [`Store::insert_triaged`] stores one, each with
    /// its own outbox rows, in one transaction: one commit for the lot instead of one per
    /// comment, which is what limited a backfill or a replay to a few hundred comments a
    /// second. For each comment, in order, whether it was inserted (false: its id was stored
    /// already, earlier or earlier in the same batch, and nothing of it was written).
    pub async fn insert_triaged_many(
        &self,
        batch: &[NewTriaged<'_>],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        Ok(self.insert_answering(batch, now, &[]).await?.inserted)
    }

    /// Stores a batch as [`Store::insert_triaged_many`] does and, in the same transaction,
    /// makes the closes its comments' answers call for ([`Store::close_many`]), each only if
    /// its answerer was inserted now. One transaction, so that a crash cannot leave an
    /// answer stored and what it answers open: the answer would then be a duplicate on the
    /// next try, and nothing would close it again.
    pub async fn insert_answering(
        &self,
        batch: &[NewTriaged<'_>],
        now: DateTime<Utc>,
        answers: &[AnswerClose<'_>],
    ) -> Result<InsertedAnswering, StoreError> {
        if batch.is_empty() {
            return Ok(InsertedAnswering::default());
        }
        // A later copy of an id in the same batch is a duplicate, as it would be one at a time.
        let first = first_of_each(batch, |item| item.comment.id.as_str());
        let rows = self.backend.rows_per_statement();
        let mut tx = self.writer.begin().await?;
        let mut stored = std::collections::HashSet::new();
        for chunk in first.chunks(rows) {
            for id in insert_comments(&mut tx, chunk, now).await? {
                stored.insert(id);
            }
        }
        let fresh: Vec<&NewTriaged<'_>> = first
            .into_iter()
            .filter(|item| stored.contains(item.comment.id.as_str()))
            .collect();
        for chunk in fresh.chunks(rows) {
            insert_verdicts(&mut tx, chunk, now).await?;
            insert_drafts(&mut tx, chunk, now).await?;
            let queued: Vec<&NewOutbox> = chunk.iter().flat_map(|item| item.then).collect();
            insert_outbox_rows(&mut tx, &queued, now, rows).await?;
        }
        // Each id counts once: its first place in the batch.
        let mut inserted = Vec::with_capacity(batch.len());
        for item in batch {
            inserted.push(stored.remove(item.comment.id.as_str()));
        }
        // A close is made only if its answer was stored now.
        let fresh: Vec<bool> = answers
            .iter()
            .map(|answer| inserted.get(answer.by).copied().unwrap_or(false))
            .collect();
        let closes: Vec<Closing<'_>> = answers
            .iter()
            .zip(&fresh)
            .filter(|(_, fresh)| **fresh)
            .map(|(answer, _)| answer.close)
            .collect();
        let mut made = close_on(&mut tx, rows, &closes).await?.into_iter();
        tx.commit().await?;
        let closed = fresh
            .into_iter()
            .map(|fresh| fresh && made.next().unwrap_or(false))
            .collect();
        Ok(InsertedAnswering { inserted, closed })
    }

    /// Replaces an edited comment's text, verdict and draft, and sets its state.
    pub async fn update_triaged(
        &self,
        comment: &Comment,
        verdict: &Verdict,
        state: CommentState,
        draft: Option<&Draft>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE comments SET text = $1, state = $2, state_changed_at = $3 WHERE id = $4",
        )
        .bind(&comment.text)
        .bind(state.as_str())
        .bind(db_time(now))
        .bind(comment.id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM drafts WHERE comment_id = $1")
            .bind(comment.id.as_str())
            .execute(&mut *tx)
            .await?;
        write_verdict(&mut tx, &comment.id, verdict, draft, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes the move if the comment is in one of its `from` states; true if this call moved it.
    pub async fn transition(
        &self,
        id: &CommentId,
        change: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer.acquire().await?;
        transition_on(&mut conn, id, change, now).await
    }

    /// As [`Store::transition`], writing the outbox rows `then` in the same transaction when
    /// (and only when) the move is made.
    pub async fn transition_then(
        &self,
        id: &CommentId,
        change: Transition,
        now: DateTime<Utc>,
        then: &[NewOutbox],
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        if !transition_on(&mut tx, id, change, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        for row in then {
            insert_outbox(&mut tx, row, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Makes a closing move and writes the action that closed it, in one transaction: whoever
    /// reads the comment sees the new state together with who closed it and how, never one
    /// without the other. False if the comment was not in a `from` state (someone else got
    /// there first); nothing is written then.
    /// The outbox rows `then` (the alert's update) are written with it.
    pub async fn close_with_action(
        &self,
        change: Transition,
        answered_by: Option<&str>,
        action: &Action,
        then: &[NewOutbox],
    ) -> Result<bool, StoreError> {
        let close = Closing {
            change,
            answered_by,
            action,
            then,
        };
        let closed = self.close_many(&[close]).await?;
        Ok(closed.first().copied().unwrap_or(false))
    }

    /// Makes each closing move of `closes` as [`Store::close_with_action`] makes one, in
    /// order, all in one transaction (the answers found in a batch of comments: one commit,
    /// not one each). For each, whether it was made; one refused (its comment closed already,
    /// by an earlier one of the list or anyone else) writes nothing of its own.
    pub async fn close_many(&self, closes: &[Closing<'_>]) -> Result<Vec<bool>, StoreError> {
        if closes.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.writer.begin().await?;
        let made = close_on(&mut tx, self.backend.rows_per_statement(), closes).await?;
        tx.commit().await?;
        Ok(made)
    }

    pub async fn set_draft(
        &self,
        id: &CommentId,
        draft: &Draft,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO drafts (comment_id, template_id, language, wording, text, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (comment_id) DO UPDATE SET template_id = excluded.template_id,
                language = excluded.language, wording = excluded.wording, text = excluded.text,
                updated_at = excluded.updated_at",
        )
        .bind(id.as_str())
        .bind(draft.template.as_str())
        .bind(draft.lang.code())
        .bind(draft.wording as i64)
        .bind(&draft.text)
        .bind(db_time(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records where a comment's alert is in one room (`room`: a [`Destination`]'s name, or
    /// [`TERMINAL_ROOM`] for the replay's printed alerts).
    pub async fn set_alert(
        &self,
        id: &CommentId,
        room: &str,
        alert: &AlertRef,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        upsert_alert(&mut conn, id, room, alert).await
    }

    /// The comment's alert in one room (a platform and its channel), if it is up there.
    pub async fn alert_in(
        &self,
        id: &CommentId,
        destination: Destination,
        channel: &str,
    ) -> Result<Option<AlertRef>, StoreError> {
        let row = sqlx::query(
            "SELECT channel_id, message_id, posted_at FROM alerts
             WHERE comment_id = $1 AND destination = $2 AND channel_id = $3",
        )
        .bind(id.as_str())
        .bind(destination.as_str())
        .bind(channel)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(AlertRef {
                channel: row.try_get("channel_id")?,
                message: row.try_get("message_id")?,
                posted_at: row.time("posted_at")?,
            })
        })
        .transpose()
    }

    /// The comment whose alert is message `message` of a room's `channel`.
    pub async fn comment_alerted_at(
        &self,
        destination: Destination,
        channel: &str,
        message: &str,
    ) -> Result<Option<CommentId>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT comment_id FROM alerts
             WHERE destination = $1 AND channel_id = $2 AND message_id = $3",
        )
        .bind(destination.as_str())
        .bind(channel)
        .bind(message)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id.map(CommentId))
    }

    /// Records a comment's alert in one room and makes `change` (flagged → alerted) in one
    /// transaction: a process killed in between would otherwise leave an alert recorded on a
    /// comment still flagged, which nothing shows again.
    pub async fn set_alert_and_transition(
        &self,
        id: &CommentId,
        room: &str,
        alert: &AlertRef,
        change: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        upsert_alert(&mut tx, id, room, alert).await?;
        let moved = transition_on(&mut tx, id, change, now).await?;
        tx.commit().await?;
        Ok(moved)
    }

    pub async fn record_action(&self, action: &Action) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        insert_action(&mut conn, action).await
    }

    pub async fn actions_for(&self, id: &CommentId) -> Result<Vec<Action>, StoreError> {
        let rows = sqlx::query("SELECT * FROM actions WHERE comment_id = $1 ORDER BY id")
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(action_from_row).collect()
    }

    /// Every action taken at or after `since`, oldest first.
    pub async fn actions_since(&self, since: DateTime<Utc>) -> Result<Vec<Action>, StoreError> {
        let rows = sqlx::query("SELECT * FROM actions WHERE at >= $1 ORDER BY at, id")
            .bind(db_time(since))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(action_from_row).collect()
    }

    pub async fn comment(&self, id: &CommentId) -> Result<Option<StoredComment>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_STORED} WHERE c.id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stored_from_row).transpose()
    }

    /// The stored comments among `ids`, by id (those not stored are left out): the open
    /// comments a batch of comments answers, read in one query rather than one each.
    pub async fn comments(
        &self,
        ids: &[&CommentId],
    ) -> Result<std::collections::HashMap<CommentId, StoredComment>, StoreError> {
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(self.backend.rows_per_statement()) {
            let marks = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("{SELECT_STORED} WHERE c.id IN ({marks})");
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                let stored = stored_from_row(&row)?;
                found.insert(stored.comment.id.clone(), stored);
            }
        }
        Ok(found)
    }

    /// Comments still waiting for an answer, oldest first.
    pub async fn open_comments(&self) -> Result<Vec<StoredComment>, StoreError> {
        let open = states_sql(CommentState::OPEN);
        let rows = sqlx::query(&format!(
            "{SELECT_STORED} WHERE c.state IN ({open}) ORDER BY c.created_at, c.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// How many comments wait for an answer, and the oldest `limit` of them: the moderators'
    /// queue shows one message's worth, and a long queue must not be read whole for it.
    pub async fn open_queue(&self, limit: usize) -> Result<OpenQueue, StoreError> {
        let open = states_sql(CommentState::OPEN);
        let waiting: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM comments WHERE state IN ({open})"
        ))
        .fetch_one(&self.pool)
        .await?;
        // The oldest of each open state through `comments_by_state`, which stops after
        // `limit` rows, then the oldest of those: one `state IN (...)` ordered by time cannot
        // use the index's order, and read, joined and sorted every open comment (`cargo bench
        // --bench tick`, 100,485 open: 181 ms that way, 4 ms this way, 2.5 s the whole queue).
        let heads: Vec<String> = CommentState::OPEN
            .iter()
            .map(|state| {
                format!(
                    "SELECT * FROM (SELECT id, created_at FROM comments WHERE state = '{}'
                       ORDER BY created_at, id LIMIT $1) AS {}",
                    state.as_str(),
                    state.as_str()
                )
            })
            .collect();
        let rows = sqlx::query(&format!(
            "{SELECT_STORED} WHERE c.id IN (
                SELECT id FROM ({}) AS heads ORDER BY created_at, id LIMIT $1)
             ORDER BY c.created_at, c.id",
            heads.join(" UNION ALL ")
        ))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(OpenQueue {
            waiting: u64::try_from(waiting).unwrap_or(0),
            oldest: rows.iter().map(stored_from_row).collect::<Result<_, _>>()?,
        })
    }

    /// The latest comment `author` wrote in `channel` that still waits for an answer (the
    /// later of two written in the same instant): what a page's message in a private
    /// conversation answers. Read through the channel's index, not the whole queue.
    pub async fn latest_open_by(
        &self,
        channel: &ChannelId,
        author: &AuthorId,
    ) -> Result<Option<CommentId>, StoreError> {
        let open = states_sql(CommentState::OPEN);
        let id: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM comments
             WHERE channel_id = $1 AND author_id = $2 AND state IN ({open})
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(channel.as_str())
        .bind(author.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(id.map(CommentId::new))
    }

    /// Flagged comments that no room shows and whose alert was never queued: the questions
    /// waiting out their grace, mostly. Read on their own, so the scheduler's check for them
    /// does not load every open comment.
    pub async fn flagged_never_alerted(&self) -> Result<Vec<StoredComment>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_STORED} WHERE c.state = $1 AND a.comment_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.comment_id = c.id AND o.kind = $2)
             ORDER BY c.created_at, c.id"
        ))
        .bind(CommentState::Flagged.as_str())
        .bind(OutboxKind::Alert.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    pub async fn checkpoint(&self, channel: &ChannelId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT last_message_id FROM checkpoints WHERE channel_id = $1")
                .bind(channel.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Direct-message conversations with the bot seen so far: Discord cannot list a bot's DMs,
    /// so this is how catching up after downtime finds them.
    pub async fn dm_channels(&self) -> Result<Vec<ChannelId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT channel_id FROM comments WHERE is_dm = 1 AND source = 'discord'
             ORDER BY channel_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(ChannelId).collect())
    }

    /// Moves a channel's checkpoint forward (never back: Discord ids grow with time).
    pub async fn advance_checkpoint(
        &self,
        channel: &ChannelId,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (channel_id, last_message_id, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (channel_id) DO UPDATE SET
                last_message_id = CASE
                    WHEN length(excluded.last_message_id) > length(checkpoints.last_message_id)
                      OR (length(excluded.last_message_id) = length(checkpoints.last_message_id)
                          AND excluded.last_message_id > checkpoints.last_message_id)
                    THEN excluded.last_message_id ELSE checkpoints.last_message_id END,
                updated_at = excluded.updated_at",
        )
        .bind(channel.as_str())
        .bind(message)
        .bind(db_time(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

/// An escalation as recorded: a comment whose response-time target was missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRecord {
    pub comment: CommentId,
    /// The label whose target was missed.
    pub label: Label,
    pub deadline: DateTime<Utc>,
    pub escalated_at: DateTime<Utc>,
    pub role_id: Option<String>,
    /// Whether the role was pinged (false when none is configured or the budget was spent).
    pub pinged: bool,
}

/// A daily digest that was posted (or claimed for posting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedDigest {
    /// Local date of the scheduled digest.
    pub day: NaiveDate,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub posted_at: DateTime<Utc>,
}

/// A missed target to record (see [`Store::record_escalations`]).
#[derive(Debug, Clone, Copy)]
pub struct NewEscalation<'a> {
    pub comment: &'a CommentId,
    /// The label whose target was missed, and when it was due.
    pub label: Label,
    pub deadline: DateTime<Utc>,
    /// The role to ping, if the hourly budget allows; `None` never pings.
    pub role_id: Option<&'a str>,
}

/// A triaged comment to store, with the outbox rows its alert needs (see
/// [`Store::insert_triaged_many`]).
#[derive(Debug, Clone, Copy)]
pub struct NewTriaged<'a> {
    pub comment: &'a Comment,
    pub verdict: &'a Verdict,
    pub state: CommentState,
    pub draft: Option<&'a Draft>,
    pub then: &'a [NewOutbox],
}

/// A close one of a batch's comments calls for by answering (see [`Store::insert_answering`]).
#[derive(Debug, Clone, Copy)]
pub struct AnswerClose<'a> {
    /// The answer's place in the batch: the close is made only if it was inserted now.
    pub by: usize,
    pub close: Closing<'a>,
}

/// What [`Store::insert_answering`] did: for each comment of the batch, whether it was
/// inserted, and for each close, whether it was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsertedAnswering {
    pub inserted: Vec<bool>,
    pub closed: Vec<bool>,
}

/// A closing move with the action that makes it (see [`Store::close_with_action`]).
#[derive(Debug, Clone, Copy)]
pub struct Closing<'a> {
    pub change: Transition,
    /// Who answered, when the move records an answer.
    pub answered_by: Option<&'a str>,
    pub action: &'a Action,
    /// Rows to queue with it (the alert's update).
    pub then: &'a [NewOutbox],
}

/// The comment [`Store::comment`] reads back right after `comment` was inserted with this
/// verdict, state and draft at `now`, built without reading it: what the store does not keep
/// (whether the author is a bot, when they joined, mentions, the thread root) is left out
/// as the store leaves it out.
pub fn as_inserted(
    comment: &Comment,
    verdict: &Verdict,
    state: CommentState,
    draft: Option<&Draft>,
    now: DateTime<Utc>,
) -> StoredComment {
    let mut comment = comment.clone();
    comment.author.is_bot = false;
    comment.author.joined_at = None;
    comment.mentions = Vec::new();
    comment.thread_root = None;
    StoredComment {
        comment,
        state,
        state_changed_at: now,
        verdict: Some(verdict.clone()),
        draft: draft.cloned(),
        alert: None,
        answered_by: None,
        closed_at: None,
    }
}

/// Response-time escalations and digests: written by `escalation` and the digest scheduler,
/// each one statement so that concurrent processes cannot both win.
impl Store {
    /// Open comments not escalated yet that may have missed a target by now: for each
    /// `(label, cutoff)`, those carrying the label written at or before the cutoff (the
    /// caller's `now` minus the label's target: a deadline is never earlier than the
    /// comment's time plus its target, business hours only move it later). Oldest first.
    ///
    /// Read through the index of open comments not escalated yet, so the cost follows the
    /// comments that can be due, not every open comment (escalated ones stay open for days).
    pub async fn escalation_candidates(
        &self,
        cutoffs: &[(Label, DateTime<Utc>)],
    ) -> Result<Vec<StoredComment>, StoreError> {
        let Some(latest) = cutoffs.iter().map(|(_, at)| *at).max() else {
            return Ok(Vec::new());
        };
        let open = states_sql(CommentState::OPEN);
        // `$1` is the latest cutoff (it bounds the index range), `$2`… one per label.
        let labels: Vec<String> = cutoffs
            .iter()
            .enumerate()
            .map(|(i, (label, _))| {
                format!("(c.created_at <= ${} AND {})", i + 2, has_label_sql(*label))
            })
            .collect();
        let sql = format!(
            "{SELECT_STORED} WHERE c.escalated = 0 AND c.state IN ({open}) AND c.created_at <= $1
                AND ({})
             ORDER BY c.created_at, c.id",
            labels.join(" OR ")
        );
        let mut query = sqlx::query(&sql).bind(db_time(latest));
        for (_, at) in cutoffs {
            query = query.bind(db_time(*at));
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// Open comments with an alert up, written in one of `bands` (`(label, from, to)`, both
    /// ends included) and carrying its label, oldest first: those whose response target
    /// reading can have changed since the previous check ([`Sla::reading_bands`]), read by
    /// time through `comments_by_state` (state, created_at) rather than every open comment.
    ///
    /// [`Sla::reading_bands`]: crate::sla::Sla::reading_bands
    pub async fn alerted_in_bands(
        &self,
        bands: &[(Label, DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<StoredComment>, StoreError> {
        let (Some(from), Some(to)) = (
            bands.iter().map(|(_, from, _)| *from).min(),
            bands.iter().map(|(_, _, to)| *to).max(),
        ) else {
            return Ok(Vec::new());
        };
        let open = states_sql(CommentState::OPEN);
        // `$1`, `$2` bound the index range; then two per band.
        let each: Vec<String> = bands
            .iter()
            .enumerate()
            .map(|(i, (label, _, _))| {
                format!(
                    "(c.created_at >= ${} AND c.created_at <= ${} AND {})",
                    2 * i + 3,
                    2 * i + 4,
                    has_label_sql(*label)
                )
            })
            .collect();
        let sql = format!(
            "{SELECT_STORED} WHERE c.state IN ({open}) AND c.created_at >= $1 AND c.created_at <= $2
                AND a.comment_id IS NOT NULL AND ({})
             ORDER BY c.created_at, c.id",
            each.join(" OR ")
        );
        let mut query = sqlx::query(&sql).bind(db_time(from)).bind(db_time(to));
        for (_, from, to) in bands {
            query = query.bind(db_time(*from)).bind(db_time(*to));
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// Comments that needed an answer whose state changed at or after `since`, open or
    /// closed, oldest first: alerted, sent, given back or closed since then. Read through the
    /// partial index of migration 0011, so the cost follows those changes, not the comments
    /// kept nor the clear ones stored every minute (a clear comment never had a reading).
    pub async fn state_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredComment>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_STORED} WHERE c.state_changed_at >= $1
                AND c.state NOT IN ('new', 'clear')
             ORDER BY c.created_at, c.id"
        ))
        .bind(db_time(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// For each of `labels`, the time of the oldest open comment carrying it that was not
    /// escalated yet (labels no such comment carries are left out): with the targets, when
    /// the next escalation can fall due, without reading the comments themselves. One pass
    /// over the open comments not escalated yet, grouped by their labels.
    pub async fn oldest_unescalated(
        &self,
        labels: &[Label],
    ) -> Result<Vec<(Label, DateTime<Utc>)>, StoreError> {
        let open = states_sql(CommentState::OPEN);
        let rows = sqlx::query(&format!(
            "SELECT v.labels AS labels, MIN(c.created_at) AS oldest
               FROM comments c JOIN verdicts v ON v.comment_id = c.id
              WHERE c.escalated = 0 AND c.state IN ({open})
              GROUP BY v.labels"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut oldest: Vec<(Label, DateTime<Utc>)> = Vec::new();
        for row in &rows {
            let names: String = row.try_get("labels")?;
            let at = row.time("oldest")?;
            for label in names.split(',').filter_map(Label::parse) {
                if !labels.contains(&label) {
                    continue;
                }
                match oldest.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, known)) => *known = (*known).min(at),
                    None => oldest.push((label, at)),
                }
            }
        }
        Ok(oldest)
    }

    /// Records the escalation of a comment, deciding in the same statement whether it may
    /// ping `role_id`: only if fewer than `max_pings_per_hour` pings were recorded in the
    /// hour before `at`. Returns `None`, changing nothing, if the comment was already
    /// escalated; otherwise whether this escalation pings. The comment is marked escalated in
    /// the same transaction, which takes it out of [`Store::escalation_candidates`].
    pub async fn record_escalation(
        &self,
        id: &CommentId,
        label: Label,
        deadline: DateTime<Utc>,
        at: DateTime<Utc>,
        role_id: Option<&str>,
        max_pings_per_hour: u32,
    ) -> Result<Option<bool>, StoreError> {
        let escalation = NewEscalation {
            comment: id,
            label,
            deadline,
            role_id,
        };
        let mut recorded = self
            .record_escalations(&[escalation], at, max_pings_per_hour)
            .await?;
        Ok(recorded.pop().flatten())
    }

    /// Records several escalations as [`Store::record_escalation`] records each, in order, in
    /// one transaction (a scheduler check's missed targets: one commit, not one each). For
    /// each, `None` if its comment was already escalated, else whether it pings.
    pub async fn record_escalations(
        &self,
        escalations: &[NewEscalation<'_>],
        at: DateTime<Utc>,
        max_pings_per_hour: u32,
    ) -> Result<Vec<Option<bool>>, StoreError> {
        let mut recorded = Vec::with_capacity(escalations.len());
        if escalations.is_empty() {
            return Ok(recorded);
        }
        let mut tx = self.writer.begin().await?;
        for escalation in escalations {
            let pinged: Option<i64> = sqlx::query_scalar(
                "INSERT INTO escalations (comment_id, label, deadline, escalated_at, role_id, pinged)
                 VALUES ($1, $2, $3, $4, $5,
                    CASE WHEN $5 IS NOT NULL AND (SELECT COUNT(*) FROM escalations
                                        WHERE pinged = 1 AND escalated_at > $6 AND escalated_at <= $4) < $7
                         THEN 1 ELSE 0 END)
                 ON CONFLICT (comment_id) DO NOTHING
                 RETURNING pinged",
            )
            .bind(escalation.comment.as_str())
            .bind(escalation.label.as_str())
            .bind(db_time(escalation.deadline))
            .bind(db_time(at))
            .bind(escalation.role_id)
            .bind(db_time(at - chrono::Duration::hours(1)))
            .bind(i64::from(max_pings_per_hour))
            .fetch_optional(&mut *tx)
            .await?;
            if pinged.is_some() {
                // Out of the index of comments that may still be escalated (migration 0009).
                sqlx::query("UPDATE comments SET escalated = 1 WHERE id = $1")
                    .bind(escalation.comment.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            recorded.push(pinged.map(|p| p != 0));
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// Escalations recorded at or after `since`, oldest first.
    pub async fn escalations_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<EscalationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM escalations WHERE escalated_at >= $1 ORDER BY escalated_at, comment_id",
        )
        .bind(db_time(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let comment: String = row.try_get("comment_id")?;
                let label: String = row.try_get("label")?;
                Ok(EscalationRecord {
                    label: Label::parse(&label)
                        .ok_or_else(|| corrupt(&comment, format!("unknown label `{label}`")))?,
                    comment: CommentId(comment),
                    deadline: row.time("deadline")?,
                    escalated_at: row.time("escalated_at")?,
                    role_id: row.try_get("role_id")?,
                    pinged: row.flag("pinged")?,
                })
            })
            .collect()
    }

    /// What a digest covering `since` up to now reads: comments written since then, comments
    /// closed since then, and every comment still open however old — of those, only the ones
    /// that ever needed an answer. A clear comment counts nowhere in a digest, and in a busy
    /// community most comments are clear: reading them made the digest's memory grow with
    /// the whole day's chatter.
    pub async fn comments_for_digest(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredComment>, StoreError> {
        let open = states_sql(CommentState::OPEN);
        let never_needed = states_sql(&[CommentState::New, CommentState::Clear]);
        let rows = sqlx::query(&format!(
            "{SELECT_STORED} WHERE (c.created_at >= $1 OR c.closed_at >= $2
                OR c.state IN ({open})) AND c.state NOT IN ({never_needed})
             ORDER BY c.created_at, c.id"
        ))
        .bind(db_time(since))
        .bind(db_time(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// The most recent digest posted, if any.
    pub async fn last_digest(&self) -> Result<Option<PostedDigest>, StoreError> {
        let row = sqlx::query("SELECT * FROM digests ORDER BY day DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(PostedDigest {
                day: row.day("day")?,
                window_start: row.time("window_start")?,
                window_end: row.time("window_end")?,
                posted_at: row.time("posted_at")?,
            })
        })
        .transpose()
    }

    /// Marks the digest of `digest.day` as posted. Returns false, changing nothing, if that
    /// day's digest was already marked: call it just before posting and post only on true,
    /// so a digest goes out at most once even with several processes or a restart.
    pub async fn mark_digest_posted(&self, digest: &PostedDigest) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO digests (day, window_start, window_end, posted_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (day) DO NOTHING",
        )
        .bind(db_day(digest.day))
        .bind(db_time(digest.window_start))
        .bind(db_time(digest.window_end))
        .bind(db_time(digest.posted_at))
        .execute(&self.writer)
        .await?
        .rows_affected()
            == 1;
        Ok(inserted)
    }

    /// As [`Store::mark_digest_posted`], writing the outbox row that posts it in the same
    /// transaction: the day is claimed exactly when its posting is queued.
    pub async fn claim_digest_with(
        &self,
        digest: &PostedDigest,
        rows: &[NewOutbox],
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO digests (day, window_start, window_end, posted_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (day) DO NOTHING",
        )
        .bind(db_day(digest.day))
        .bind(db_time(digest.window_start))
        .bind(db_time(digest.window_end))
        .bind(db_time(digest.posted_at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            tx.rollback().await?;
            return Ok(false);
        }
        for row in rows {
            insert_outbox(&mut tx, row, digest.posted_at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Takes back [`Store::mark_digest_posted`] for `day`, when posting that digest failed, so
    /// it is tried again rather than lost.
    pub async fn unmark_digest(&self, day: NaiveDate) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM digests WHERE day = $1")
            .bind(db_day(day))
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

/// What marking an outbox row done changes besides the row, all in one transaction: the
/// tracker decides it, so the platform's answer and what it means are recorded together.
#[derive(Debug, Default)]
pub struct OutboxDone<'a> {
    /// The platform's id of what was posted.
    pub message_id: Option<&'a str>,
    /// Why it was given up (`None`: it was sent).
    pub given_up: Option<&'a str>,
    /// An alert is up in the row's room: record where, and move the comment from flagged to
    /// alerted (if it was not already, by another room's alert).
    pub alert: Option<(&'a CommentId, &'a AlertRef)>,
    /// A reply is out: make this closing move with its action; if the move is no longer
    /// possible the action is still written, since what was sent must be on record.
    pub close: Option<(Transition, Option<&'a str>, &'a Action)>,
    /// A move to make if possible (a reply given up goes back to the moderators).
    pub transition: Option<(&'a CommentId, Transition)>,
    /// Rows to write next (the alert's update, a notice to moderators).
    pub then: Vec<NewOutbox>,
}

/// The outbox (see [`outbox`](crate::outbox)): written by the tracker, read by the workers.
impl Store {
    /// Writes one row; `None` when an equivalent row is already waiting (alert updates
    /// coalesce).
    pub async fn enqueue(
        &self,
        row: &NewOutbox,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxId>, StoreError> {
        let mut conn = self.writer.acquire().await?;
        insert_outbox(&mut conn, row, now).await
    }

    /// The first open row of each channel of `destination`: only these may be claimed, so
    /// each channel's rows go out one at a time, in order. A row being delivered stays first
    /// until it is done; after it, rows about comments go in the order the comments were
    /// written (their time, then the order they were queued), others at the time they were
    /// queued. So when a burst's messages reach the store slightly out of order (the gateway
    /// library hands each event to its own task), their alerts, still waiting their turn,
    /// are posted in the order members wrote; a comment's own rows (its alert, then the
    /// alert's updates) keep the order they were queued in.
    pub async fn outbox_heads(
        &self,
        destination: Destination,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            // Only ids and keys are ranked: the rows themselves (payloads) are read for the
            // heads alone.
            concat!(
                "SELECT o.* FROM outbox o WHERE o.id IN (
                SELECT ranked.id FROM (
                    SELECT r.id, ROW_NUMBER() OVER (
                        PARTITION BY r.channel
                        ORDER BY ",
                queue_order!(),
                ") AS place
                    FROM outbox r LEFT JOIN comments c ON c.id = r.comment_id
                    WHERE r.destination = $1 AND r.state IN ('pending', 'claimed')
                ) AS ranked
                WHERE ranked.place = 1)
             ORDER BY o.id"
            ),
        )
        .bind(destination.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Claims a row (compare-and-set): pending and due, or claimed with its lease run out (its
    /// worker died, so the attempt may have gone out: `maybe_sent`). Counts the attempt,
    /// which becomes the claim's token. `None` if someone else holds it.
    pub async fn outbox_claim(
        &self,
        id: OutboxId,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<OutboxRow>, StoreError> {
        let row = sqlx::query(claim_sql!("$1"))
            .bind(id.0)
            .bind(now_ms + lease_ms)
            .bind(now_ms)
            .fetch_optional(&self.writer)
            .await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    /// Puts a claimed row back to wait until `due_ms`. False if the claim was no longer ours.
    pub async fn outbox_retry(
        &self,
        row: &OutboxRow,
        error: &str,
        due_ms: i64,
        first_failed_ms: i64,
        maybe_sent: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', due_ms = $1, lease_ms = NULL,
                first_failed_ms = COALESCE(first_failed_ms, $2), last_error = $3,
                maybe_sent = CASE WHEN $4 <> 0 THEN 1 ELSE maybe_sent END
             WHERE id = $5 AND state = 'claimed' AND attempts = $6",
        )
        .bind(due_ms)
        .bind(first_failed_ms)
        .bind(error)
        .bind(i64::from(maybe_sent))
        .bind(row.id.0)
        .bind(i64::from(row.attempts))
        .execute(&self.writer)
        .await?
        .rows_affected()
            == 1;
        Ok(done)
    }

    /// Marks a claimed row sent or given up, with everything `done` says, in one transaction.
    /// False, changing nothing, if the claim was no longer ours.
    pub async fn outbox_finish(
        &self,
        row: &OutboxRow,
        done: &OutboxDone<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        if !finish_on(&mut tx, row, done, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// As [`Store::outbox_finish`], and in the same transaction claims the next row of the
    /// same channel, as [`Store::outbox_heads`] orders them, if it may be claimed at `now_ms`
    /// (as [`Store::outbox_claim`] claims): a busy channel's writes follow one another
    /// without a round of reading every channel's heads, and one commit instead of two.
    pub async fn outbox_finish_then_claim_next(
        &self,
        row: &OutboxRow,
        done: &OutboxDone<'_>,
        now: DateTime<Utc>,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<(bool, Option<OutboxRow>), StoreError> {
        let mut tx = self.writer.begin().await?;
        if !finish_on(&mut tx, row, done, now).await? {
            tx.rollback().await?;
            return Ok((false, None));
        }
        let next = sqlx::query(claim_sql!(concat!(
            "(SELECT r.id FROM outbox r LEFT JOIN comments c ON c.id = r.comment_id
              WHERE r.destination = $1 AND r.channel = $4 AND r.state IN ('pending', 'claimed')
              ORDER BY ",
            queue_order!(),
            " LIMIT 1)"
        )))
        .bind(row.destination.as_str())
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .bind(&row.channel)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((true, next.as_ref().map(outbox_from_row).transpose()?))
    }

    /// Forgets the writes sent before `before`, except each channel's latest (which tells
    /// apart the failures since the last success); pending, claimed and given-up rows stay.
    /// Returns how many were forgotten.
    pub async fn prune_sent(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM outbox WHERE state = 'sent' AND done_at < $1
               AND id NOT IN (SELECT MAX(l.id) FROM outbox l WHERE l.state = 'sent'
                              GROUP BY l.destination, l.channel)",
        )
        .bind(db_time(before))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn outbox_row(&self, id: OutboxId) -> Result<Option<OutboxRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM outbox WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    /// Every row about a comment, oldest first.
    pub async fn outbox_for(&self, id: &CommentId) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE comment_id = $1 ORDER BY id")
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Whether a row of `kind` about the comment is still waiting or being delivered.
    pub async fn outbox_open(&self, id: &CommentId, kind: OutboxKind) -> Result<bool, StoreError> {
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE comment_id = $1 AND kind = $2
                AND state IN ('pending', 'claimed')",
        )
        .bind(id.as_str())
        .bind(kind.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(open > 0)
    }

    /// Whether a row of `kind` was ever queued for a comment, whatever became of it.
    pub async fn outbox_ever(&self, id: &CommentId, kind: OutboxKind) -> Result<bool, StoreError> {
        let any: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE comment_id = $1 AND kind = $2)
             THEN 1 ELSE 0 END",
        )
        .bind(id.as_str())
        .bind(kind.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(any != 0)
    }

    /// As [`Store::outbox_open`], for the rows of one room (a platform's channel).
    pub async fn outbox_open_in(
        &self,
        id: &CommentId,
        kind: OutboxKind,
        destination: Destination,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE comment_id = $1 AND kind = $2
                AND destination = $3 AND channel = $4 AND state IN ('pending', 'claimed')",
        )
        .bind(id.as_str())
        .bind(kind.as_str())
        .bind(destination.as_str())
        .bind(channel)
        .fetch_one(&self.pool)
        .await?;
        Ok(open > 0)
    }

    /// Whether a row of the channel other than `except` was given up since the channel's
    /// last successful write: moderators were told about that outage already.
    pub async fn given_up_since_last_sent(
        &self,
        destination: Destination,
        channel: &str,
        except: OutboxId,
    ) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox
             WHERE destination = $1 AND channel = $2 AND state = 'given_up' AND id <> $3
               AND id > COALESCE((SELECT MAX(id) FROM outbox
                                  WHERE destination = $1 AND channel = $2 AND state = 'sent'), 0)",
        )
        .bind(destination.as_str())
        .bind(channel)
        .bind(except.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }

    /// Why the latest approved reply for a comment was given up, if it was.
    pub async fn reply_given_up(&self, id: &CommentId) -> Result<Option<String>, StoreError> {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT state, last_error FROM outbox WHERE comment_id = $1 AND kind = 'reply'
             ORDER BY id DESC LIMIT 1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .filter(|(state, _)| state == OutboxState::GivenUp.as_str())
            .map(|(_, error)| error.unwrap_or_default()))
    }

    /// Records that a comment could not be processed (again): one row per comment, its
    /// attempts counted, the latest error kept.
    pub async fn record_failure(
        &self,
        comment: &Comment,
        stage: Stage,
        kind: FailureKind,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(comment).map_err(|e| StoreError::Corrupt {
            id: comment.id.to_string(),
            message: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO failures (comment_id, source, channel, stage, kind, error, comment,
                                   attempts, first_failed_at, last_failed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9)
             ON CONFLICT (comment_id) DO UPDATE SET
                stage = excluded.stage, kind = excluded.kind, error = excluded.error,
                comment = excluded.comment, attempts = failures.attempts + 1,
                last_failed_at = excluded.last_failed_at, resolved_at = NULL",
        )
        .bind(comment.id.as_str())
        .bind(comment.source.as_str())
        .bind(comment.place.channel.as_str())
        .bind(stage.as_str())
        .bind(kind.as_str())
        .bind(error)
        .bind(json)
        .bind(db_time(now))
        .bind(db_time(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Marks a comment's recorded failure as overcome (nothing happens if there is none).
    pub async fn resolve_failure(
        &self,
        id: &CommentId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE failures SET resolved_at = $1 WHERE comment_id = $2 AND resolved_at IS NULL",
        )
        .bind(db_time(now))
        .bind(id.as_str())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Failures not yet overcome and tried fewer than `max_attempts` times, oldest first.
    pub async fn open_failures(&self, max_attempts: u32) -> Result<Vec<Failure>, StoreError> {
        let rows: Vec<(String, String, String, i64, String, String)> = sqlx::query_as(
            "SELECT comment_id, stage, comment, attempts, error, first_failed_at FROM failures
             WHERE resolved_at IS NULL AND attempts < $1 ORDER BY first_failed_at, comment_id",
        )
        .bind(i64::from(max_attempts))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, stage, json, attempts, error, first_failed_at)| {
                let corrupt = |message: String| StoreError::Corrupt {
                    id: id.clone(),
                    message,
                };
                Ok(Failure {
                    comment: serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?,
                    stage: Stage::parse(&stage)
                        .ok_or_else(|| corrupt(format!("unknown failure stage `{stage}`")))?,
                    attempts: attempts.clamp(0, i64::from(u32::MAX)) as u32,
                    error,
                    first_failed_at: parse_time(&first_failed_at)
                        .ok_or_else(|| corrupt(format!("`{first_failed_at}` is not a time")))?,
                })
            })
            .collect()
    }

    /// Comments that failed for the first time in `(start, end]` (the digest's line).
    pub async fn failures_between(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.count_between(
            "SELECT COUNT(*) FROM failures WHERE first_failed_at > $1 AND first_failed_at <= $2",
            start,
            end,
        )
        .await
    }

    /// Writes given up in `(start, end]` (the digest's line), by the tracker's clock.
    pub async fn outbox_given_up_between(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.count_between(
            "SELECT COUNT(*) FROM outbox WHERE state = 'given_up' AND done_at > $1 AND done_at <= $2",
            start,
            end,
        )
        .await
    }

    /// A `COUNT(*)` query over a window `(start, end]`, bound in that order.
    async fn count_between(
        &self,
        sql: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let count: i64 = sqlx::query_scalar(sql)
            .bind(db_time(start))
            .bind(db_time(end))
            .fetch_one(&self.pool)
            .await?;
        Ok(count.max(0) as usize)
    }

    /// Stores a webhook delivery under `key` (the body's hash); false if that key is stored
    /// already (the platform retrying the same delivery).
    pub async fn store_webhook(
        &self,
        key: &str,
        channel: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO webhook_events (id, channel, body, received_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(key)
        .bind(channel)
        .bind(body)
        .bind(db_time(now))
        .execute(&self.writer)
        .await?
        .rows_affected()
            == 1;
        Ok(inserted)
    }

    /// Unprocessed webhook deliveries of `channel`, oldest first, as (key, body, received).
    pub async fn pending_webhooks(
        &self,
        channel: &str,
        limit: u32,
    ) -> Result<Vec<StoredWebhook>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, body, received_at FROM webhook_events
             WHERE channel = $1 AND processed_at IS NULL
             ORDER BY received_at, id LIMIT $2",
        )
        .bind(channel)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredWebhook {
                    key: row.try_get("id")?,
                    body: row.try_get("body")?,
                    received_at: row.time("received_at")?,
                })
            })
            .collect()
    }

    /// Marks a webhook delivery processed, with why it could not be read if so.
    pub async fn mark_webhook_processed(
        &self,
        key: &str,
        now: DateTime<Utc>,
        problem: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhook_events SET processed_at = $1, problem = $2 WHERE id = $3")
            .bind(db_time(now))
            .bind(problem)
            .bind(key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// How many webhook deliveries of `channel` are stored, processed or not.
    pub async fn webhook_count(&self, channel: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE channel = $1")
                .bind(channel)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Forgets processed webhook deliveries received before `before`.
    pub async fn prune_webhooks(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM webhook_events WHERE processed_at IS NOT NULL AND received_at < $1",
        )
        .bind(db_time(before))
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    /// Records a person's direct message in a conversation (the latest one wins): the start of
    /// the platform's reply window.
    pub async fn touch_conversation(
        &self,
        conversation: &ChannelId,
        page: &str,
        person: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta_conversations (conversation, page_id, person_id, last_inbound_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (conversation) DO UPDATE SET last_inbound_at = excluded.last_inbound_at
             WHERE excluded.last_inbound_at > meta_conversations.last_inbound_at",
        )
        .bind(conversation.as_str())
        .bind(page)
        .bind(person)
        .bind(db_time(at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// When the person last wrote in a direct-message conversation, if known.
    pub async fn last_inbound(
        &self,
        conversation: &ChannelId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<String> = sqlx::query_scalar(
            "SELECT last_inbound_at FROM meta_conversations WHERE conversation = $1",
        )
        .bind(conversation.as_str())
        .fetch_optional(&self.pool)
        .await?;
        at.map(|t| parse_time(&t).ok_or_else(|| bad_time("last_inbound_at", &t)))
            .transpose()
    }

    /// Whether the database answers a trivial query (`/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }
}

/// Duties: work several processes on one store must do once (see `tracker::Duty`).
impl Store {
    /// Takes or renews the lease on duty `name` for `holder` until `now_ms + lease_ms`, if it
    /// is free, ours already, or its lease ran out (its holder died). The upsert decides, in
    /// one statement, so two processes asking at once cannot both get it; the read before it
    /// only spares a write when another holder's lease is plainly running, and names the
    /// holder taken over from.
    pub async fn claim_duty(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<DutyClaim, StoreError> {
        let previous = self.duty_holder(name).await?;
        if previous
            .as_ref()
            .is_some_and(|(was, until_ms)| was != holder && *until_ms > now_ms)
        {
            return Ok(DutyClaim::Refused);
        }
        let taken = sqlx::query(
            "INSERT INTO duties (name, holder, until_ms, since_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                until_ms = excluded.until_ms,
                since_ms = CASE WHEN duties.holder = excluded.holder
                                THEN duties.since_ms ELSE excluded.since_ms END
             WHERE duties.holder = excluded.holder OR duties.until_ms <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .execute(&self.writer)
        .await?
        .rows_affected()
            == 1;
        Ok(match (taken, previous) {
            (false, _) => DutyClaim::Refused,
            (true, Some((was, _))) if was == holder => DutyClaim::Renewed,
            (true, Some((was, until_ms))) => DutyClaim::TakenOver {
                from: was,
                until_ms,
            },
            (true, None) => DutyClaim::Taken,
        })
    }

    /// Who holds duty `name` and until when (wall-clock ms), if anyone took it yet.
    pub async fn duty_holder(&self, name: &str) -> Result<Option<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT holder, until_ms FROM duties WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Gives duty `name` up if `holder` has it (a graceful stop): another process takes it
    /// at its next check instead of after the lease.
    pub async fn release_duty(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("DELETE FROM duties WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(&self.writer)
                .await?
                .rows_affected()
                == 1,
        )
    }
}

/// What asking for a duty's lease got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DutyClaim {
    /// Nobody held it: ours now.
    Taken,
    /// Ours already: renewed.
    Renewed,
    /// Another process held it and let its lease run out (or gave it up): ours now.
    TakenOver {
        from: String,
        /// When the old holder's lease ran out (wall-clock ms).
        until_ms: i64,
    },
    /// Another process holds it.
    Refused,
}

impl DutyClaim {
    pub fn held(&self) -> bool {
        !matches!(self, DutyClaim::Refused)
    }
}

/// A stored webhook delivery.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    /// The SHA-256 of the raw body, hex.
    pub key: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// The room name the replay's printed alerts are recorded under.
pub const TERMINAL_ROOM: &str = "terminal";

async fn upsert_alert(
    conn: &mut AnyConnection,
    id: &CommentId,
    room: &str,
    alert: &AlertRef,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alerts (comment_id, destination, channel_id, message_id, posted_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (comment_id, destination, channel_id) DO UPDATE SET
            message_id = excluded.message_id, posted_at = excluded.posted_at",
    )
    .bind(id.as_str())
    .bind(room)
    .bind(&alert.channel)
    .bind(&alert.message)
    .bind(db_time(alert.posted_at))
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_outbox(
    conn: &mut AnyConnection,
    row: &NewOutbox,
    now: DateTime<Utc>,
) -> Result<Option<OutboxId>, StoreError> {
    let comment = row.payload.comment();
    let json = serde_json::to_string(&row.payload).map_err(|e| StoreError::Corrupt {
        id: comment.map(|c| c.to_string()).unwrap_or_default(),
        message: e.to_string(),
    })?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO outbox (destination, channel, comment_id, kind, payload, state, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(row.destination.as_str())
    .bind(&row.channel)
    .bind(comment.map(|c| c.as_str()))
    .bind(row.payload.kind().as_str())
    .bind(json)
    .bind(db_time(now))
    .fetch_optional(conn)
    .await?;
    Ok(id.map(OutboxId))
}

fn outbox_from_row(row: &AnyRow) -> Result<OutboxRow, StoreError> {
    let id: i64 = row.try_get("id")?;
    let name = format!("outbox row {id}");
    let destination: String = row.try_get("destination")?;
    let state: String = row.try_get("state")?;
    let payload: String = row.try_get("payload")?;
    Ok(OutboxRow {
        id: OutboxId(id),
        destination: Destination::parse(&destination)
            .ok_or_else(|| corrupt(&name, format!("unknown destination `{destination}`")))?,
        channel: row.try_get("channel")?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt(&name, e.to_string()))?,
        state: OutboxState::parse(&state)
            .ok_or_else(|| corrupt(&name, format!("unknown state `{state}`")))?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        maybe_sent: row.flag("maybe_sent")?,
        due_ms: row.try_get("due_ms")?,
        lease_ms: row.try_get("lease_ms")?,
        first_failed_ms: row.try_get("first_failed_ms")?,
        created_at: row.time("created_at")?,
        message_id: row.try_get("message_id")?,
        last_error: row.try_get("last_error")?,
    })
}

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `columns` parameters.
fn values_sql(rows: usize, columns: usize) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    tuples.join(", ")
}

/// Inserts the comments' rows, skipping ids stored already; the ids inserted.
async fn insert_comments(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    items: &[&NewTriaged<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "INSERT INTO comments (id, source, channel_id, channel_name, guild_id, parent_id, is_dm,
            author_id, author_name, author_is_staff, text, created_at, reply_to, link, state, state_changed_at)
         VALUES {}
         ON CONFLICT (id) DO NOTHING
         RETURNING id",
        values_sql(items.len(), 16)
    );
    let mut query = sqlx::query_scalar(&sql);
    for item in items {
        let comment = item.comment;
        query = query
            .bind(comment.id.as_str())
            .bind(comment.source.as_str())
            .bind(comment.place.channel.as_str())
            .bind(&comment.place.channel_name)
            .bind(comment.place.guild.as_deref())
            .bind(comment.place.parent.as_ref().map(|p| p.as_str()))
            .bind(i64::from(comment.place.is_dm))
            .bind(comment.author.id.as_str())
            .bind(&comment.author.name)
            .bind(i64::from(comment.author.is_staff))
            .bind(&comment.text)
            .bind(db_time(comment.time))
            .bind(comment.reply_to.as_ref().map(|r| r.as_str()))
            .bind(comment.link.as_deref())
            .bind(item.state.as_str())
            .bind(db_time(now));
    }
    Ok(query.fetch_all(&mut **tx).await?)
}

/// The columns of a verdict's row besides its comment and time.
struct VerdictColumns<'a> {
    labels: String,
    main_rule: Option<&'a str>,
    topic: Option<&'a str>,
    severity: Option<&'static str>,
    language: &'static str,
    json: String,
}

fn verdict_columns<'a>(
    id: &CommentId,
    verdict: &'a Verdict,
) -> Result<VerdictColumns<'a>, StoreError> {
    let main = verdict.main_match();
    Ok(VerdictColumns {
        labels: verdict
            .labels
            .iter()
            .map(|l| l.label.as_str())
            .collect::<Vec<_>>()
            .join(","),
        main_rule: main.map(|m| m.rule.as_str()),
        topic: main.and_then(|m| m.topic.as_deref()),
        severity: verdict.severity().map(|s| s.as_str()),
        language: verdict.language.code(),
        json: serde_json::to_string(verdict).map_err(|e| StoreError::Corrupt {
            id: id.to_string(),
            message: e.to_string(),
        })?,
    })
}

/// Inserts the verdicts of comments just inserted (so none has one yet).
async fn insert_verdicts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    items: &[&NewTriaged<'_>],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    let columns = items
        .iter()
        .map(|item| verdict_columns(&item.comment.id, item.verdict))
        .collect::<Result<Vec<_>, _>>()?;
    let sql = format!(
        "INSERT INTO verdicts (comment_id, labels, main_rule, topic, severity, language, verdict, triaged_at)
         VALUES {}",
        values_sql(items.len(), 8)
    );
    let mut query = sqlx::query(&sql);
    for (item, row) in items.iter().zip(columns) {
        query = query
            .bind(item.comment.id.as_str())
            .bind(row.labels)
            .bind(row.main_rule)
            .bind(row.topic)
            .bind(row.severity)
            .bind(row.language)
            .bind(row.json)
            .bind(db_time(now));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Inserts the drafts of comments just inserted that have one.
async fn insert_drafts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    items: &[&NewTriaged<'_>],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let drafted: Vec<(&CommentId, &Draft)> = items
        .iter()
        .filter_map(|item| item.draft.map(|d| (&item.comment.id, d)))
        .collect();
    if drafted.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO drafts (comment_id, template_id, language, wording, text, updated_at)
         VALUES {}",
        values_sql(drafted.len(), 6)
    );
    let mut query = sqlx::query(&sql);
    for (id, draft) in drafted {
        query = query
            .bind(id.as_str())
            .bind(draft.template.as_str())
            .bind(draft.lang.code())
            .bind(draft.wording as i64)
            .bind(&draft.text)
            .bind(db_time(now));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Queues the outbox rows of comments just inserted, in the batch's order (the order they
/// are delivered in, per channel).
async fn insert_outbox_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[&NewOutbox],
    now: DateTime<Utc>,
    per_statement: usize,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(per_statement) {
        let sql = format!(
            "INSERT INTO outbox (destination, channel, comment_id, kind, payload, state, created_at)
             VALUES {}
             ON CONFLICT DO NOTHING",
            values_sql(chunk.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            let comment = row.payload.comment();
            let json = serde_json::to_string(&row.payload).map_err(|e| StoreError::Corrupt {
                id: comment.map(|c| c.to_string()).unwrap_or_default(),
                message: e.to_string(),
            })?;
            query = query
                .bind(row.destination.as_str())
                .bind(&row.channel)
                .bind(comment.map(|c| c.as_str()))
                .bind(row.payload.kind().as_str())
                .bind(json)
                .bind(OutboxState::Pending.as_str())
                .bind(db_time(now));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn write_verdict(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &CommentId,
    verdict: &Verdict,
    draft: Option<&Draft>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let labels = verdict
        .labels
        .iter()
        .map(|l| l.label.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let main = verdict.main_match();
    let json = serde_json::to_string(verdict).map_err(|e| StoreError::Corrupt {
        id: id.to_string(),
        message: e.to_string(),
    })?;
    sqlx::query(
        "INSERT INTO verdicts (comment_id, labels, main_rule, topic, severity, language, verdict, triaged_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (comment_id) DO UPDATE SET labels = excluded.labels, main_rule = excluded.main_rule,
            topic = excluded.topic, severity = excluded.severity, language = excluded.language,
            verdict = excluded.verdict, triaged_at = excluded.triaged_at",
    )
    .bind(id.as_str())
    .bind(labels)
    .bind(main.map(|m| m.rule.as_str()))
    .bind(main.and_then(|m| m.topic.as_deref()))
    .bind(verdict.severity().map(|s| s.as_str()))
    .bind(verdict.language.code())
    .bind(json)
    .bind(db_time(now))
    .execute(&mut **tx)
    .await?;
    if let Some(draft) = draft {
        sqlx::query(
            "INSERT INTO drafts (comment_id, template_id, language, wording, text, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(draft.template.as_str())
        .bind(draft.lang.code())
        .bind(draft.wording as i64)
        .bind(&draft.text)
        .bind(db_time(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

const SELECT_STORED: &str = "SELECT c.*, v.verdict AS v_verdict,
        d.template_id AS d_template, d.language AS d_language, d.wording AS d_wording, d.text AS d_text,
        a.channel_id AS a_channel, a.message_id AS a_message, a.posted_at AS a_posted_at
    FROM comments c
    LEFT JOIN verdicts v ON v.comment_id = c.id
    LEFT JOIN drafts d ON d.comment_id = c.id
    LEFT JOIN alerts a ON a.comment_id = c.id AND (a.destination, a.channel_id) = (
        SELECT x.destination, x.channel_id FROM alerts x WHERE x.comment_id = c.id
        ORDER BY x.posted_at, x.destination, x.channel_id LIMIT 1)";

fn corrupt(id: &str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        id: id.to_owned(),
        message: message.into(),
    }
}

fn stored_from_row(row: &AnyRow) -> Result<StoredComment, StoreError> {
    let id: String = row.try_get("id")?;
    let source: String = row.try_get("source")?;
    let state: String = row.try_get("state")?;
    let comment = Comment {
        id: CommentId(id.clone()),
        source: Source::parse(&source)
            .ok_or_else(|| corrupt(&id, format!("unknown source `{source}`")))?,
        place: Place {
            channel: ChannelId(row.try_get("channel_id")?),
            channel_name: row.try_get("channel_name")?,
            guild: row.try_get("guild_id")?,
            parent: row
                .try_get::<Option<String>, _>("parent_id")?
                .map(ChannelId),
            is_dm: row.flag("is_dm")?,
        },
        author: Author {
            id: AuthorId(row.try_get("author_id")?),
            name: row.try_get("author_name")?,
            is_staff: row.flag("author_is_staff")?,
            is_bot: false,
            joined_at: None,
        },
        text: row.try_get("text")?,
        time: row.time("created_at")?,
        reply_to: row.try_get::<Option<String>, _>("reply_to")?.map(CommentId),
        mentions: Vec::new(),
        link: row.try_get("link")?,
        thread_root: None,
    };
    let verdict = row
        .try_get::<Option<String>, _>("v_verdict")?
        .map(|json| serde_json::from_str(&json).map_err(|e| corrupt(&id, e.to_string())))
        .transpose()?;
    let draft = match row.try_get::<Option<String>, _>("d_template")? {
        Some(template) => {
            let lang: String = row.try_get("d_language")?;
            Some(Draft {
                template: TemplateId(template.into()),
                lang: Lang::from_code(&lang)
                    .ok_or_else(|| corrupt(&id, format!("unknown language `{lang}`")))?,
                wording: row.try_get::<i64, _>("d_wording")? as usize,
                text: row.try_get("d_text")?,
            })
        }
        None => None,
    };
    let alert = match row.try_get::<Option<String>, _>("a_channel")? {
        Some(channel) => Some(AlertRef {
            channel,
            message: row.try_get("a_message")?,
            posted_at: row.time("a_posted_at")?,
        }),
        None => None,
    };
    Ok(StoredComment {
        comment,
        state: CommentState::parse(&state)
            .ok_or_else(|| corrupt(&id, format!("unknown state `{state}`")))?,
        state_changed_at: row.time("state_changed_at")?,
        verdict,
        draft,
        alert,
        answered_by: row.try_get("answered_by")?,
        closed_at: row.time_opt("closed_at")?,
    })
}

/// The state change behind [`Store::transition`], on a connection or inside a transaction.
async fn transition_on(
    conn: &mut AnyConnection,
    id: &CommentId,
    change: Transition,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    transition_answered_on(conn, id, change, now, None).await
}

/// As [`transition_on`], recording `answered_by` as who answered (unless someone is on
/// record already) in the same statement when the move is made.
async fn transition_answered_on(
    conn: &mut AnyConnection,
    id: &CommentId,
    change: Transition,
    now: DateTime<Utc>,
    answered_by: Option<&str>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE comments SET state = $1, state_changed_at = $2,
            closed_at = CASE WHEN $3 <> 0 AND closed_at IS NULL THEN $4 ELSE closed_at END,
            answered_by = COALESCE(answered_by, $6)
         WHERE id = $5 AND state IN ({})",
        states_sql(change.from)
    );
    let done = sqlx::query(&sql)
        .bind(change.to.as_str())
        .bind(db_time(now))
        .bind(i64::from(change.to.closes()))
        .bind(db_time(now))
        .bind(id.as_str())
        .bind(answered_by)
        .execute(conn)
        .await?
        .rows_affected()
        == 1;
    Ok(done)
}

/// A set of states as an SQL list (`'flagged', 'alerted'`), so every query that asks "is it
/// open?" reads the one definition in [`lifecycle`](crate::lifecycle). The names are the
/// enum's own constants, never user input.
fn states_sql(states: &[CommentState]) -> String {
    let quoted: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    quoted.join(", ")
}

/// Whether a verdict's labels (`verdicts.labels`, comma-separated) include `label`. The name
/// is the enum's own constant, never user input.
fn has_label_sql(label: Label) -> String {
    format!("(',' || v.labels || ',') LIKE '%,{},%'", label.as_str())
}

/// The first item of each comment id, in order: what a batch can write (a later one of the
/// same comment is a duplicate, or a move the first already made).
fn first_of_each<'a, T>(items: &'a [T], id: impl Fn(&'a T) -> &'a str) -> Vec<&'a T> {
    let mut seen = std::collections::HashSet::new();
    items.iter().filter(|item| seen.insert(id(item))).collect()
}

/// Marks a claimed row sent or given up on `tx`, with everything `done` says; false, having
/// written nothing, if the claim was no longer ours.
async fn finish_on(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &OutboxRow,
    done: &OutboxDone<'_>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let state = if done.given_up.is_some() {
        OutboxState::GivenUp
    } else {
        OutboxState::Sent
    };
    let marked = sqlx::query(
        "UPDATE outbox SET state = $1, done_at = $2, lease_ms = NULL,
            message_id = COALESCE($3, message_id), last_error = COALESCE($4, last_error)
         WHERE id = $5 AND state = 'claimed' AND attempts = $6",
    )
    .bind(state.as_str())
    .bind(db_time(now))
    .bind(done.message_id)
    .bind(done.given_up)
    .bind(row.id.0)
    .bind(i64::from(row.attempts))
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !marked {
        return Ok(false);
    }
    if let Some((id, alert)) = done.alert {
        upsert_alert(tx, id, row.destination.as_str(), alert).await?;
        transition_on(tx, id, Transition::ALERT, now).await?;
    }
    if let Some((change, answered_by, action)) = done.close {
        transition_answered_on(tx, &action.comment, change, action.at, answered_by).await?;
        insert_action(tx, action).await?;
    }
    if let Some((id, change)) = done.transition {
        transition_on(tx, id, change, now).await?;
    }
    for next in &done.then {
        insert_outbox(tx, next, now).await?;
    }
    Ok(true)
}

/// Makes each closing move of `closes` in order on `tx`, as [`Store::close_many`] describes;
/// for each, whether it was made.
async fn close_on(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    per_statement: usize,
    closes: &[Closing<'_>],
) -> Result<Vec<bool>, StoreError> {
    let mut made = Vec::with_capacity(closes.len());
    if let Some(first) = closes.first().filter(|_| closes.len() > 1) {
        let (change, at) = (first.change, first.action.at);
        // One statement per kind of row serves closes that make the same move at the same
        // time, a move a comment cannot make twice (so of several closes of one comment only
        // the first can be made, as one at a time).
        if !change.from.contains(&change.to)
            && closes
                .iter()
                .all(|c| c.change == change && c.action.at == at)
        {
            return close_alike_on(tx, per_statement, closes, change, at).await;
        }
    }
    for close in closes {
        let action = close.action;
        let moved = transition_answered_on(
            tx,
            &action.comment,
            close.change,
            action.at,
            close.answered_by,
        )
        .await?;
        if !moved {
            made.push(false);
            continue;
        }
        for row in close.then {
            insert_outbox(tx, row, action.at).await?;
        }
        insert_action(tx, action).await?;
        made.push(true);
    }
    Ok(made)
}

/// [`close_on`] for closes that all make `change` at `at`: a few multi-row statements instead
/// of three per close (over a network, each is a round trip).
async fn close_alike_on(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    per_statement: usize,
    closes: &[Closing<'_>],
    change: Transition,
    at: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    let first = first_of_each(closes, |c| c.action.comment.as_str());
    let mut moved = std::collections::HashSet::new();
    for chunk in first.chunks(per_statement) {
        let n = chunk.len() * 2;
        let sql = format!(
            "UPDATE comments SET state = ${}, state_changed_at = ${},
                closed_at = CASE WHEN ${} <> 0 AND comments.closed_at IS NULL
                            THEN ${} ELSE comments.closed_at END,
                answered_by = COALESCE(comments.answered_by, v.column2)
             FROM (VALUES {}) AS v
             WHERE comments.id = v.column1 AND comments.state IN ({})
             RETURNING comments.id",
            n + 1,
            n + 2,
            n + 3,
            n + 2,
            values_sql(chunk.len(), 2),
            states_sql(change.from)
        );
        let mut query = sqlx::query(&sql);
        for close in chunk {
            query = query
                .bind(close.action.comment.as_str())
                .bind(close.answered_by);
        }
        let rows = query
            .bind(change.to.as_str())
            .bind(db_time(at))
            .bind(i64::from(change.to.closes()))
            .fetch_all(&mut **tx)
            .await?;
        for row in rows {
            moved.insert(row.try_get::<String, _>(0)?);
        }
    }
    // Each comment's first close is the one made; later ones of the same comment are not.
    let mut made = Vec::with_capacity(closes.len());
    let mut done = Vec::new();
    for close in closes {
        let this = moved.remove(close.action.comment.as_str());
        made.push(this);
        if this {
            done.push(close);
        }
    }
    let queued: Vec<&NewOutbox> = done.iter().flat_map(|c| c.then).collect();
    insert_outbox_rows(tx, &queued, at, per_statement).await?;
    let actions: Vec<&Action> = done.iter().map(|c| c.action).collect();
    for chunk in actions.chunks(per_statement) {
        insert_actions(tx, chunk).await?;
    }
    Ok(made)
}

/// Writes the actions in one statement, in order.
async fn insert_actions(conn: &mut AnyConnection, actions: &[&Action]) -> Result<(), StoreError> {
    if actions.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO actions (comment_id, action, moderator_id, moderator_name, at, draft_text,
            sent_text, reply_message_id) VALUES {}",
        values_sql(actions.len(), 8)
    );
    let mut query = sqlx::query(&sql);
    for action in actions {
        query = query
            .bind(action.comment.as_str())
            .bind(action.kind.as_str())
            .bind(action.moderator_id.as_deref())
            .bind(action.moderator_name.as_deref())
            .bind(db_time(action.at))
            .bind(action.draft_text.as_deref())
            .bind(action.sent_text.as_deref())
            .bind(action.reply_message_id.as_deref());
    }
    query.execute(conn).await?;
    Ok(())
}

async fn insert_action(conn: &mut AnyConnection, action: &Action) -> Result<(), StoreError> {
    insert_actions(conn, &[action]).await
}

fn action_from_row(row: &AnyRow) -> Result<Action, StoreError> {
    let comment: String = row.try_get("comment_id")?;
    let kind: String = row.try_get("action")?;
    Ok(Action {
        kind: ActionKind::parse(&kind)
            .ok_or_else(|| corrupt(&comment, format!("unknown action `{kind}`")))?,
        comment: CommentId(comment),
        moderator_id: row.try_get("moderator_id")?,
        moderator_name: row.try_get("moderator_name")?,
        at: row.time("at")?,
        draft_text: row.try_get("draft_text")?,
        sent_text: row.try_get("sent_text")?,
        reply_message_id: row.try_get("reply_message_id")?,
    })
}

/// Test support for running the same tests on both stores.
pub mod testing {
    use std::sync::atomic::{AtomicU32, Ordering};

    use sqlx::Connection;

    /// The environment variable naming a PostgreSQL server for the tests (`.ci/run` starts
    /// one and sets it).
    pub const POSTGRES_ENV: &str = "ASCOLTO_TEST_POSTGRES_URL";

    /// The server the tests may use, if one is given. Under CI (`CI` set) a missing server
    /// is a failure, not a skip: the PostgreSQL half of the tests must run there. Elsewhere
    /// the caller skips, saying so.
    pub fn postgres_server() -> Option<String> {
        match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ if std::env::var_os("CI").is_some() => panic!(
                "{POSTGRES_ENV} is not set: under CI the PostgreSQL tests must run (.ci/run starts a server)"
            ),
            _ => {
                eprintln!("skipped on PostgreSQL: set {POSTGRES_ENV} (see .ci/postgres) to run it");
                None
            }
        }
    }

    /// A new, empty database on `server` (a `postgres://` URL), named after the process and a
    /// counter so that parallel tests and test binaries never share one; its URL.
    pub async fn fresh_postgres_database(server: &str) -> Result<String, sqlx::Error> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ascolto_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(server).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let (base, query) = match server.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (server, String::new()),
        };
        let root = match base.rfind('/') {
            Some(i) if i > base.find("://").map_or(0, |j| j + 2) => &base[..i],
            _ => base,
        };
        Ok(format!("{root}/{name}{query}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::Verdict;

    fn comment(id: &str, channel: &str, source: Source, is_dm: bool) -> Comment {
        let place = Place {
            is_dm,
            ..Place::channel(channel, channel)
        };
        Comment::new(
            id,
            source,
            place,
            Author::member("u", "u"),
            "hello",
            Utc::now(),
        )
    }

    /// SQLite in memory, and a fresh PostgreSQL database when a server is given: each store
    /// test runs on both.
    async fn stores() -> Vec<Store> {
        let mut all = vec![Store::in_memory().await.unwrap()];
        if let Some(server) = testing::postgres_server() {
            let url = testing::fresh_postgres_database(&server).await.unwrap();
            all.push(Store::connect(&url).await.unwrap());
        }
        all
    }

    /// Two stores on one database, as two processes open it: a SQLite file, and a fresh
    /// PostgreSQL database when a server is given. The folder lives as long as the stores.
    async fn shared_stores() -> Vec<(Store, Store, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shared.db").display());
        let mut all = vec![(
            Store::connect(&url).await.unwrap(),
            Store::connect(&url).await.unwrap(),
            Some(dir),
        )];
        if let Some(server) = testing::postgres_server() {
            let url = testing::fresh_postgres_database(&server).await.unwrap();
            all.push((
                Store::connect(&url).await.unwrap(),
                Store::connect(&url).await.unwrap(),
                None,
            ));
        }
        all
    }

    fn verdict() -> Verdict {
        Verdict {
            language: Lang::En,
            language_confident: true,
            labels: Vec::new(),
            matches: Vec::new(),
            suppressed: Vec::new(),
            reply: None,
        }
    }

    /// Stores `c` as triaged into `state` at its own time, with no outbox rows.
    async fn store_in(store: &Store, c: &Comment, state: CommentState) {
        store
            .insert_triaged(c, &verdict(), state, None, c.time, &[])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_channels_alerts_go_out_in_the_order_their_comments_were_written() {
        for store in stores().await {
            let now = Utc::now();
            let alert = |channel: &str, id: &str| NewOutbox {
                destination: Destination::Discord,
                channel: channel.into(),
                payload: crate::outbox::Payload::Alert {
                    comment: CommentId::new(id),
                },
            };
            let update = |channel: &str, id: &str| NewOutbox {
                destination: Destination::Discord,
                channel: channel.into(),
                payload: crate::outbox::Payload::AlertUpdate {
                    comment: CommentId::new(id),
                },
            };
            // Stored the wrong way round, as a burst's late message is: the later comment first.
            let stored = |id: &str, seconds: i64, then: Vec<NewOutbox>| {
                let mut c = comment(id, "general", Source::Discord, false);
                c.time = now + chrono::Duration::seconds(seconds);
                let store = &store;
                async move {
                    store
                        .insert_triaged(&c, &verdict(), CommentState::Flagged, None, now, &then)
                        .await
                        .unwrap();
                }
            };
            stored("later", 10, vec![alert("mods", "later")]).await;
            stored("earlier", 5, vec![alert("mods", "earlier")]).await;
            store
                .enqueue(&update("mods", "earlier"), now)
                .await
                .unwrap();
            // A row being delivered stays first, whatever comes in meanwhile.
            stored("late", 10, vec![alert("other", "late")]).await;
            let in_flight = store.outbox_heads(Destination::Discord).await.unwrap();
            let late = in_flight.iter().find(|h| h.channel == "other").unwrap();
            store
                .outbox_claim(late.id, 0, 60_000)
                .await
                .unwrap()
                .unwrap();
            stored("early", 5, vec![alert("other", "early")]).await;

            let heads = store.outbox_heads(Destination::Discord).await.unwrap();
            let shown: Vec<(String, String)> = heads
                .iter()
                .map(|h| {
                    let about = h
                        .payload
                        .comment()
                        .map(|c| c.to_string())
                        .unwrap_or_default();
                    (
                        h.channel.clone(),
                        format!("{} {about}", h.payload.kind().as_str()),
                    )
                })
                .collect();
            assert_eq!(
                shown,
                [
                    ("mods".to_owned(), "alert earlier".to_owned()),
                    ("other".to_owned(), "alert late".to_owned()),
                ]
            );
        }
    }

    #[tokio::test]
    async fn a_digest_reads_every_comment_that_needed_an_answer_and_no_clear_one() {
        for store in stores().await {
            let now = Utc::now();
            let since = now - chrono::Duration::hours(24);
            for (id, days_ago, state) in [
                ("old-open", 3, CommentState::Flagged),
                ("old-clear", 3, CommentState::Clear),
                ("new-clear", 0, CommentState::Clear),
                ("new-open", 0, CommentState::Flagged),
            ] {
                let mut c = comment(id, "general", Source::Discord, false);
                c.time = now - chrono::Duration::days(days_ago);
                store_in(&store, &c, state).await;
            }
            let read = store.comments_for_digest(since).await.unwrap();
            let ids: Vec<&str> = read.iter().map(|s| s.comment.id.as_str()).collect();
            assert_eq!(ids, ["old-open", "new-open"]);
        }
    }

    #[tokio::test]
    async fn the_queue_head_is_the_oldest_open_comments_and_the_count_is_all_of_them() {
        for store in stores().await {
            let now = Utc::now();
            for (id, minutes_ago, state) in [
                ("newest", 1, CommentState::Flagged),
                ("closed", 50, CommentState::Answered),
                ("oldest", 40, CommentState::Alerted),
                ("clear", 45, CommentState::Clear),
                ("middle", 20, CommentState::Sending),
                ("second", 30, CommentState::Flagged),
            ] {
                let mut c = comment(id, "general", Source::Discord, false);
                c.time = now - chrono::Duration::minutes(minutes_ago);
                store_in(&store, &c, state).await;
            }
            let head = store.open_queue(2).await.unwrap();
            assert_eq!(head.waiting, 4);
            let ids: Vec<&str> = head.oldest.iter().map(|s| s.comment.id.as_str()).collect();
            assert_eq!(ids, ["oldest", "second"]);
            let all = store.open_queue(10).await.unwrap();
            let every: Vec<StoredComment> = store.open_comments().await.unwrap();
            assert_eq!(
                all.oldest.iter().map(|s| &s.comment.id).collect::<Vec<_>>(),
                every.iter().map(|s| &s.comment.id).collect::<Vec<_>>()
            );
        }
    }

    #[tokio::test]
    async fn the_latest_open_comment_of_an_author_is_found_in_their_channel_only() {
        for store in stores().await {
            let now = Utc::now();
            let t = |minutes_ago: i64| now - chrono::Duration::minutes(minutes_ago);
            for (id, channel, author, at, state) in [
                ("earlier", "dm-ann", "ann", t(30), CommentState::Flagged),
                ("later", "dm-ann", "ann", t(10), CommentState::Alerted),
                ("tied-a", "dm-bob", "bob", t(5), CommentState::Flagged),
                ("tied-b", "dm-bob", "bob", t(5), CommentState::Flagged),
                ("answered", "dm-ann", "ann", t(1), CommentState::Answered),
                ("elsewhere", "general", "ann", t(0), CommentState::Flagged),
                ("page", "dm-ann", "page", t(0), CommentState::Flagged),
            ] {
                let mut c = comment(id, channel, Source::Messenger, true);
                c.author = Author::member(author, author);
                c.time = at;
                store_in(&store, &c, state).await;
            }
            let latest = |channel: &str, author: &str| {
                let store = &store;
                let (channel, author) = (ChannelId::new(channel), AuthorId::new(author));
                async move { store.latest_open_by(&channel, &author).await.unwrap() }
            };
            assert_eq!(latest("dm-ann", "ann").await, Some(CommentId::new("later")));
            // Written in the same instant: the later id, as the order of the queue has it.
            assert_eq!(
                latest("dm-bob", "bob").await,
                Some(CommentId::new("tied-b"))
            );
            assert_eq!(latest("dm-bob", "ann").await, None);
            assert_eq!(latest("dm-cat", "cat").await, None);
        }
    }

    #[tokio::test]
    async fn recording_a_write_claims_its_channels_next_one_only_when_it_is_ready() {
        for store in stores().await {
            let now = Utc::now();
            let notice = |channel: &str, text: &str| NewOutbox {
                destination: Destination::Discord,
                channel: channel.into(),
                payload: crate::outbox::Payload::Notice { text: text.into() },
            };
            let mut ids = Vec::new();
            for (channel, text) in [
                ("mods", "first"),
                ("other", "elsewhere"),
                ("mods", "second"),
                ("mods", "third"),
            ] {
                ids.push(
                    store
                        .enqueue(&notice(channel, text), now)
                        .await
                        .unwrap()
                        .unwrap(),
                );
            }
            let done = OutboxDone::default();
            let first = store
                .outbox_claim(ids[0], 0, 60_000)
                .await
                .unwrap()
                .unwrap();
            let (marked, next) = store
                .outbox_finish_then_claim_next(&first, &done, now, 0, 60_000)
                .await
                .unwrap();
            assert!(marked);
            // The channel's next, claimed (its attempt counted); never another channel's.
            let second = next.unwrap();
            assert_eq!((second.id, second.attempts), (ids[2], 1));
            assert_eq!(
                store.outbox_row(ids[1]).await.unwrap().unwrap().state,
                OutboxState::Pending
            );
            // The third, claimed the same way, fails and waits for a retry in a minute.
            let (_, third) = store
                .outbox_finish_then_claim_next(&second, &done, now, 0, 60_000)
                .await
                .unwrap();
            let third = third.unwrap();
            assert!(store
                .outbox_retry(&third, "500", 60_000, 0, false)
                .await
                .unwrap());
            let fourth = store
                .enqueue(&notice("mods", "fourth"), now)
                .await
                .unwrap()
                .unwrap();
            // The channel's head is the third, not due yet: nothing is claimed, not even the
            // fourth behind it.
            let other = store
                .outbox_claim(ids[1], 0, 60_000)
                .await
                .unwrap()
                .unwrap();
            let (marked, next) = store
                .outbox_finish_then_claim_next(&other, &done, now, 1_000, 60_000)
                .await
                .unwrap();
            assert!(marked);
            assert!(next.is_none());
            assert_eq!(
                store.outbox_row(fourth).await.unwrap().unwrap().state,
                OutboxState::Pending
            );
            // Recording a write whose claim is no longer held changes nothing, claims nothing.
            let (marked, next) = store
                .outbox_finish_then_claim_next(&first, &done, now, 0, 60_000)
                .await
                .unwrap();
            assert!(!marked);
            assert!(next.is_none());
        }
    }

    #[tokio::test]
    async fn old_sent_writes_are_forgotten_but_each_channels_latest_and_the_rest_stay() {
        for store in stores().await {
            let long_ago = Utc::now() - chrono::Duration::days(60);
            let notice = |channel: &str, text: &str| NewOutbox {
                destination: Destination::Discord,
                channel: channel.into(),
                payload: crate::outbox::Payload::Notice { text: text.into() },
            };
            // Done two months ago, in order: sent, sent, given up in "mods"; sent in "other".
            let mut ids = Vec::new();
            for (channel, text, given_up) in [
                ("mods", "first", None),
                ("mods", "second", None),
                ("mods", "refused", Some("403")),
                ("other", "only", None),
            ] {
                let id = store
                    .enqueue(&notice(channel, text), long_ago)
                    .await
                    .unwrap()
                    .unwrap();
                let row = store.outbox_claim(id, 0, 60_000).await.unwrap().unwrap();
                let done = OutboxDone {
                    given_up,
                    ..OutboxDone::default()
                };
                assert!(store.outbox_finish(&row, &done, long_ago).await.unwrap());
                ids.push(id);
            }
            let waiting = store
                .enqueue(&notice("mods", "waiting"), long_ago)
                .await
                .unwrap()
                .unwrap();
            // Nothing is older than a cut-off before all of them.
            assert_eq!(
                store
                    .prune_sent(long_ago - chrono::Duration::days(1))
                    .await
                    .unwrap(),
                0
            );
            assert_eq!(store.prune_sent(Utc::now()).await.unwrap(), 1);
            let kept: Vec<bool> = {
                let mut kept = Vec::new();
                for id in ids.iter().chain([&waiting]) {
                    kept.push(store.outbox_row(*id).await.unwrap().is_some());
                }
                kept
            };
            // The first sent row of "mods" went; its latest sent, the given-up, the other
            // channel's only one and the waiting one stay.
            assert_eq!(kept, [false, true, true, true, true]);
        }
    }

    #[tokio::test]
    async fn dm_channels_lists_each_discord_conversation_once() {
        for store in stores().await {
            let now = Utc::now();
            for c in [
                comment("1", "dm-a", Source::Discord, true),
                comment("2", "dm-a", Source::Discord, true),
                comment("3", "dm-b", Source::Discord, true),
                comment("4", "general", Source::Discord, false),
                comment("5", "dm-r", Source::Replay, true),
            ] {
                store
                    .insert_triaged(&c, &verdict(), CommentState::Clear, None, now, &[])
                    .await
                    .unwrap();
            }
            assert_eq!(
                store.dm_channels().await.unwrap(),
                vec![ChannelId::new("dm-a"), ChannelId::new("dm-b")]
            );
        }
    }

    #[tokio::test]
    async fn only_flagged_comments_no_room_shows_and_never_queued_are_never_alerted() {
        for store in stores().await {
            let now = Utc::now();
            let queued = NewOutbox {
                destination: Destination::Discord,
                channel: "mods".into(),
                payload: crate::outbox::Payload::Alert {
                    comment: CommentId::new("2"),
                },
            };
            let rows = [
                ("1", CommentState::Flagged, vec![]),
                ("2", CommentState::Flagged, vec![queued]),
                ("3", CommentState::Flagged, vec![]),
                ("4", CommentState::Alerted, vec![]),
                ("5", CommentState::Answered, vec![]),
            ];
            for (id, state, then) in &rows {
                let c = comment(id, "general", Source::Discord, false);
                store
                    .insert_triaged(&c, &verdict(), *state, None, now, then)
                    .await
                    .unwrap();
            }
            let shown = AlertRef {
                channel: "terminal".into(),
                message: "3".into(),
                posted_at: now,
            };
            store
                .set_alert(&CommentId::new("3"), TERMINAL_ROOM, &shown)
                .await
                .unwrap();
            let never: Vec<String> = store
                .flagged_never_alerted()
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.comment.id.0)
                .collect();
            assert_eq!(never, ["1"]);
        }
    }

    #[tokio::test]
    async fn closing_writes_state_and_audit_line_together_or_not_at_all() {
        for store in stores().await {
            let now = Utc::now();
            let c = comment("1", "general", Source::Discord, false);
            store
                .insert_triaged(&c, &verdict(), CommentState::Alerted, None, now, &[])
                .await
                .unwrap();
            let action = |name: &str| Action {
                comment: c.id.clone(),
                kind: ActionKind::MarkedAnswered,
                moderator_id: Some(name.into()),
                moderator_name: Some(name.into()),
                at: now,
                draft_text: None,
                sent_text: None,
                reply_message_id: None,
            };
            assert!(store
                .close_with_action(Transition::ANSWER, Some("mia"), &action("mia"), &[])
                .await
                .unwrap());
            // A second moderator a moment later: refused, and nothing of theirs is written.
            assert!(!store
                .close_with_action(Transition::ANSWER, Some("lea"), &action("lea"), &[])
                .await
                .unwrap());
            let stored = store.comment(&c.id).await.unwrap().unwrap();
            assert_eq!(stored.state, CommentState::Answered);
            assert_eq!(stored.answered_by.as_deref(), Some("mia"));
            let actions = store.actions_for(&c.id).await.unwrap();
            assert_eq!(actions.len(), 1);
            assert_eq!(actions[0].moderator_name.as_deref(), Some("mia"));
        }
    }

    #[tokio::test]
    async fn escalation_candidates_are_open_unescalated_comments_past_their_labels_cutoff() {
        use crate::triage::LabelScore;
        let store = Store::in_memory().await.unwrap();
        let t0 = Utc::now() - chrono::Duration::hours(5);
        let labelled = |labels: &[Label]| Verdict {
            labels: labels
                .iter()
                .map(|label| LabelScore {
                    label: *label,
                    score: 1.0,
                    rule: crate::rules::RuleId("en.test".into()),
                })
                .collect(),
            ..verdict()
        };
        // (id, minutes after t0, labels, state)
        let rows: [(&str, i64, &[Label], CommentState); 6] = [
            ("old-q", 0, &[Label::Question], CommentState::Alerted),
            (
                "old-c",
                10,
                &[Label::Complaint, Label::Question],
                CommentState::Alerted,
            ),
            ("new-c", 200, &[Label::Complaint], CommentState::Flagged),
            ("new-q", 200, &[Label::Question], CommentState::Flagged),
            ("closed", 0, &[Label::Complaint], CommentState::Answered),
            ("praise", 0, &[Label::Praise], CommentState::Alerted),
        ];
        for (id, minutes, labels, state) in rows {
            let mut c = comment(id, "general", Source::Discord, false);
            c.time = t0 + chrono::Duration::minutes(minutes);
            store
                .insert_triaged(&c, &labelled(labels), state, None, t0, &[])
                .await
                .unwrap();
        }
        let ids = |found: Vec<StoredComment>| -> Vec<String> {
            found.into_iter().map(|s| s.comment.id.0).collect()
        };
        // At t0 + 230 min: complaints written by t0 + 200, questions by t0 + 110.
        let cutoffs = [
            (Label::Complaint, t0 + chrono::Duration::minutes(200)),
            (Label::Question, t0 + chrono::Duration::minutes(110)),
        ];
        let found = store.escalation_candidates(&cutoffs).await.unwrap();
        assert_eq!(ids(found), ["old-q", "old-c", "new-c"]);
        assert!(store.escalation_candidates(&[]).await.unwrap().is_empty());
        let mut oldest = store
            .oldest_unescalated(&[Label::Complaint, Label::Question, Label::Urgent])
            .await
            .unwrap();
        oldest.sort_by_key(|(label, _)| label.as_str());
        assert_eq!(
            oldest,
            [
                (Label::Complaint, t0 + chrono::Duration::minutes(10)),
                (Label::Question, t0)
            ]
        );
        // Escalated: out of both.
        let at = t0 + chrono::Duration::minutes(230);
        for id in ["old-q", "old-c"] {
            let recorded = store
                .record_escalation(&CommentId::new(id), Label::Question, at, at, None, 5)
                .await
                .unwrap();
            assert_eq!(recorded, Some(false));
        }
        let found = store.escalation_candidates(&cutoffs).await.unwrap();
        assert_eq!(ids(found), ["new-c"]);
        let oldest = store.oldest_unescalated(&[Label::Question]).await.unwrap();
        assert_eq!(
            oldest,
            [(Label::Question, t0 + chrono::Duration::minutes(200))]
        );
    }

    #[tokio::test]
    async fn comments_whose_target_reading_can_change_are_read_by_time_and_by_state_change() {
        use crate::triage::LabelScore;
        let t0 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, 9, 0, 0).unwrap();
        let minutes = |m: i64| t0 + chrono::Duration::minutes(m);
        let labelled = |label: Label| Verdict {
            labels: vec![LabelScore {
                label,
                score: 1.0,
                rule: crate::rules::RuleId("en.test".into()),
            }],
            ..verdict()
        };
        // (id, written minutes after t0, label, alert shown at t0 + 60, answered at t0 + 120)
        let rows = [
            ("in-c", 10, Label::Complaint, true, false),
            ("edge", 15, Label::Complaint, true, false),
            ("q-in-c-band", 10, Label::Question, true, false),
            ("q", 55, Label::Question, true, false),
            ("no-alert", 10, Label::Complaint, false, false),
            ("after", 30, Label::Complaint, true, false),
            ("closed", 10, Label::Complaint, true, true),
        ];
        let ids = |found: Vec<StoredComment>| -> Vec<String> {
            found.into_iter().map(|s| s.comment.id.0).collect()
        };
        for store in stores().await {
            for (id, written, label, shown, answered) in rows {
                let mut c = comment(id, "general", Source::Discord, false);
                c.time = minutes(written);
                store
                    .insert_triaged(&c, &labelled(label), CommentState::Flagged, None, t0, &[])
                    .await
                    .unwrap();
                if shown {
                    let alert = AlertRef {
                        channel: "mods".into(),
                        message: id.into(),
                        posted_at: minutes(60),
                    };
                    store
                        .set_alert_and_transition(
                            &c.id,
                            TERMINAL_ROOM,
                            &alert,
                            Transition::ALERT,
                            minutes(60),
                        )
                        .await
                        .unwrap();
                }
                if answered {
                    store
                        .transition(&c.id, Transition::ANSWER, minutes(120))
                        .await
                        .unwrap();
                }
            }
            // Open, shown, written within a band (ends included) and carrying its label.
            let bands = [
                (Label::Complaint, minutes(5), minutes(15)),
                (Label::Question, minutes(50), minutes(60)),
            ];
            let found = store.alerted_in_bands(&bands).await.unwrap();
            assert_eq!(ids(found), ["in-c", "edge", "q"]);
            assert!(store.alerted_in_bands(&[]).await.unwrap().is_empty());
            // Changed at or after a moment, open or closed, oldest first.
            let changed = store.state_changed_since(minutes(120)).await.unwrap();
            assert_eq!(ids(changed), ["closed"]);
            let changed = store.state_changed_since(minutes(60)).await.unwrap();
            assert_eq!(
                ids(changed),
                ["closed", "in-c", "q-in-c-band", "edge", "after", "q"]
            );
            let everything = store.state_changed_since(t0).await.unwrap();
            assert_eq!(everything.len(), rows.len());
        }
    }

    #[tokio::test]
    async fn a_checkpoint_never_moves_back() {
        for store in stores().await {
            let ch = ChannelId::new("7");
            let now = Utc::now();
            assert_eq!(store.checkpoint(&ch).await.unwrap(), None);
            store.advance_checkpoint(&ch, "900", now).await.unwrap();
            store.advance_checkpoint(&ch, "1000", now).await.unwrap();
            store.advance_checkpoint(&ch, "999", now).await.unwrap();
            assert_eq!(
                store.checkpoint(&ch).await.unwrap().as_deref(),
                Some("1000")
            );
        }
    }

    /// A flagged comment stored in `store`.
    async fn flagged(store: &Store, now: DateTime<Utc>) -> Comment {
        let c = comment("1", "general", Source::Discord, false);
        store
            .insert_triaged(&c, &verdict(), CommentState::Flagged, None, now, &[])
            .await
            .unwrap();
        c
    }

    /// The row that posts `c`'s alert in a Discord channel.
    fn alert_row(c: &Comment, channel: &str) -> NewOutbox {
        NewOutbox {
            destination: Destination::Discord,
            channel: channel.into(),
            payload: crate::outbox::Payload::Alert {
                comment: c.id.clone(),
            },
        }
    }

    #[tokio::test]
    async fn a_duty_is_held_by_one_process_until_its_lease_runs_out_then_taken_over() {
        for (a, b, _dir) in shared_stores().await {
            let lease = 30_000;
            assert_eq!(
                a.claim_duty("announce", "a", 1_000, lease).await.unwrap(),
                DutyClaim::Taken
            );
            assert_eq!(
                b.claim_duty("announce", "b", 2_000, lease).await.unwrap(),
                DutyClaim::Refused
            );
            assert_eq!(
                a.claim_duty("announce", "a", 20_000, lease).await.unwrap(),
                DutyClaim::Renewed
            );
            // Renewed at 20 s: still a's at 45 s, b's once a stopped renewing.
            assert_eq!(
                b.claim_duty("announce", "b", 45_000, lease).await.unwrap(),
                DutyClaim::Refused
            );
            assert_eq!(
                b.claim_duty("announce", "b", 50_000, lease).await.unwrap(),
                DutyClaim::TakenOver {
                    from: "a".into(),
                    until_ms: 50_000
                }
            );
            assert_eq!(
                a.claim_duty("announce", "a", 51_000, lease).await.unwrap(),
                DutyClaim::Refused
            );
            // A graceful stop hands it over at once.
            assert!(b.release_duty("announce", "b").await.unwrap());
            assert_eq!(
                a.claim_duty("announce", "a", 52_000, lease).await.unwrap(),
                DutyClaim::Taken
            );
        }
    }

    #[tokio::test]
    async fn two_processes_asking_for_a_free_duty_at_once_get_it_once() {
        for (a, b, _dir) in shared_stores().await {
            for round in 0..20 {
                let name = format!("duty-{round}");
                let (x, y) = tokio::join!(
                    a.claim_duty(&name, "a", 1_000, 30_000),
                    b.claim_duty(&name, "b", 1_000, 30_000)
                );
                let held = [x.unwrap().held(), y.unwrap().held()];
                assert_eq!(held.iter().filter(|h| **h).count(), 1, "{name}: {held:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_queued_write_claimed_by_two_processes_at_once_goes_to_one() {
        for (a, b, _dir) in shared_stores().await {
            let now = Utc::now();
            let c = flagged(&a, now).await;
            let mut ids = Vec::new();
            for channel in 0..10 {
                let row = alert_row(&c, &format!("mods-{channel}"));
                ids.push(a.enqueue(&row, now).await.unwrap().unwrap());
            }
            for id in ids {
                let (x, y) = tokio::join!(
                    a.outbox_claim(id, 1_000, 30_000),
                    b.outbox_claim(id, 1_000, 30_000)
                );
                let won = [x.unwrap().is_some(), y.unwrap().is_some()];
                assert_eq!(won.iter().filter(|w| **w).count(), 1, "{id:?}: {won:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_room_gets_one_alert_on_its_way_per_comment_whoever_queues_it() {
        for (a, b, _dir) in shared_stores().await {
            let now = Utc::now();
            let c = flagged(&a, now).await;
            let row = alert_row(&c, "mods");
            let (x, y) = tokio::join!(a.enqueue(&row, now), b.enqueue(&row, now));
            let queued = [x.unwrap().is_some(), y.unwrap().is_some()];
            assert_eq!(queued.iter().filter(|q| **q).count(), 1, "{queued:?}");
            assert_eq!(a.outbox_for(&c.id).await.unwrap().len(), 1);
        }
    }
}
