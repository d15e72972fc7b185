//! The real application for a test, built the way `main` builds it ([`App::build`]): settings
//! from `config/default.toml` with `ASCOLTO__...` overrides, the one fixture rule library
//! (`tests/fixtures/rules`, copied into the test's own folder so a test may break it), a
//! fresh database (a SQLite file in that folder, or a new PostgreSQL database for the tests
//! [`on_both_stores!`] runs there), and a clock the test moves by hand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use ascolto::app::App;
use ascolto::clock::{Clock, ManualClock};
use ascolto::config::Settings;

/// Friday 20 November 2026, 09:00 UTC: the day the flow tests play out.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

/// The committed fixture library.
pub fn fixture_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules")
}

/// Copies the fixture library into `to` (created if needed).
pub fn copy_fixture_rules(to: &Path) {
    copy_dir(&fixture_rules(), to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The committed `config/default.toml` with `env` applied as `ASCOLTO__...` variables would be.
pub fn settings(env: &[(&str, &str)]) -> Settings {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::load_with_env(&dir, Some(env)).expect("test settings")
}

tokio::task_local! {
    /// The PostgreSQL server the running test stores its data on (set by [`on_postgres`]);
    /// unset, tests use SQLite.
    static POSTGRES: String;
}

/// Runs a test with its store on PostgreSQL: every [`TestDir`] it makes gets a new database on
/// the server named by `ASCOLTO_TEST_POSTGRES_URL`. Without one the test is skipped, saying so,
/// except under CI, where that is a failure.
pub async fn on_postgres(test: impl std::future::Future<Output = ()>) {
    if let Some(server) = ascolto::store::testing::postgres_server() {
        POSTGRES.scope(server, test).await;
    }
}

/// Makes each named `async fn` test two tests, `NAME::sqlite` and `NAME::postgres`: the same
/// flow on each store.
/// `on_both_stores!(multi_thread: …)` runs them on a two-thread runtime, for tests whose
/// fakes and bot run side by side.
#[macro_export]
macro_rules! on_both_stores {
    (multi_thread: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name().await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::support::app::on_postgres(super::$name()).await
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name().await
                }

                #[tokio::test]
                async fn postgres() {
                    $crate::support::app::on_postgres(super::$name()).await
                }
            }
        )*
    };
}

/// A new database on `server`, made on a thread of its own: [`TestDir::new`] is not async.
fn fresh_postgres(server: &str) -> String {
    let server = server.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(ascolto::store::testing::fresh_postgres_database(&server))
            .expect("a new PostgreSQL database for the test")
    })
    .join()
    .unwrap()
}

/// A test's folder with its copy of the fixture library, and its database.
pub struct TestDir {
    pub dir: tempfile::TempDir,
    db: String,
}

impl TestDir {
    pub fn new() -> TestDir {
        let dir = tempfile::tempdir().unwrap();
        copy_fixture_rules(&dir.path().join("rules"));
        let db = match POSTGRES.try_with(|server| server.clone()) {
            Ok(server) => fresh_postgres(&server),
            Err(_) => format!("sqlite://{}", dir.path().join("data/test.db").display()),
        };
        TestDir { dir, db }
    }

    pub fn rules(&self) -> PathBuf {
        self.dir.path().join("rules")
    }

    /// The database URL (a SQLite file is created on first use).
    pub fn db(&self) -> String {
        self.db.clone()
    }

    /// Settings pointing at this folder's library and database, then `env` on top.
    pub fn settings(&self, env: &[(&str, &str)]) -> Settings {
        let rules = self.rules().display().to_string();
        let db = self.db();
        let mut all = vec![
            ("ASCOLTO__RULES__DIR", rules.as_str()),
            ("ASCOLTO__STORE__URL", db.as_str()),
        ];
        all.extend_from_slice(env);
        settings(&all)
    }

    /// Builds the application on this folder, as `main` does.
    pub async fn app(&self, env: &[(&str, &str)], clock: Arc<dyn Clock>) -> App {
        App::build(self.settings(env), clock).await.expect("app")
    }
}

/// A built application on a fresh folder, with its hand-moved clock at [`t0`].
pub struct TestApp {
    pub dir: TestDir,
    pub clock: ManualClock,
    pub app: App,
}

impl TestApp {
    pub async fn start(env: &[(&str, &str)]) -> TestApp {
        let dir = TestDir::new();
        let clock = ManualClock::new(t0());
        let app = dir.app(env, Arc::new(clock.clone())).await;
        TestApp { dir, clock, app }
    }
}

/// `ascolto run` as an operator starts it, in the project folder (the committed
/// `config/default.toml`), on a [`TestDir`]'s library and database, with the status server
/// (`/readyz`, `/metrics`) on a free port of 127.0.0.1 and `env` on top. Its output goes to a
/// file in the folder (a pipe nobody reads would stall a chatty process). The process is
/// killed if the test ends before stopping it.
pub struct AscoltoRun {
    child: Option<std::process::Child>,
    log: PathBuf,
    /// `127.0.0.1:PORT` of its status server.
    pub listen: String,
}

impl AscoltoRun {
    /// Starts `ascolto run`; `name` tells apart the logs of several processes in one folder.
    /// No token or `RUST_LOG` is inherited from the test's environment: `env` gives them.
    pub fn start(dir: &TestDir, name: &str, env: &[(&str, &str)]) -> AscoltoRun {
        // A free port, taken back from the OS the moment it is released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let log = dir.dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ascolto"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("run")
            .env("ASCOLTO__HTTP__ALWAYS", "true")
            .env("ASCOLTO__HTTP__LISTEN", &listen)
            .env("ASCOLTO__STORE__URL", dir.db())
            .env("ASCOLTO__RULES__DIR", dir.rules())
            .env_remove("DISCORD_TOKEN")
            .env_remove("TELEGRAM_TOKEN")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let child = cmd.spawn().expect("run ascolto");
        AscoltoRun {
            child: Some(child),
            log,
            listen,
        }
    }

    /// What the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /readyz`: status and body, or `None` while nothing answers.
    pub async fn readyz(&self) -> Option<(u16, String)> {
        let response = reqwest::get(format!("http://{}/readyz", self.listen))
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.unwrap_or_default()))
    }

    /// Waits (up to `timeout`) until `/readyz` answers 200; panics with the log otherwise.
    pub async fn wait_ready(&self, timeout: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((200, _)) = self.readyz().await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/readyz at {} never answered 200; the log:\n{}",
                self.listen,
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Asks for a graceful stop (SIGTERM, as a service manager does) and waits for the end;
    /// returns whether it exited successfully, and its log.
    pub async fn stop(mut self) -> (bool, String) {
        let child = self.child.take().expect("running");
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success(), "the process was already gone");
        self.wait_end(child).await
    }

    /// The process id (what the store's `duties` table names its holders by).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Kills the process at once (SIGKILL: a crash, a lost machine): nothing of it runs after
    /// this returns. Returns its log.
    pub async fn kill(mut self) -> String {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill");
        self.wait_end(child).await.1
    }

    /// Waits for the process to end by itself (a start that fails).
    pub async fn exit(mut self) -> (bool, String) {
        let child = self.child.take().expect("running");
        self.wait_end(child).await
    }

    async fn wait_end(&self, mut child: std::process::Child) -> (bool, String) {
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("ascolto ends");
        (status.success(), self.log())
    }
}

impl Drop for AscoltoRun {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
