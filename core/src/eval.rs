//! Measuring detection quality on labelled data (`ascolto eval`).
//!
//! Reads `id,text,label` CSV files, runs each text through the same triage the bot uses and
//! compares the predicted label with the gold one. `--explain` lists the mistakes with the
//! rules that fired, so a community manager can see what to change in the library.

use std::path::Path;

use chrono::{TimeZone, Utc};

use crate::comment::{Author, Comment, Place, Source};
use crate::explain;
use crate::rules::{Label, Library};
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
    let mut report = Report::default();
    for row in rows {
        let verdict = triage(&row_comment(row), library, options);
        let predicted = task.predicts(&verdict);
        report.confusion.add(row.label, predicted);
        if predicted != row.label {
            report.mistakes.push(Mistake {
                id: row.id.clone(),
                text: row.text.clone(),
                gold: row.label,
                fired: explain::why_lines(&verdict, 4),
            });
        }
    }
    report
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

    #[test]
    fn empty_counts_do_not_divide_by_zero() {
        assert_eq!(
            Confusion::default().summary_line(),
            "macro_f1=0.000 f1=0.000 precision=0.000 recall=0.000 n=0"
        );
    }
}
