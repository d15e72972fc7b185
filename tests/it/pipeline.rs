//! Whole flows through the public interfaces: triage → tracker → store, with a real SQLite
//! database and the fixture rule library.

use std::sync::Arc;

use chrono::Duration;

use ascolto::clock::ManualClock;
use ascolto::comment::{Author, Comment, Place, Source};
use ascolto::lifecycle::{ActionKind, CommentState};
use ascolto::rules::{Label, Lang};
use ascolto::tracker::{Ingested, Moderator, Tracker, TrackerError};

use crate::support::app::{t0, TestApp, TestDir};

struct Fixture {
    dir: TestDir,
    clock: ManualClock,
    tracker: Arc<Tracker>,
}

async fn fixture() -> Fixture {
    fixture_with(&[]).await
}

async fn fixture_with(env: &[(&str, &str)]) -> Fixture {
    let t = TestApp::start(env).await;
    Fixture {
        dir: t.dir,
        clock: t.clock,
        tracker: t.app.tracker,
    }
}

impl Fixture {
    /// The same database and library opened again, as after a restart.
    async fn restart(&self) -> Arc<Tracker> {
        self.dir
            .app(&[], Arc::new(self.clock.clone()))
            .await
            .tracker
    }
}

fn comment(id: &str, author: &str, text: &str) -> Comment {
    Comment::new(
        id,
        Source::Replay,
        Place::channel("c-support", "support"),
        Author::member(format!("u-{author}"), author),
        text,
        t0(),
    )
}

fn mia() -> Moderator {
    Moderator {
        id: "u-mia".into(),
        name: "Mia".into(),
    }
}

async fn a_complaint_is_flagged_with_an_explained_verdict_and_a_draft() {
    let f = fixture().await;
    let out = f
        .tracker
        .ingest(&comment("1", "nora", "My parcel is still not here!"))
        .await
        .unwrap();
    let Ingested::Flagged(stored) = out.ingested else {
        panic!("expected a flag, got {:?}", out.ingested)
    };
    assert_eq!(stored.state, CommentState::Flagged);
    let verdict = stored.verdict.as_ref().unwrap();
    assert!(verdict.has(Label::Complaint));
    let main = verdict.main_match().unwrap();
    assert_eq!(main.rule.as_str(), "en.complaint.late");
    assert_eq!(main.evidence[0].text, "still not here");
    let draft = stored.draft.as_ref().unwrap();
    assert_eq!(draft.lang, Lang::En);
    assert!(draft.text.contains("nora"), "{}", draft.text);
}

async fn processing_the_same_comment_twice_changes_nothing() {
    let f = fixture().await;
    let c = comment("1", "nora", "My parcel is still not here!");
    f.tracker.ingest(&c).await.unwrap();
    let before = f.tracker.store().comment(&c.id).await.unwrap().unwrap();
    f.clock.advance(Duration::minutes(5));
    let again = f.tracker.ingest(&c).await.unwrap();
    assert!(matches!(again.ingested, Ingested::Duplicate));
    let after = f.tracker.store().comment(&c.id).await.unwrap().unwrap();
    assert_eq!(before.state_changed_at, after.state_changed_at);
    assert_eq!(f.tracker.open().await.unwrap().len(), 1);
}

async fn state_survives_a_restart() {
    let f = fixture().await;
    let c = comment("1", "nora", "My parcel is still not here!");
    f.tracker.ingest(&c).await.unwrap();
    let reopened = f.restart().await;
    let open = reopened.open().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].comment.text, c.text);
    assert!(matches!(
        reopened.ingest(&c).await.unwrap().ingested,
        Ingested::Duplicate
    ));
}

async fn closing_thanks_do_not_need_a_reply() {
    let f = fixture().await;
    let out = f
        .tracker
        .ingest(&comment(
            "1",
            "nora",
            "Thanks, how do I say how happy I am?",
        ))
        .await
        .unwrap();
    let Ingested::Clear(verdict) = out.ingested else {
        panic!("thanks should not be flagged")
    };
    assert!(verdict.has(Label::Praise));
    assert_eq!(verdict.suppressed[0].0, Label::Question);
}

async fn italian_comments_get_italian_drafts() {
    let f = fixture().await;
    let out = f
        .tracker
        .ingest(&comment(
            "1",
            "giulia",
            "Il mio pacco non è ancora arrivato, è in ritardo di una settimana",
        ))
        .await
        .unwrap();
    let Ingested::Flagged(stored) = out.ingested else {
        panic!("expected a flag")
    };
    let draft = stored.draft.unwrap();
    assert_eq!(draft.lang, Lang::It);
    assert!(draft.text.contains("giulia"));
}

async fn only_one_of_two_simultaneous_approvals_wins() {
    let f = fixture().await;
    let c = comment("1", "nora", "My parcel is still not here!");
    f.tracker.ingest(&c).await.unwrap();
    let sam = Moderator {
        id: "u-sam".into(),
        name: "Sam".into(),
    };
    let first = mia();
    let (a, b) = tokio::join!(
        f.tracker.claim_reply(&c.id, &first, None),
        f.tracker.claim_reply(&c.id, &sam, None)
    );
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "{a:?} {b:?}");
    let claim = a.or(b).unwrap();
    f.tracker
        .complete_reply(&claim, Some("m-9".into()))
        .await
        .unwrap();
    let err = f
        .tracker
        .claim_reply(&c.id, &mia(), None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TrackerError::AlreadyClosed {
            state: CommentState::Replied,
            ..
        }
    ));
}

async fn an_edited_reply_keeps_both_texts_in_the_audit_trail() {
    let f = fixture().await;
    let c = comment("1", "nora", "My parcel is still not here!");
    f.tracker.ingest(&c).await.unwrap();
    let claim = f
        .tracker
        .claim_reply(
            &c.id,
            &mia(),
            Some("Hi Nora, DM me your order number.".into()),
        )
        .await
        .unwrap();
    let closed = f
        .tracker
        .complete_reply(&claim, Some("m-1".into()))
        .await
        .unwrap();
    assert_eq!(closed.state, CommentState::Replied);
    let actions = f.tracker.store().actions_for(&c.id).await.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].kind, ActionKind::Edited);
    assert_eq!(
        actions[0].sent_text.as_deref(),
        Some("Hi Nora, DM me your order number.")
    );
    assert_eq!(actions[0].draft_text, closed.draft.map(|d| d.text));
    assert_eq!(actions[0].moderator_name.as_deref(), Some("Mia"));
}

async fn a_staff_reply_marks_the_comment_answered() {
    let f = fixture().await;
    let c = comment("1", "nora", "How do I reset my password");
    f.tracker.ingest(&c).await.unwrap();
    let mut answer = comment("2", "sam", "Use the link on the login page.");
    answer.author.is_staff = true;
    answer.reply_to = Some(c.id.clone());
    f.clock.advance(Duration::minutes(12));
    let out = f.tracker.ingest(&answer).await.unwrap();
    assert_eq!(out.answered.len(), 1);
    let stored = f.tracker.store().comment(&c.id).await.unwrap().unwrap();
    assert_eq!(stored.state, CommentState::Answered);
    assert_eq!(stored.answered_by.as_deref(), Some("sam"));
    assert_eq!(stored.closed_at, Some(t0() + Duration::minutes(12)));
}

async fn a_reply_by_another_member_does_not_count_unless_configured() {
    let f = fixture().await;
    let c = comment("1", "nora", "How do I reset my password");
    f.tracker.ingest(&c).await.unwrap();
    let mut answer = comment("2", "otto", "no idea sorry");
    answer.reply_to = Some(c.id.clone());
    assert!(f.tracker.ingest(&answer).await.unwrap().answered.is_empty());
}

async fn another_wording_cycles_through_the_template() {
    let f = fixture().await;
    let c = comment("1", "nora", "My parcel is still not here!");
    let Ingested::Flagged(first) = f.tracker.ingest(&c).await.unwrap().ingested else {
        panic!()
    };
    let first = first.draft.unwrap();
    let second = f
        .tracker
        .another_wording(&c.id, &mia())
        .await
        .unwrap()
        .draft
        .unwrap();
    let third = f
        .tracker
        .another_wording(&c.id, &mia())
        .await
        .unwrap()
        .draft
        .unwrap();
    assert_ne!(first.text, second.text);
    assert_eq!(first.text, third.text);
}

async fn dismiss_closes_once_and_records_who() {
    let f = fixture().await;
    let c = comment("1", "nora", "My parcel is still not here!");
    f.tracker.ingest(&c).await.unwrap();
    let closed = f.tracker.dismiss(&c.id, &mia(), None).await.unwrap();
    assert_eq!(closed.state, CommentState::Dismissed);
    assert!(f.tracker.dismiss(&c.id, &mia(), None).await.is_err());
    assert!(f.tracker.open().await.unwrap().is_empty());
}

async fn an_edit_retriages_and_a_delete_withdraws() {
    let f = fixture().await;
    let mut c = comment("1", "nora", "hello all");
    assert!(matches!(
        f.tracker.ingest(&c).await.unwrap().ingested,
        Ingested::Clear(_)
    ));
    c.text = "hello all, my order never arrived".into();
    f.tracker.edit(&c).await.unwrap();
    let stored = f.tracker.store().comment(&c.id).await.unwrap().unwrap();
    assert_eq!(stored.state, CommentState::Flagged);
    assert!(stored.draft.is_some());
    f.tracker.delete(&c.id).await.unwrap();
    let stored = f.tracker.store().comment(&c.id).await.unwrap().unwrap();
    assert_eq!(stored.state, CommentState::Withdrawn);
}

async fn a_broken_library_is_refused_on_reload_and_the_old_one_stays() {
    let f = fixture().await;
    std::fs::write(
        f.dir.rules().join("en/broken.toml"),
        "[[rule]]\nid = \"en.bad\"\nlabels = [\"praise\"]\n[rule.any]\npatterns = [\"(unclosed\"]\n",
    )
    .unwrap();
    let err = f.tracker.reload(&f.dir.rules()).unwrap_err().to_string();
    assert!(err.contains("en/broken.toml:5"), "{err}");
    assert!(err.contains("rule `en.bad`"), "{err}");
    assert_eq!(f.tracker.library().rules.len(), 6);
}

async fn an_approved_draft_is_signed_by_the_approving_moderator() {
    let f = fixture().await;
    let c = comment("1", "nora", "My parcel is still not here!");
    let Ingested::Flagged(stored) = f.tracker.ingest(&c).await.unwrap().ingested else {
        panic!()
    };
    let shown = stored.draft.unwrap().text;
    assert!(
        shown.contains("The team") || shown.contains("the team"),
        "{shown}"
    );
    let claim = f.tracker.claim_reply(&c.id, &mia(), None).await.unwrap();
    assert!(claim.text.contains("Mia"), "{}", claim.text);
    f.tracker.complete_reply(&claim, None).await.unwrap();
    let actions = f.tracker.store().actions_for(&c.id).await.unwrap();
    assert_eq!(actions[0].kind, ActionKind::Approved);
    assert_eq!(actions[0].draft_text.as_deref(), Some(shown.as_str()));
    assert_eq!(actions[0].sent_text.as_deref(), Some(claim.text.as_str()));
}

async fn staff_answering_by_name_without_replying_marks_the_question_answered() {
    let f = fixture().await;
    let question = comment("1", "nora", "How do I reset my password");
    f.tracker.ingest(&question).await.unwrap();
    let mut answer = comment("2", "sam", "nora: use the reset link on the login page");
    answer.author.is_staff = true;
    answer.time = t0() + Duration::minutes(3);
    f.clock.advance(Duration::minutes(3));
    let out = f.tracker.ingest(&answer).await.unwrap();
    assert_eq!(out.answered.len(), 1);
    assert_eq!(out.answered[0].state, CommentState::Answered);
}

async fn a_members_answer_counts_only_when_anyone_may_answer() {
    for (anyone, expected) in [("false", 0), ("true", 1)] {
        let f = fixture_with(&[("ASCOLTO__DISCORD__ANYONE_ANSWERS", anyone)]).await;
        let t = &f.tracker;
        t.ingest(&comment("1", "nora", "How do I reset my password"))
            .await
            .unwrap();
        let mut answer = comment("2", "otto", "nora: click forgot password on the login page");
        answer.time = t0() + Duration::minutes(2);
        let out = t.ingest(&answer).await.unwrap();
        assert_eq!(out.answered.len(), expected, "anyone_answers = {anyone}");
    }
}

crate::on_both_stores!(
    a_complaint_is_flagged_with_an_explained_verdict_and_a_draft,
    processing_the_same_comment_twice_changes_nothing,
    state_survives_a_restart,
    closing_thanks_do_not_need_a_reply,
    italian_comments_get_italian_drafts,
    only_one_of_two_simultaneous_approvals_wins,
    an_edited_reply_keeps_both_texts_in_the_audit_trail,
    a_staff_reply_marks_the_comment_answered,
    a_reply_by_another_member_does_not_count_unless_configured,
    another_wording_cycles_through_the_template,
    dismiss_closes_once_and_records_who,
    an_edit_retriages_and_a_delete_withdraws,
    a_broken_library_is_refused_on_reload_and_the_old_one_stays,
    an_approved_draft_is_signed_by_the_approving_moderator,
    staff_answering_by_name_without_replying_marks_the_question_answered,
    a_members_answer_counts_only_when_anyone_may_answer,
);
