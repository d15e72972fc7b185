//! Measuring detection quality on labelled data (`ascolto eval`).
//!
//! Reads `id,text,label` CSV files, runs each text through the same triage the bot uses and
//! compares the predicted label with the gold one. `--explain` lists the mistakes with the
//! rules that fired, so a community manager can see what to change in the library.

use std::path::Path;

use chrono::{TimeZone, Utc};

use std::collections::HashMap;

use crate::comment::{Author, Comment, Place, Source};
use crate::explain;
use crate::rules::{Label, Library, Rule};
use crate::triage::{triage, TriageOptions, Verdict};

/// What is being predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// The comment is a complaint.
    Complaint,
    /// The comment is a question.
    Question,
    /// The comment is negative (a complaint or negative tone).
    Negative,
    /// Replays a chat stream (JSONL) and scores the questions nobody else answered.
    Unanswered,
}

impl std::str::FromStr for Task {
    type Err = String;

    fn from_str(name: &str) -> Result<Task, String> {
        match name {
            "complaint" => Ok(Task::Complaint),
            "question" => Ok(Task::Question),
            "negative" => Ok(Task::Negative),
            "unanswered" => Ok(Task::Unanswered),
            other => Err(format!(
                "unknown task `{other}`: use complaint, question, negative or unanswered"
            )),
        }
    }
}

impl Task {
    /// Whether the verdict predicts the positive class of this task.
    pub fn predicts(self, verdict: &Verdict) -> bool {
        match self {
            Task::Complaint => verdict.has(Label::Complaint),
            Task::Question => verdict.has(Label::Question),
            Task::Negative => verdict.has(Label::Complaint) || verdict.has(Label::Negative),
            // Not a per-comment label: scored by `answer::eval` over a whole stream.
            Task::Unanswered => false,
        }
    }

    /// The labels that make a comment positive for this task.
    pub fn labels(self) -> &'static [Label] {
        match self {
            Task::Complaint => &[Label::Complaint],
            Task::Question => &[Label::Question],
            Task::Negative => &[Label::Complaint, Label::Negative],
            Task::Unanswered => &[],
        }
    }

    /// What a rule is to this task: gives its label, cancels it, or neither.
    pub fn role_of(self, rule: &Rule) -> RuleRole {
        let labels = self.labels();
        if rule.labels.iter().any(|l| labels.contains(l)) {
            RuleRole::Gives
        } else if rule.suppresses.iter().any(|l| labels.contains(l)) {
            RuleRole::Cancels
        } else {
            RuleRole::Other
        }
    }
}

/// How a rule bears on a task's prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleRole {
    /// It carries a label the task predicts (`question` for questions...).
    Gives,
    /// It suppresses such a label (closing thanks cancel `question`).
    Cancels,
    /// Neither: it does not change this task's prediction.
    Other,
}

/// Why an evaluation file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}:{line}: {message}")]
    Row {
        path: String,
        line: u64,
        message: String,
    },
}

/// One labelled example.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub text: String,
    pub label: bool,
}

/// Reads a CSV with header `id,text,label` (label 1 or 0).
pub fn read_csv(path: &Path) -> Result<Vec<Row>, EvalError> {
    let name = path.display().to_string();
    let mut reader = csv::Reader::from_path(path).map_err(|e| EvalError::Read {
        path: name.clone(),
        message: e.to_string(),
    })?;
    let headers = reader.headers().map_err(|e| EvalError::Read {
        path: name.clone(),
        message: e.to_string(),
    })?;
    if headers.iter().collect::<Vec<_>>() != ["id", "text", "label"] {
        return Err(EvalError::Row {
            path: name,
            line: 1,
            message: "the header must be `id,text,label`".into(),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| EvalError::Read {
            path: name.clone(),
            message: e.to_string(),
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let label = match record.get(2).map(str::trim) {
            Some("1") => true,
            Some("0") => false,
            other => {
                return Err(EvalError::Row {
                    path: name,
                    line,
                    message: format!("field `label` must be 1 or 0, found {other:?}"),
                })
            }
        };
        rows.push(Row {
            id: record.get(0).unwrap_or_default().to_owned(),
            text: record.get(1).unwrap_or_default().to_owned(),
            label,
        });
    }
    Ok(rows)
}

/// Counts of a binary classification: every eval task (labels on rows, unanswered questions
/// in a stream) is scored with this one matrix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

impl Confusion {
    /// Counts one example: what the data says, then what Ascolto predicted.
    pub fn add(&mut self, gold: bool, predicted: bool) {
        match (gold, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    pub fn n(&self) -> usize {
        self.tp + self.fp + self.fn_ + self.tn
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// F1 of the positive class.
    pub fn f1(&self) -> f64 {
        f1(self.precision(), self.recall())
    }

    /// F1 of the negative class (the positive class with the labels swapped).
    pub fn f1_negative(&self) -> f64 {
        f1(
            ratio(self.tn, self.tn + self.fn_),
            ratio(self.tn, self.tn + self.fp),
        )
    }

    /// Mean of the two classes' F1, as reported in the literature for these sets.
    pub fn macro_f1(&self) -> f64 {
        (self.f1() + self.f1_negative()) / 2.0
    }

    /// `f1=0.000 precision=0.000 recall=0.000 n=0`: the positive class alone, for tasks whose
    /// negative class is not of interest (questions nobody answered).
    pub fn positive_summary_line(&self) -> String {
        format!(
            "f1={:.3} precision={:.3} recall={:.3} n={}",
            self.f1(),
            self.precision(),
            self.recall(),
            self.n()
        )
    }

    /// The one summary line scripts read.
    pub fn summary_line(&self) -> String {
        format!(
            "macro_f1={:.3} f1={:.3} precision={:.3} recall={:.3} n={}",
            self.macro_f1(),
            self.f1(),
            self.precision(),
            self.recall(),
            self.n()
        )
    }
}

/// A wrong prediction, with what fired.
#[derive(Debug, Clone)]
pub struct Mistake {
    pub id: String,
    pub text: String,
    pub gold: bool,
    /// Rules that fired and the words that fired them ([`explain::why`]).
    pub fired: Vec<String>,
    /// Ids of the fired rules that give or cancel the task's label, strongest first.
    pub rules: Vec<String>,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub confusion: Confusion,
    pub mistakes: Vec<Mistake>,
}

/// The comment an evaluation row is triaged as: a member's post in a public channel.
pub fn row_comment(row: &Row) -> Comment {
    Comment::new(
        row.id.clone(),
        Source::Replay,
        Place::channel("eval", "eval"),
        Author::member("eval", "member"),
        row.text.clone(),
        Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
    )
}

/// Runs every row through triage and scores the task.
pub fn evaluate(task: Task, rows: &[Row], library: &Library, options: &TriageOptions) -> Report {
    evaluate_with_progress(task, rows, library, options, &mut |_| {})
}

/// As [`evaluate`], calling `progress` with the number of rows done after each row.
pub fn evaluate_with_progress(
    task: Task,
    rows: &[Row],
    library: &Library,
    options: &TriageOptions,
    progress: &mut dyn FnMut(usize),
) -> Report {
    let mut report = Report::default();
    for (done, row) in rows.iter().enumerate() {
        progress(done + 1);
        let verdict = triage(&row_comment(row), library, options);
        let predicted = task.predicts(&verdict);
        report.confusion.add(row.label, predicted);
        if predicted != row.label {
            report.mistakes.push(Mistake {
                id: row.id.clone(),
                text: row.text.clone(),
                gold: row.label,
                fired: explain::why_lines(&verdict, 4),
                rules: task_rules(task, &verdict, library),
            });
        }
    }
    report
}

/// Ids of the rules in `verdict` that give or cancel the task's label, strongest first.
fn task_rules(task: Task, verdict: &Verdict, library: &Library) -> Vec<String> {
    verdict
        .matches
        .iter()
        .filter(|m| {
            library
                .rule(&m.rule)
                .is_some_and(|r| task.role_of(r) != RuleRole::Other)
        })
        .map(|m| m.rule.to_string())
        .collect()
}

impl Report {
    /// The false positives grouped by the rules that fired on them: each rule with the
    /// mistakes it took part in, the rule in most of them first (ties by id). A mistake fired
    /// by two rules is listed under both, so fixing either rule shows what it would remove.
    pub fn false_positives_by_rule(&self) -> Vec<(&str, Vec<&Mistake>)> {
        let mut groups: Vec<(&str, Vec<&Mistake>)> = Vec::new();
        for m in self.mistakes.iter().filter(|m| !m.gold) {
            for rule in &m.rules {
                match groups.iter_mut().find(|(r, _)| *r == rule.as_str()) {
                    Some((_, list)) => list.push(m),
                    None => groups.push((rule.as_str(), vec![m])),
                }
            }
        }
        groups.sort_by(|(a, la), (b, lb)| lb.len().cmp(&la.len()).then(a.cmp(b)));
        groups
    }

    /// The `eval --explain` listing: the rules behind the false positives with their counts and
    /// rows, then the false negatives, each with what fired.
    pub fn explain_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let fps = self.mistakes.iter().filter(|m| !m.gold).count();
        let groups = self.false_positives_by_rule();
        let _ = writeln!(
            out,
            "── false positives (flagged wrongly): {fps}, by rule ──"
        );
        for (rule, list) in &groups {
            let _ = writeln!(out, "{:>5}  {rule}", list.len());
        }
        let line = |out: &mut String, m: &Mistake| {
            let _ = writeln!(out, "{}: {}", m.id, m.text.replace('\n', " "));
            for f in &m.fired {
                let _ = writeln!(out, "    fired {f}");
            }
        };
        for (rule, list) in &groups {
            let _ = writeln!(out, "── {rule}: {} false positives ──", list.len());
            for m in list {
                line(&mut out, m);
            }
        }
        let _ = writeln!(out, "── false negatives (missed) ──");
        for m in self.mistakes.iter().filter(|m| m.gold) {
            line(&mut out, m);
        }
        out
    }
}

/// How often one rule fires on a labelled file and how often it is right.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleStat {
    pub rule: String,
    pub role: RuleRole,
    /// Rows it fired on.
    pub fired: usize,
    /// Of those, rows labelled positive.
    pub positive: usize,
    /// Rows where it was the only rule giving the task's label: the prediction rests on it.
    pub alone: usize,
    /// Of those, rows labelled positive.
    pub alone_positive: usize,
    /// Per term that made it fire (word, pattern or lexicon word): rows, positive rows.
    pub terms: Vec<TermStat>,
}

/// How often one term of a rule was evidence when the rule fired, and how often rightly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermStat {
    pub term: String,
    pub fired: usize,
    pub positive: usize,
}

impl RuleStat {
    /// Share of the rows it fired on that are positive (for a rule that cancels the label,
    /// the share of positives it wrongly cancels).
    pub fn precision(&self) -> f64 {
        ratio(self.positive, self.fired)
    }

    pub fn alone_precision(&self) -> f64 {
        ratio(self.alone_positive, self.alone)
    }
}

impl TermStat {
    pub fn precision(&self) -> f64 {
        ratio(self.positive, self.fired)
    }
}

/// `ascolto rules stats`: the rules of `library` that give or cancel the task's label, with
/// how often each fires on `rows` and its precision against the label.
///
/// Sorted for reading: rules giving the label first, then those cancelling it, then rules that
/// never fired; within a group, by rows fired (most first), then by id. Terms of a rule are
/// sorted the same way.
pub fn rule_stats(
    task: Task,
    rows: &[Row],
    library: &Library,
    options: &TriageOptions,
) -> Vec<RuleStat> {
    let mut stats: Vec<RuleStat> = library
        .rules
        .iter()
        .filter_map(|rule| {
            let role = task.role_of(rule);
            (role != RuleRole::Other).then(|| RuleStat {
                rule: rule.id.to_string(),
                role,
                fired: 0,
                positive: 0,
                alone: 0,
                alone_positive: 0,
                terms: Vec::new(),
            })
        })
        .collect();
    let at: HashMap<String, usize> = stats
        .iter()
        .enumerate()
        .map(|(i, s)| (s.rule.clone(), i))
        .collect();
    for row in rows {
        let verdict = triage(&row_comment(row), library, options);
        let mut givers = verdict
            .matches
            .iter()
            .filter_map(|m| at.get(m.rule.as_str()).map(|&i| (i, m)))
            .filter(|(i, _)| stats[*i].role == RuleRole::Gives);
        let alone = match (givers.next(), givers.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        };
        for m in &verdict.matches {
            let Some(&i) = at.get(m.rule.as_str()) else {
                continue;
            };
            let stat = &mut stats[i];
            stat.fired += 1;
            stat.positive += usize::from(row.label);
            if alone == Some(i) {
                stat.alone += 1;
                stat.alone_positive += usize::from(row.label);
            }
            let mut seen: Vec<&str> = Vec::new();
            for e in &m.evidence {
                if seen.contains(&&*e.term) {
                    continue;
                }
                seen.push(&e.term);
                match stat.terms.iter_mut().find(|t| t.term == *e.term) {
                    Some(t) => {
                        t.fired += 1;
                        t.positive += usize::from(row.label);
                    }
                    None => stat.terms.push(TermStat {
                        term: e.term.to_string(),
                        fired: 1,
                        positive: usize::from(row.label),
                    }),
                }
            }
        }
    }
    for stat in &mut stats {
        stat.terms
            .sort_by(|a, b| b.fired.cmp(&a.fired).then_with(|| a.term.cmp(&b.term)));
    }
    stats.sort_by(|a, b| {
        (a.fired == 0, a.role)
            .cmp(&(b.fired == 0, b.role))
            .then(b.fired.cmp(&a.fired))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    stats
}

/// Rows a term or rule must fire on before its precision means anything: one or two rows
/// are an anecdote, and a rule written for them fits the data, not the phenomenon.
pub const FEW_ROWS: usize = 3;

/// The `rules stats` table: one line per rule, and with `terms` one indented line per term.
pub fn rule_stats_text(stats: &[RuleStat], rows: &[Row], terms: bool) -> String {
    use std::fmt::Write;
    let positives = rows.iter().filter(|r| r.label).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} rows, {} positive ({:.1}%): a rule is useful when its precision is well above that share",
        rows.len(),
        positives,
        100.0 * ratio(positives, rows.len())
    );
    let _ = writeln!(
        out,
        "{:<34} {:>6} {:>6} {:>6} {:>6}  note",
        "rule", "fired", "prec", "alone", "prec"
    );
    let mut last_role = None;
    for s in stats {
        let role = if s.fired == 0 { None } else { Some(s.role) };
        if role != last_role {
            let _ = writeln!(
                out,
                "── {} ──",
                match role {
                    Some(RuleRole::Gives) => "rules giving the label",
                    Some(RuleRole::Cancels) =>
                        "rules cancelling the label (prec = share of positives they cancel)",
                    _ => "rules that never fired on this file",
                }
            );
            last_role = role;
        }
        let note = if s.fired > 0 && s.fired < FEW_ROWS {
            "fits few rows"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<34} {:>6} {:>6.2} {:>6} {:>6.2}  {note}",
            s.rule,
            s.fired,
            s.precision(),
            s.alone,
            s.alone_precision()
        );
        if terms {
            for t in &s.terms {
                let note = if t.fired < FEW_ROWS {
                    "  fits few rows"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "    {:>5} {:>5.2}  {}{note}",
                    t.fired,
                    t.precision(),
                    t.term
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_hand_computation() {
        let mut c = Confusion::default();
        for (g, p) in [
            (true, true),
            (true, true),
            (true, false),
            (false, true),
            (false, false),
            (false, false),
        ] {
            c.add(g, p);
        }
        assert!((c.precision() - 2.0 / 3.0).abs() < 1e-9);
        assert!((c.recall() - 2.0 / 3.0).abs() < 1e-9);
        assert!((c.f1_negative() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(
            c.summary_line(),
            "macro_f1=0.667 f1=0.667 precision=0.667 recall=0.667 n=6"
        );
    }

    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    /// Two question rules (one broad, one narrow) and closing thanks that cancel questions.
    fn library() -> Library {
        let rules = r#"
[[rule]]
id = "en.question.mark"
labels = ["question"]
templates = ["t"]
[rule.any]
patterns = ['\?']

[[rule]]
id = "en.question.howto"
labels = ["question"]
templates = ["t"]
[rule.any]
words = ["how do i", "how can i"]

[[rule]]
id = "en.question.never"
labels = ["question"]
templates = ["t"]
[rule.any]
words = ["zxqv"]

[[rule]]
id = "en.praise.thanks"
labels = ["praise"]
suppresses = ["question"]
[rule.any]
words = ["thanks"]

[[rule]]
id = "en.complaint.late"
labels = ["complaint"]
templates = ["t"]
[rule.any]
words = ["still late"]
"#;
        let template = "[[template]]\nid = \"t\"\n[template.en]\nwordings = [\"Hi\"]\n[template.it]\nwordings = [\"Ciao\"]\n";
        let sources = vec![
            (PathBuf::from("r/en/rules.toml"), rules.to_owned()),
            (PathBuf::from("r/templates.toml"), template.to_owned()),
        ];
        Library::from_sources(Path::new("r"), &sources, &BTreeMap::new()).unwrap()
    }

    fn rows(examples: &[(&str, bool)]) -> Vec<Row> {
        examples
            .iter()
            .enumerate()
            .map(|(i, (text, label))| Row {
                id: i.to_string(),
                text: (*text).to_owned(),
                label: *label,
            })
            .collect()
    }

    fn examples() -> Vec<Row> {
        rows(&[
            ("how do i change the delivery address?", true),
            ("how can i pay by card", true),
            ("is the shop open on sundays?", true),
            ("guess who is back?", false),
            ("thanks, how do i do that again?", true),
            ("my parcel is still late and nobody answers", false),
            ("lovely weather for a walk today", false),
        ])
    }

    #[test]
    fn rule_stats_count_firings_precision_and_rows_resting_on_one_rule() {
        let stats = rule_stats(
            Task::Question,
            &examples(),
            &library(),
            &TriageOptions::default(),
        );
        let ids: Vec<&str> = stats.iter().map(|s| s.rule.as_str()).collect();
        // Giving rules by rows fired, then the cancelling rule, then the rule that never
        // fired; the complaint rule does not bear on questions and is left out.
        assert_eq!(
            ids,
            [
                "en.question.mark",
                "en.question.howto",
                "en.praise.thanks",
                "en.question.never"
            ]
        );
        let mark = &stats[0];
        assert_eq!((mark.fired, mark.positive), (4, 3));
        assert!((mark.precision() - 0.75).abs() < 1e-9);
        // Alone on "is the shop open..." and "guess who...": the howto rule also fired on
        // the other two.
        assert_eq!((mark.alone, mark.alone_positive), (2, 1));
        let howto = &stats[1];
        assert_eq!((howto.fired, howto.positive, howto.alone), (3, 3, 1));
        let terms: Vec<(&str, usize, usize)> = howto
            .terms
            .iter()
            .map(|t| (t.term.as_str(), t.fired, t.positive))
            .collect();
        assert_eq!(terms, [("how do i", 2, 2), ("how can i", 1, 1)]);
        let thanks = &stats[2];
        assert_eq!(thanks.role, RuleRole::Cancels);
        assert_eq!((thanks.fired, thanks.positive), (1, 1));
        assert_eq!(stats[3].fired, 0);
        assert_eq!(stats[3].precision(), 0.0);
    }

    #[test]
    fn rule_stats_text_flags_rules_fitting_few_rows() {
        let rows = examples();
        let stats = rule_stats(Task::Question, &rows, &library(), &TriageOptions::default());
        let text = rule_stats_text(&stats, &rows, true);
        assert!(text.starts_with("7 rows, 4 positive (57.1%)"), "{text}");
        let thanks = text
            .lines()
            .find(|l| l.starts_with("en.praise.thanks"))
            .unwrap();
        assert!(thanks.ends_with("fits few rows"), "{thanks}");
        assert!(text.contains("── rules that never fired on this file ──"));
        assert!(text.contains("how can i  fits few rows"), "{text}");
    }

    #[test]
    fn explain_groups_false_positives_by_the_rules_that_fired() {
        let rows = rows(&[
            ("guess who is back?", false),
            ("what a day?!", false),
            ("how do i get there", false),
            ("where do i park", true),
        ]);
        let report = evaluate(Task::Question, &rows, &library(), &TriageOptions::default());
        let groups: Vec<(&str, usize)> = report
            .false_positives_by_rule()
            .iter()
            .map(|(rule, list)| (*rule, list.len()))
            .collect();
        assert_eq!(groups, [("en.question.mark", 2), ("en.question.howto", 1)]);
        let text = report.explain_text();
        assert!(text.contains("── false positives (flagged wrongly): 3, by rule ──\n    2  en.question.mark\n    1  en.question.howto\n"), "{text}");
        assert!(
            text.contains("── false negatives (missed) ──\n3: where do i park\n"),
            "{text}"
        );
    }

    #[test]
    fn empty_counts_do_not_divide_by_zero() {
        assert_eq!(
            Confusion::default().summary_line(),
            "macro_f1=0.000 f1=0.000 precision=0.000 recall=0.000 n=0"
        );
    }
}
