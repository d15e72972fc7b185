//! Duties: work that several `ascolto run` processes sharing one store must do once, held by
//! one process at a time through a lease row in the database ([`Store::claim_duty`]). The
//! holder renews its lease each time it does the work; a process that dies stops renewing,
//! and the next process to ask once the lease ran out takes the duty over. With one process
//! (the embedded SQLite store) it simply always holds them.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use tracing::{info, warn};

use crate::store::{DutyClaim, Store};

/// A duty, named as in the `duties` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duty {
    /// The scheduled checks (`announce::tick`): questions alerted once their grace ran out,
    /// escalations of missed targets, the daily digest.
    Announce,
}

impl Duty {
    pub fn as_str(self) -> &'static str {
        match self {
            Duty::Announce => "announce",
        }
    }
}

/// This process's side of the duties: who it is in the `duties` table, how long its leases
/// run, and which duties it holds (to log a change of hands once, not at every renewal).
#[derive(Debug)]
pub struct Duties {
    store: Store,
    holder: String,
    lease: Duration,
    held: Mutex<HashSet<Duty>>,
}

impl Duties {
    pub fn new(store: Store, lease: Duration) -> Duties {
        Duties {
            store,
            holder: process_name(),
            lease,
            held: Mutex::new(HashSet::new()),
        }
    }

    /// How long a lease runs without renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Whether this process holds `duty` now (taking or renewing its lease): do the work only
    /// on true. A store error counts as not holding it (logged): doing the work twice is what
    /// the lease exists to prevent, and the next check asks again.
    pub async fn hold(&self, duty: Duty) -> bool {
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let claim = self
            .store
            .claim_duty(
                duty.as_str(),
                &self.holder,
                crate::outbox::wall_ms(),
                lease_ms,
            )
            .await;
        let held = match claim {
            Ok(claim) => {
                match &claim {
                    DutyClaim::TakenOver { from, until_ms } => {
                        let late_ms = crate::outbox::wall_ms() - until_ms;
                        warn!(duty = duty.as_str(), from = %from, late_ms, "took the duty over from a process that stopped renewing it");
                    }
                    DutyClaim::Taken => info!(duty = duty.as_str(), "holding the duty"),
                    DutyClaim::Renewed | DutyClaim::Refused => {}
                }
                claim.held()
            }
            Err(e) => {
                warn!(duty = duty.as_str(), error = %e, "could not renew the duty's lease; skipping this round");
                false
            }
        };
        let mut mine = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held != mine.contains(&duty) {
            if held {
                mine.insert(duty);
            } else {
                mine.remove(&duty);
                info!(duty = duty.as_str(), "another process holds the duty now");
            }
        }
        held
    }

    /// Gives every duty this process holds up (a graceful stop), so another process takes
    /// them at its next check rather than after the lease.
    pub async fn release_all(&self) {
        let held: Vec<Duty> = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for duty in held {
            if let Err(e) = self.store.release_duty(duty.as_str(), &self.holder).await {
                warn!(duty = duty.as_str(), error = %e, "could not give the duty up; another process takes it when the lease runs out");
            }
        }
    }
}

/// This process as the `duties` table names it, `host:pid:start`: the same for every tracker
/// it builds (a bot restarted inside one process keeps its duties), new for a new process,
/// even one with the same host and id (possible in a container).
fn process_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(name_this_process).clone()
}

fn name_this_process() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    )
}
