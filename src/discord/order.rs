//! The order the gateway gave messages in, known before their handlers run.
//!
//! Serenity hands each gateway event to its own task, and tasks do not run in the order they
//! were spawned: under a flood a message can reach the ingest queue after the ones the
//! gateway gave after it, and its alert would then go out after theirs. A collector, which
//! serenity calls in the shard's own loop for every event in gateway order before spawning
//! its handlers, [announces](Announced::announce) each message as the gateway gives it; the
//! ingest queue holds the messages after one still [on its way](Announced::first_missing)
//! until it [arrives](Announced::arrived), so a batch never goes ahead of a message that came
//! before it. A message that never arrives (its handler lost) is given up once no handler has
//! handed anything over for [`OVERDUE`] (under a flood the handlers' tasks wait their turn for
//! seconds, and are still coming), and after [`GIVE_UP`] in any case.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;

/// How long the queue waits for a message the gateway gave, once no handler hands anything
/// over: far above the few milliseconds a waiting task takes to run.
pub const OVERDUE: Duration = Duration::from_millis(100);

/// The longest the queue waits for a message the gateway gave, handlers busy or not.
pub const GIVE_UP: Duration = Duration::from_secs(30);

/// Messages the gateway gave that have not reached the ingest queue yet.
#[derive(Debug, Default)]
pub struct Announced {
    on_the_way: Mutex<OnTheWay>,
    /// Bumped at each registration, so that a shard's older collector retires itself.
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct OnTheWay {
    /// By message id, when the gateway gave it.
    given: BTreeMap<u64, Instant>,
    /// When a handler last handed a message over.
    handed_over: Option<Instant>,
}

impl Announced {
    /// The gateway gave message `id` at `at`.
    pub fn announce(&self, id: u64, at: Instant) {
        self.lock().given.insert(id, at);
    }

    /// A handler handed a message over to the queue at `at`: the handlers are running.
    pub fn handed_over(&self, at: Instant) {
        self.lock().handed_over = Some(at);
    }

    /// Message `id` reached the queue.
    pub fn arrived(&self, id: u64) {
        self.lock().given.remove(&id);
    }

    /// The first message the gateway gave that has not reached the queue, unless it is given
    /// up at `now` (given-up ones are forgotten).
    pub fn first_missing(&self, now: Instant) -> Option<u64> {
        let mut on_the_way = self.lock();
        let handed_over = on_the_way.handed_over;
        on_the_way.given.retain(|_, at| {
            let waiting_since = handed_over.map_or(*at, |h| h.max(*at));
            now.saturating_duration_since(waiting_since) < OVERDUE
                && now.saturating_duration_since(*at) < GIVE_UP
        });
        on_the_way.given.keys().next().copied()
    }

    /// Registers the collector announcing the messages of `shard`'s gateway session (called
    /// at each READY, which begins a session). A collector left from an earlier session of
    /// this process retires at its next event.
    pub fn listen(self: &Arc<Self>, shard: &serenity::ShardMessenger) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let announced = Arc::clone(self);
        shard.add_collector(serenity::gateway::CollectorCallback(Box::new(
            move |event| {
                if announced.generation.load(Ordering::SeqCst) != generation {
                    return false;
                }
                if let serenity::Event::MessageCreate(created) = event {
                    announced.announce(created.message.id.get(), Instant::now());
                }
                true
            },
        )));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OnTheWay> {
        self.on_the_way
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_message_still_on_its_way_is_the_oldest_not_arrived() {
        let announced = Announced::default();
        let t0 = Instant::now();
        assert_eq!(announced.first_missing(t0), None);
        for id in [10, 11, 12] {
            announced.announce(id, t0);
        }
        announced.arrived(11);
        announced.arrived(10);
        assert_eq!(announced.first_missing(t0), Some(12));
        announced.arrived(12);
        assert_eq!(announced.first_missing(t0), None);
        // Arriving unannounced (before the collector listened) changes nothing.
        announced.arrived(9);
        assert_eq!(announced.first_missing(t0), None);
    }

    #[test]
    fn a_message_that_never_arrives_is_waited_for_while_handlers_still_hand_messages_over() {
        let announced = Announced::default();
        let t0 = Instant::now();
        announced.announce(7, t0);
        announced.announce(8, t0 + Duration::from_millis(50));
        assert_eq!(announced.first_missing(t0 + OVERDUE / 2), Some(7));
        // Nothing handed over since: 7 is given up once overdue, then 8.
        assert_eq!(announced.first_missing(t0 + OVERDUE), Some(8));
        assert_eq!(announced.first_missing(t0 + OVERDUE * 2), None);

        // Under a flood the handlers run late but keep coming: the missing one is waited for,
        // up to the limit.
        announced.announce(9, t0);
        for step in 1..=10 {
            let now = t0 + OVERDUE * step;
            announced.handed_over(now);
            assert_eq!(announced.first_missing(now + OVERDUE / 2), Some(9));
        }
        announced.handed_over(t0 + GIVE_UP);
        assert_eq!(announced.first_missing(t0 + GIVE_UP), None);
    }
}
