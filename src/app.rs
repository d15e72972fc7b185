//! Building the application from settings: one function shared by `main`, the demo and the
//! integration tests, so they all run the same wiring.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{ConfigError, Settings};
use crate::escalation::EscalationPolicy;
use crate::rules::{Library, LibraryError};
use crate::sla::{QuestionGrace, Sla};
use crate::store::{Store, StoreError};
use crate::tracker::{AnswerPolicy, Tracker, TrackerConfig};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The wired core: settings, the tracker (with its store and rule library), and the
/// response targets and escalation policy every adapter and the replay read.
#[derive(Debug, Clone)]
pub struct App {
    pub settings: Settings,
    pub tracker: Arc<Tracker>,
    pub sla: Arc<Sla>,
    pub escalation: Arc<EscalationPolicy>,
}

impl App {
    /// Loads the rule library, opens the store at `settings.store.url`, builds the tracker.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<App, AppError> {
        let url = settings.store.url.clone();
        Self::build_with_store(settings, &url, clock).await
    }

    /// As [`App::build`], with another database URL (the demo uses its own).
    pub async fn build_with_store(
        settings: Settings,
        url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<App, AppError> {
        let library = Library::load(&settings.rules.dir, &settings.templates.values)?;
        let store = Store::connect(url).await?;
        let tracker = Tracker::new(
            store,
            library,
            TrackerConfig {
                options: settings.triage_options(),
                values: settings.templates.values.clone(),
                moderator_fallback: settings.templates.moderator_fallback.clone(),
                policy: AnswerPolicy {
                    anyone_answers: settings.discord.anyone_answers,
                },
                grace: QuestionGrace::from_settings(&settings.sla),
                lease: settings.cluster.lease(),
            },
            clock,
        );
        Ok(App {
            sla: Arc::new(Sla::from_settings(&settings.sla)),
            escalation: Arc::new(EscalationPolicy::from_settings(&settings.escalation)),
            settings,
            tracker: Arc::new(tracker),
        })
    }
}
