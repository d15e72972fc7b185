//! The command line as a user meets it: exit codes and the lines people read.

use std::path::Path;
use std::process::{Command, Output};

fn ascolto(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ascolto"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("RUST_LOG");
    cmd.output().expect("run ascolto")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `ascolto replay FILE` with the default configuration, which must succeed: its output.
fn replayed(file: &Path) -> String {
    let out = ascolto(&["replay", file.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The alert lines of a replay's output.
fn alert_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.contains(" ⚑ ")).collect()
}

const TEMPLATE: &str = "[[template]]\nid = \"t\"\n[template.en]\nwordings = [\"Hi {author}\"]\n[template.it]\nwordings = [\"Ciao {author}\"]\n";

fn broken_library(dir: &Path) {
    std::fs::create_dir_all(dir.join("en")).unwrap();
    std::fs::write(dir.join("templates.toml"), TEMPLATE).unwrap();
    std::fs::write(
        dir.join("en/complaints.toml"),
        "# a comment line\n[[rule]]\nid = \"en.complaint.refund\"\nlabels = [\"complaint\"]\ntemplates = [\"t\"]\n[rule.any]\nwords = [\"refund\"]\npatterns = [\"money (back\"]\n",
    )
    .unwrap();
}

#[test]
fn rules_check_reports_a_broken_regex_with_file_line_rule_and_position() {
    let dir = tempfile::tempdir().unwrap();
    broken_library(dir.path());
    let out = ascolto(&["rules", "check", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].contains("en/complaints.toml:8: rule `en.complaint.refund`: field `any.patterns[0]`: invalid regex at position 7: unclosed group"), "{stdout}");
}

#[test]
fn start_up_fails_on_a_broken_library_naming_file_rule_and_position() {
    let dir = tempfile::tempdir().unwrap();
    broken_library(dir.path());
    let out = ascolto(
        &["replay", "examples/comments.jsonl"],
        &[("ASCOLTO__RULES__DIR", dir.path().to_str().unwrap())],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("complaints.toml:8"), "{stderr}");
    assert!(stderr.contains("en.complaint.refund"), "{stderr}");
    assert!(stderr.contains("position 7"), "{stderr}");
}

#[test]
fn a_config_typo_stops_start_up_naming_the_key() {
    let out = ascolto(&["rules", "check"], &[("ASCOLTO__STORE__URLL", "x")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("urll"), "{}", text(&out.stderr));
}

#[test]
fn replay_skips_a_malformed_line_and_replays_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("day.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id":"1","time":"2026-11-20T09:00:00Z","channel":"general","author":"ann","text":"hello"}"#,
            "\n",
            r#"{"id":"2","time":"not a time","channel":"general","author":"bob","text":"hi"}"#,
            "\n",
            r#"{"id":"3","time":"2026-11-20T09:05:00Z","channel":"general","author":"cy","text":"hey"}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = ascolto(&["replay", file.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("day.jsonl:2:"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("2 comments"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn eval_ends_with_the_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.csv");
    std::fs::write(
        &file,
        "id,text,label\na,\"How do I reset my password\",1\nb,nice stream,0\n",
    )
    .unwrap();
    let out = ascolto(
        &[
            "eval",
            "--task",
            "question",
            "--data",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap();
    let shape = regex::Regex::new(
        r"^macro_f1=\d\.\d{3} f1=\d\.\d{3} precision=\d\.\d{3} recall=\d\.\d{3} n=2$",
    )
    .unwrap();
    assert!(shape.is_match(last), "{last}");
}

#[test]
fn rules_stats_lists_each_rule_with_rows_fired_and_precision() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.csv");
    std::fs::write(
        &file,
        "id,text,label\na,\"How do I reset my password\",1\nb,is the shop open today?,1\nc,what a day?!,0\nd,nice stream,0\n",
    )
    .unwrap();
    let data = file.to_str().unwrap();
    let out = ascolto(
        &[
            "rules", "stats", "--task", "question", "--data", data, "--terms",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("4 rows, 2 positive (50.0%)"), "{stdout}");
    // The question mark fires on two rows, one of them a question.
    let mark = stdout
        .lines()
        .find(|l| l.starts_with("common.question.mark"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let fields: Vec<&str> = mark.split_whitespace().collect();
    assert_eq!(&fields[1..3], ["2", "0.50"], "{mark}");
    assert!(mark.ends_with("fits few rows"), "{mark}");

    let out = ascolto(
        &["rules", "stats", "--task", "unanswered", "--data", data],
        &[],
    );
    assert!(!out.status.success());
}

#[test]
fn eval_names_the_line_of_a_bad_label() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.csv");
    std::fs::write(&file, "id,text,label\na,hello,1\nb,hi,yes\n").unwrap();
    let out = ascolto(
        &[
            "eval",
            "--task",
            "question",
            "--data",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("set.csv:3"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_demo_shows_flags_and_drafts_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let out = ascolto(&["demo", "--db", &db], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // An English complaint with its rule, matched words and an English draft.
    assert!(
        stdout.contains("⚑ complaint — hannah.k in #support"),
        "{stdout}"
    );
    assert!(
        stdout.contains("why: en.complaint.delivery (delivery): \"still not here\""),
        "{stdout}"
    );
    // An Italian complaint answered in Italian.
    assert!(
        stdout.contains("⚑ complaint — lucia_f in #support"),
        "{stdout}"
    );
    assert!(stdout.contains("colore sbagliato"), "{stdout}");
    // Facebook and Instagram comments say where they were written.
    assert!(
        stdout.contains("⚑ complaint — Nora Lindqvist in Facebook · Acme Shop"),
        "{stdout}"
    );
    assert!(
        stdout.contains("⚑ question — @giulia.p in Instagram · @acme"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✓ Acme Shop answered Pietro Ferri's comment in Facebook · Acme Shop"),
        "{stdout}"
    );
    // Staff replies close comments; the repeated line is ignored; closing thanks are not flagged.
    assert!(
        stdout.contains("✓ sam_staff answered hannah.k's comment"),
        "{stdout}"
    );
    assert!(stdout.contains("1 duplicates ignored"), "{stdout}");
    assert!(
        !stdout.contains("kofi in"),
        "closing thanks were flagged: {stdout}"
    );
    // The day ends with its digest.
    assert!(stdout.contains("Ascolto digest"), "{stdout}");
    assert!(stdout.contains("Unanswered now:"), "{stdout}");
}

fn comment_line(id: &str, time: &str, text: &str) -> String {
    format!(r#"{{"id":"{id}","time":"{time}","channel":"general","author":"ann","text":"{text}"}}"#)
}

#[test]
fn replay_survives_bad_bytes_a_byte_order_mark_bad_times_and_disorder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("day.jsonl");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    for line in [
        comment_line("1", "2026-11-20T09:00:00Z", "hello"),
        comment_line("2", "2026-11-20T09:01:00Z", "caf\u{e9}"),
        comment_line("3", "9999-12-31T23:59:59Z", "far future"),
        comment_line("4", "2026-11-20T09:05:00Z", "hey"),
        comment_line("5", "2026-11-20T09:02:00Z", "late line"),
    ] {
        bytes.extend(line.into_bytes());
        bytes.push(b'\n');
    }
    // Line 2 as a Latin-1 editor would save it: é as the single byte 0xE9.
    let e_acute = bytes.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    bytes.splice(e_acute..e_acute + 2, [0xE9]);
    std::fs::write(&file, bytes).unwrap();
    let out = ascolto(&["replay", file.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("day.jsonl:2: not valid UTF-8"), "{stderr}");
    assert!(
        stderr.contains("day.jsonl:3: field `time`: 9999-12-31T23:59:59Z is out of range"),
        "{stderr}"
    );
    assert!(
        stderr.contains("day.jsonl:5: comment `5` at 2026-11-20T09:02:00+00:00 is earlier than the comment before it: replayed at 2026-11-20T09:05:00+00:00"),
        "{stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("── 3 comments,")
            && stdout.contains("2 lines skipped, 1 comments out of time order"),
        "{stdout}"
    );
}

#[test]
fn a_comment_the_tracker_fails_on_is_reported_and_the_replay_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("drill.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        ascolto::store::Store::connect(&db).await.unwrap();
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
            .await
            .unwrap();
        // A drill: the database refuses this one comment, as a full disk or a corrupt page
        // would refuse a write.
        sqlx::query(
            "CREATE TRIGGER refuse_c2 BEFORE INSERT ON comments WHEN NEW.id = 'c2'
             BEGIN SELECT RAISE(ABORT, 'drill: refused'); END",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    let file = dir.path().join("day.jsonl");
    let lines = [
        comment_line("c1", "2026-11-20T09:00:00Z", "hello"),
        comment_line("c2", "2026-11-20T09:01:00Z", "my order is still not here"),
        comment_line("c3", "2026-11-20T09:02:00Z", "hey"),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = ascolto(&["replay", file.to_str().unwrap(), "--db", &db], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "day.jsonl:2: comment `c2` could not be processed (database {db}; recorded; replaying the file again into this database tries it again):"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("drill: refused"), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("── 2 comments,") && stdout.contains("1 comments could not be processed"),
        "{stdout}"
    );
    // The digest of that day counts it.
    let digest = ascolto(
        &["digest", "--db", &db, "--at", "2026-11-20T12:00:00Z"],
        &[],
    );
    assert!(digest.status.success(), "{}", text(&digest.stderr));
    assert!(
        text(&digest.stdout).contains("Comments not processed: 1"),
        "{}",
        text(&digest.stdout)
    );
    // Once the database accepts it, replaying the file again takes it in, and only it.
    runtime.block_on(async {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
            .await
            .unwrap();
        sqlx::query("DROP TRIGGER refuse_c2")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let again = ascolto(&["replay", file.to_str().unwrap(), "--db", &db], &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let stdout = text(&again.stdout);
    assert!(
        stdout.contains("1 flagged") && stdout.contains("2 duplicates ignored"),
        "{stdout}"
    );
}

#[test]
fn a_replayed_question_is_alerted_at_the_end_of_its_grace_unless_answered_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("day.jsonl");
    let lines = [
        r#"{"id":"q1","time":"2026-11-20T09:00:00Z","channel":"general","author":"ann","text":"How do I change my password?"}"#,
        r#"{"id":"q2","time":"2026-11-20T09:01:00Z","channel":"general","author":"bob","text":"Does anyone know when the shop opens?"}"#,
        r#"{"id":"a2","time":"2026-11-20T09:04:00Z","channel":"general","author":"sam","staff":true,"reply_to":"q2","text":"At nine, Bob."}"#,
        r#"{"id":"c1","time":"2026-11-20T09:05:00Z","channel":"support","author":"cleo","text":"My order never arrived and nobody answers my emails"}"#,
        r#"{"id":"n1","time":"2026-11-20T09:30:00Z","channel":"general","author":"dan","text":"good morning all"}"#,
        r#"{"id":"q3","time":"2026-11-20T09:31:00Z","channel":"general","author":"eve","text":"How do I link my account to the app?"}"#,
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let stdout = replayed(&file);
    let alerts = alert_lines(&stdout);
    // The complaint at once; ann's question 10 minutes after it was asked; bob's, answered
    // within its grace, never; eve's grace had not run out when the file ended.
    assert_eq!(alerts.len(), 2, "{stdout}");
    assert!(
        alerts[0].starts_with("[09:05] ⚑ complaint") && alerts[0].contains("cleo"),
        "{stdout}"
    );
    assert!(
        alerts[1].starts_with("[09:10] ⚑ question — ann"),
        "{stdout}"
    );
    assert!(!stdout.contains("— bob"), "{stdout}");
    assert!(
        stdout.contains("1 questions still within their grace (not alerted yet)"),
        "{stdout}"
    );
    // A grace of 0s alerts every question at once.
    let out = ascolto(
        &["replay", file.to_str().unwrap()],
        &[("ASCOLTO__SLA__QUESTION_GRACE", "0s")],
    );
    let stdout = text(&out.stdout);
    assert_eq!(alert_lines(&stdout).len(), 4, "{stdout}");
}

#[test]
fn a_bare_nudge_is_settled_with_the_question_it_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nudges.jsonl");
    let lines = [
        r#"{"id":"q1","time":"2026-11-20T09:00:00Z","channel":"general","author":"ann","text":"How do I export my photos?"}"#,
        r#"{"id":"n1","time":"2026-11-20T09:03:00Z","channel":"general","author":"ann","text":"anyone?"}"#,
        r#"{"id":"a1","time":"2026-11-20T09:06:00Z","channel":"general","author":"sam","staff":true,"text":"ann: Settings > Export, top right"}"#,
        r#"{"id":"q2","time":"2026-11-20T09:20:00Z","channel":"general","author":"bob","text":"Where can I see my invoices?"}"#,
        r#"{"id":"n2","time":"2026-11-20T09:24:00Z","channel":"general","author":"bob","text":"hello? anybody"}"#,
        r#"{"id":"q3","time":"2026-11-20T09:40:00Z","channel":"general","author":"cleo","text":"Is the app down for anyone else?"}"#,
        r#"{"id":"n3","time":"2026-11-20T09:41:00Z","channel":"general","author":"cleo","text":"anyone??"}"#,
        r#"{"id":"a3","time":"2026-11-20T09:43:00Z","channel":"general","author":"sam","staff":true,"text":"cleo: back up now, sorry about that"}"#,
        r#"{"id":"n4","time":"2026-11-20T10:30:00Z","channel":"general","author":"dan","text":"good morning all"}"#,
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let stdout = replayed(&file);
    let alerts = alert_lines(&stdout);
    // Ann's "anyone?" is her question again: answered within its grace, neither alerts.
    // Bob's question is alerted once, at the replay's first check after its grace (the checks
    // run every 5 minutes from his nudge), not again for "hello? anybody". Cleo's "anyone??" is
    // impatience, alerted at once; the answer to her question settles it too, so it is not
    // left waiting in the digest.
    assert_eq!(alerts.len(), 2, "{stdout}");
    assert!(
        alerts[0].starts_with("[09:34] ⚑ question — bob"),
        "{stdout}"
    );
    assert!(
        alerts[1].starts_with("[09:41] ⚑ complaint, question — cleo"),
        "{stdout}"
    );
    assert!(
        stdout.contains("answered cleo's comment in #general (n3)"),
        "{stdout}"
    );
    assert!(stdout.contains("Unanswered now: 1\n"), "{stdout}");
    assert!(!stdout.contains("⛔"), "no target missed: {stdout}");
}

#[test]
fn a_gap_of_decades_between_comments_is_crossed_without_stepping_through_it() {
    // Before, the replay checked targets every 5 replayed minutes through the gap: about
    // 7.7 million checks here. Now it goes from deadline to deadline.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gap.jsonl");
    let lines = [
        comment_line("c1", "2026-11-20T09:00:00Z", "my order is still not here"),
        comment_line("c2", "2099-11-20T09:00:00Z", "hello again"),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let started = std::time::Instant::now();
    let stdout = replayed(&file);
    assert!(
        stdout.contains("[09:30] ⛔ target 30 min missed by 0 min"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 targets missed and escalated"),
        "{stdout}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn a_store_error_names_the_database_and_says_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    let db = format!("sqlite://{}", path.display());
    let out = ascolto(&["replay", "examples/comments.jsonl", "--db", &db], &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot open the database {db}"))
            || stderr.contains(&format!("cannot prepare the database {db}")),
        "{stderr}"
    );
    assert_eq!(stderr.matches("not a database").count(), 1, "{stderr}");
    assert!(stderr.contains("restore a backup"), "{stderr}");
}

#[test]
fn an_empty_file_is_taken_as_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    std::fs::write(&path, "").unwrap();
    let db = format!("sqlite://{}", path.display());
    let out = ascolto(&["replay", "examples/comments.jsonl", "--db", &db], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is an empty file: treating it as a new database"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn digest_reads_a_database_without_writing_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.db");
    let db = format!("sqlite://{}", path.display());
    let out = ascolto(&["replay", "examples/comments.jsonl", "--db", &db], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&path, permissions).unwrap();
    let digest = ["digest", "--db", &db, "--at", "2026-11-20T22:30:00Z"];
    let out = ascolto(&digest, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Unanswered now: 25"),
        "{}",
        text(&out.stdout)
    );
    // A database that does not exist is not created by reading it.
    let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
    let out = ascolto(&["digest", "--db", &missing], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!("cannot open the database {missing}")),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("missing.db").exists());
}

#[test]
fn digest_refuses_a_schema_older_than_it_reads_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("old.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        ascolto::store::Store::connect(&db).await.unwrap();
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
            .await
            .unwrap();
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let out = ascolto(&["digest", "--db", &db], &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("the database {db} has an older schema")),
        "{stderr}"
    );
    // One migration short of what this binary reads, whichever the newest is (numbers may
    // skip: branches number their migrations ahead of merging).
    let mut versions: Vec<u32> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.split('_').next().and_then(|n| n.parse().ok())
            })
            .collect();
    versions.sort_unstable();
    let (previous, newest) = (versions[versions.len() - 2], versions[versions.len() - 1]);
    assert!(
        stderr.contains(&format!("it has migration {previous}, needs {newest}")),
        "{stderr}"
    );
}

#[test]
fn a_replay_waits_for_another_process_holding_the_lock() {
    // Longer than the old 5 s busy timeout, which aborted the replay.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("busy.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        ascolto::store::Store::connect(&db).await.unwrap();
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
            .await
            .unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut conn)
            .await
            .unwrap();
        let replay = tokio::task::spawn_blocking({
            let db = db.clone();
            move || ascolto(&["replay", "examples/comments.jsonl", "--db", &db], &[])
        });
        tokio::time::sleep(std::time::Duration::from_secs(7)).await;
        sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
        let out = replay.await.unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("another process probably holds its lock; waiting for it"),
            "{stderr}"
        );
        // Every line of the day that is not a `//` comment, whoever added lines to it.
        let lines = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/comments.jsonl"
        ))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"))
        .count();
        assert!(
            text(&out.stdout).contains(&format!("── {lines} comments")),
            "{}",
            text(&out.stdout)
        );
    });
}
