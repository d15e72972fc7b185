//! Moderators' clicks: the five alert buttons and the Edit modal's submit.
//!
//! Everything a click needs is in its custom id (action and comment id) and in the database,
//! so buttons on alerts posted before a restart work the same. Every click is answered within
//! Discord's 3 seconds: a private refusal, the Edit modal, the updated alert, or — for Approve —
//! an acknowledgement: the tracker queues the reply and the alert's update in the outbox, whose
//! worker posts them with retries (a reply it has to give up comes back to the queue, its alert
//! saying why). Two moderators approving at once cannot both send: the tracker grants one claim.

use poise::serenity_prelude as serenity;
use serenity::{
    ActionRowComponent, ComponentInteraction, CreateActionRow, CreateAllowedMentions,
    CreateInputText, CreateInteractionResponse, CreateInteractionResponseMessage, CreateModal,
    InputTextStyle, Interaction, Member, ModalInteraction, User,
};
use tracing::{info, info_span, warn, Instrument};

use crate::comment::CommentId;
use crate::lifecycle::{CommentState, StoredComment};
use crate::outbox::Destination;
use crate::text::cut_chars;
use crate::tracker::{Moderator, TrackerError};

use super::alerts::{self, ButtonAction, CustomId};
use super::checks;
use super::markdown::MESSAGE_LIMIT;
use super::types::{Data, DiscordError};

/// The id of the text field in the Edit modal.
const EDIT_FIELD: &str = "text";

/// Routes component and modal interactions; slash commands are poise's.
pub async fn on_interaction(ctx: &serenity::Context, data: &Data, interaction: &Interaction) {
    let (click, custom_id) = match interaction {
        Interaction::Component(i) => (Click::Button(i), i.data.custom_id.as_str()),
        Interaction::Modal(i) => (Click::Modal(i), i.data.custom_id.as_str()),
        _ => return,
    };
    let Some(custom) = CustomId::parse(custom_id) else {
        return;
    };
    let Some(_working) = data.begin_work().await else {
        return;
    };
    let (action, comment) = match &custom {
        CustomId::Button(action, id) => (action.key(), id.clone()),
        CustomId::EditedReply(id) => ("edited", id.clone()),
    };
    let span =
        info_span!("discord.button", action, comment = %comment, moderator = %click.user().id);
    if let Err(e) = handle(ctx, data, click, custom)
        .instrument(span.clone())
        .await
    {
        span.in_scope(|| warn!(error = %e, "click not fully handled"));
    }
}

/// A click on a button, or the submit of the Edit modal.
#[derive(Clone, Copy)]
enum Click<'a> {
    Button(&'a ComponentInteraction),
    Modal(&'a ModalInteraction),
}

impl Click<'_> {
    fn user(&self) -> &User {
        match self {
            Click::Button(i) => &i.user,
            Click::Modal(i) => &i.user,
        }
    }

    fn member(&self) -> Option<&Member> {
        match self {
            Click::Button(i) => i.member.as_ref(),
            Click::Modal(i) => i.member.as_ref(),
        }
    }

    async fn respond(
        &self,
        ctx: &serenity::Context,
        response: CreateInteractionResponse,
    ) -> Result<(), DiscordError> {
        match self {
            Click::Button(i) => i.create_response(ctx, response).await?,
            Click::Modal(i) => i.create_response(ctx, response).await?,
        }
        Ok(())
    }

    /// Who clicked, as the audit trail names them.
    fn moderator(&self) -> Moderator {
        let user = self.user();
        Moderator {
            id: user.id.to_string(),
            name: self
                .member()
                .map(|m| m.display_name().to_owned())
                .unwrap_or_else(|| user.display_name().to_owned()),
        }
    }
}

/// A reply only the clicking moderator sees.
fn private(text: &str) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(cut_chars(text, MESSAGE_LIMIT))
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
}

async fn handle(
    ctx: &serenity::Context,
    data: &Data,
    click: Click<'_>,
    custom: CustomId,
) -> Result<(), DiscordError> {
    if !checks::member_is_moderator(click.member(), data.discord()) {
        info!("refused: not a moderator");
        return click.respond(ctx, private(checks::REFUSAL)).await;
    }
    let moderator = click.moderator();
    match (custom, click) {
        (CustomId::Button(ButtonAction::Approve, id), _) => {
            approve(ctx, data, click, &id, &moderator, None).await
        }
        (CustomId::Button(ButtonAction::Edit, id), Click::Button(i)) => {
            open_editor(ctx, data, i, &id).await
        }
        (CustomId::Button(ButtonAction::AnotherWording, id), Click::Button(i)) => {
            let result = data.tracker.another_wording(&id, &moderator).await;
            update_in_place(ctx, data, i, &id, result).await
        }
        (CustomId::Button(ButtonAction::Dismiss, id), Click::Button(i)) => {
            let result = data
                .tracker
                .dismiss(&id, &moderator, Some(Destination::Discord))
                .await;
            update_in_place(ctx, data, i, &id, result).await
        }
        (CustomId::Button(ButtonAction::MarkAnswered, id), Click::Button(i)) => {
            let result = data
                .tracker
                .mark_answered(&id, &moderator, Some(Destination::Discord))
                .await;
            update_in_place(ctx, data, i, &id, result).await
        }
        (CustomId::EditedReply(id), Click::Modal(i)) => {
            let text = edited_text(i);
            if text.trim().is_empty() {
                return click
                    .respond(ctx, private("The reply is empty, so nothing was sent."))
                    .await;
            }
            approve(ctx, data, click, &id, &moderator, Some(text)).await
        }
        // A button id on a modal or the reverse: not something Ascolto sends.
        _ => Ok(()),
    }
}

/// What a moderator is told when the tracker refuses an action.
pub fn explain(error: &TrackerError) -> String {
    match error {
        TrackerError::AlreadyClosed { state, .. } => match state {
            CommentState::Sending => "Another moderator is sending the reply right now; nothing else was done.",
            CommentState::Replied => "This comment was already replied to; nothing was sent.",
            CommentState::Dismissed => "This alert was already dismissed; nothing was sent.",
            CommentState::Answered => "This comment was already answered; nothing was sent.",
            CommentState::Withdrawn => "The author deleted this comment; nothing was sent.",
            CommentState::New | CommentState::Clear => "This comment no longer needs a reply (the author edited it); nothing was sent.",
            CommentState::Flagged | CommentState::Alerted => "This alert changed meanwhile; please try again.",
        }
        .to_owned(),
        TrackerError::NotFound(_) => "Ascolto has no record of this comment (was its database replaced?); nothing was sent.".to_owned(),
        TrackerError::NoDraft(_) => "There is no draft for this comment. Answer in the channel yourself, then use Mark answered.".to_owned(),
        TrackerError::Store(_) => "Ascolto could not use its database, so nothing was sent. The details are in the bot's log.".to_owned(),
        TrackerError::Unpostable(_) => "This comment came from a replayed file, so there is nowhere to post a reply; nothing was sent.".to_owned(),
        TrackerError::Panicked { .. } => "Ascolto met a bug on this comment, so nothing was sent. The details are in the bot's log.".to_owned(),
        TrackerError::ReplyWindowClosed {
            last_message,
            window,
            at,
            ..
        } => format!(
            "Nothing was sent: {}",
            alerts::closed_window_line(*last_message, *window, *at)
        ),
    }
}

/// Dismiss, Mark answered and Another wording only touch the database: the click is answered
/// with the updated alert itself.
async fn update_in_place(
    ctx: &serenity::Context,
    data: &Data,
    i: &ComponentInteraction,
    id: &CommentId,
    result: Result<StoredComment, TrackerError>,
) -> Result<(), DiscordError> {
    let stored = match result {
        Ok(stored) => stored,
        Err(e) => {
            info!(reason = %e, "not done");
            i.create_response(ctx, private(&explain(&e))).await?;
            // The alert may be stale (an answer it missed, a restart): show the truth.
            alerts::refresh_logged(data, id).await;
            return Ok(());
        }
    };
    info!(state = stored.state.as_str(), "done");
    let (embed, components) = alerts::render(data, &stored).await?;
    let update = CreateInteractionResponse::UpdateMessage(
        CreateInteractionResponseMessage::new()
            .embed(embed)
            .components(components),
    );
    if let Err(e) = i.create_response(ctx, update).await {
        // Too late for the interaction (or Discord hiccuped): edit the alert directly.
        warn!(error = %e, "could not answer the click; queueing the alert's update");
        alerts::refresh(data, id).await?;
    }
    Ok(())
}

/// Opens the Edit modal, prefilled with the draft.
async fn open_editor(
    ctx: &serenity::Context,
    data: &Data,
    i: &ComponentInteraction,
    id: &CommentId,
) -> Result<(), DiscordError> {
    let draft = match data.tracker.editable_draft(id).await {
        Ok(draft) => draft,
        Err(TrackerError::Store(e)) => return Err(e.into()),
        Err(refusal) => {
            i.create_response(ctx, private(&explain(&refusal))).await?;
            return Ok(());
        }
    };
    let field = CreateInputText::new(
        InputTextStyle::Paragraph,
        "Reply (posted as the bot)",
        EDIT_FIELD,
    )
    .value(draft.text)
    .max_length(MESSAGE_LIMIT as u16)
    .required(true);
    let modal = CreateModal::new(alerts::edit_modal_id(id), "Edit the reply")
        .components(vec![CreateActionRow::InputText(field)]);
    i.create_response(ctx, CreateInteractionResponse::Modal(modal))
        .await?;
    Ok(())
}

fn edited_text(i: &ModalInteraction) -> String {
    i.data
        .components
        .iter()
        .flat_map(|row| &row.components)
        .find_map(|c| match c {
            ActionRowComponent::InputText(t) if t.custom_id == EDIT_FIELD => t.value.clone(),
            _ => None,
        })
        .unwrap_or_default()
}

/// Approve (or the Edit modal's submit): claim and queue the reply, then acknowledge. The
/// outbox posts it, records it (`Tracker::outbox_delivered`) and updates the alert.
async fn approve(
    ctx: &serenity::Context,
    data: &Data,
    click: Click<'_>,
    id: &CommentId,
    moderator: &Moderator,
    edited: Option<String>,
) -> Result<(), DiscordError> {
    match data.tracker.approve(id, moderator, edited).await {
        Ok(claim) => {
            info!(edited = claim.edited, "reply queued");
            if let Err(e) = click
                .respond(ctx, CreateInteractionResponse::Acknowledge)
                .await
            {
                warn!(error = %e, "could not acknowledge the click; the reply is queued anyway");
            }
            Ok(())
        }
        Err(e) => {
            info!(reason = %e, "not sent");
            click.respond(ctx, private(&explain(&e))).await?;
            alerts::refresh_logged(data, id).await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_says_nothing_was_done_or_what_to_do() {
        let id = CommentId::new("1");
        for state in [
            CommentState::Sending,
            CommentState::Replied,
            CommentState::Dismissed,
            CommentState::Answered,
            CommentState::Withdrawn,
            CommentState::Clear,
        ] {
            let text = explain(&TrackerError::AlreadyClosed {
                id: id.clone(),
                state,
            });
            assert!(text.contains("nothing"), "{state:?}: {text}");
        }
        assert!(explain(&TrackerError::NoDraft(id)).contains("Mark answered"));
    }
}
