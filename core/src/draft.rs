//! Drafting: turns a verdict's chosen template into the reply text a moderator will see.
//!
//! Pure, like triage: the same comment, template and wording always give the same text, so a
//! moderator can ask for "another wording" and get a predictable cycle through them.

use serde::{Deserialize, Serialize};

use crate::comment::Comment;
use crate::rules::{Lang, Library, Placeholders, TemplateId};
use crate::triage::{stable_hash, Verdict};

/// A proposed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub template: TemplateId,
    pub lang: Lang,
    /// Which of the template's wordings, so "another wording" can move to the next one.
    pub wording: usize,
    pub text: String,
}

/// Values a draft is filled with that do not come from the comment.
#[derive(Debug, Clone, Copy)]
pub struct DraftContext<'a> {
    pub moderator: &'a str,
    pub values: &'a std::collections::BTreeMap<String, String>,
}

/// Drafts the reply for a verdict, with the wording picked from the comment id.
pub fn draft(
    comment: &Comment,
    verdict: &Verdict,
    library: &Library,
    ctx: DraftContext<'_>,
) -> Option<Draft> {
    let choice = verdict.reply.as_ref()?;
    let count = library
        .template(&choice.template)?
        .wordings(choice.lang)
        .len();
    let wording = (stable_hash(comment.id.as_str()) as usize / 7) % count.max(1);
    draft_wording(
        comment,
        verdict,
        library,
        ctx,
        &choice.template,
        choice.lang,
        wording,
    )
}

/// Drafts a specific wording (wrapping around the template's wordings).
pub fn draft_wording(
    comment: &Comment,
    verdict: &Verdict,
    library: &Library,
    ctx: DraftContext<'_>,
    template: &TemplateId,
    lang: Lang,
    wording: usize,
) -> Option<Draft> {
    let wordings = library.template(template)?.wordings(lang);
    if wordings.is_empty() {
        return None;
    }
    let wording = wording % wordings.len();
    let matched = verdict
        .main_match()
        .and_then(|m| m.evidence.first())
        .map(|e| e.text.as_str())
        .unwrap_or("");
    let text = wordings[wording].render(&Placeholders {
        author: &comment.author.name,
        channel: &comment.place.channel_name,
        moderator: ctx.moderator,
        matched,
        values: ctx.values,
    });
    Some(Draft {
        template: template.clone(),
        lang,
        wording,
        text,
    })
}

/// How many wordings a draft's template has in its language (0 if the template is gone).
pub fn wording_count(library: &Library, draft: &Draft) -> usize {
    library
        .template(&draft.template)
        .map(|t| t.wordings(draft.lang).len())
        .unwrap_or(0)
}
