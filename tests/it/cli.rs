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
