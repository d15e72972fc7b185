//! Gateway shards: which ones this process runs, which guilds and conversations they bring,
//! and whether all of them are connected (what `/readyz` reports for Discord).
//!
//! Discord sends a guild's events on shard `(guild_id >> 22) % shard_count` and direct
//! messages on shard 0 only, so several `ascolto run` processes can share one bot, each with
//! a range of shards (`[discord] shards` and `shard_count`): every guild's messages reach
//! exactly one of them. Everything a process does per guild (catching up on its channels) or
//! for direct messages must follow the same rule, through [`shard_of_guild`] and
//! [`ShardRange`].

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

use crate::config::{DiscordSettings, ShardSelection};

/// The shard Discord sends a guild's events on: the guild id's timestamp part (the bits above
/// the 22 low ones) modulo the number of shards. A count of 0 is read as 1 (one shard).
pub fn shard_of_guild(guild_id: u64, shard_count: u32) -> u32 {
    let count = u64::from(shard_count.max(1));
    // The remainder is below `count`, which came from a u32.
    ((guild_id >> 22) % count) as u32
}

/// An inclusive range of shard ids out of `count` shards, as one process runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    first: u32,
    last: u32,
    count: u32,
}

impl ShardRange {
    /// Shards `first..=last` of `count`; `None` unless `first <= last < count`.
    pub fn new(first: u32, last: u32, count: u32) -> Option<ShardRange> {
        (first <= last && last < count).then_some(ShardRange { first, last, count })
    }

    /// Every shard of `count` (at least one).
    pub fn all(count: u32) -> ShardRange {
        let count = count.max(1);
        ShardRange {
            first: 0,
            last: count - 1,
            count,
        }
    }

    pub fn first(&self) -> u32 {
        self.first
    }

    pub fn last(&self) -> u32 {
        self.last
    }

    /// How many shards the bot uses in all (every process alike).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// How many shards this process runs.
    pub fn len(&self) -> u32 {
        self.last - self.first + 1
    }

    /// Never true (a range holds at least one shard); here because `len` is.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, shard: u32) -> bool {
        (self.first..=self.last).contains(&shard)
    }

    /// Whether this process receives the guild's events.
    pub fn serves_guild(&self, guild_id: u64) -> bool {
        self.contains(shard_of_guild(guild_id, self.count))
    }

    /// Whether this process receives direct messages (they come on shard 0 only).
    pub fn serves_direct_messages(&self) -> bool {
        self.first == 0
    }

    /// Whether this process runs every shard of the bot.
    pub fn is_all(&self) -> bool {
        self.len() == self.count
    }
}

impl fmt::Display for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "shard {} of {}", self.first, self.count)
        } else {
            write!(f, "shards {}-{} of {}", self.first, self.last, self.count)
        }
    }
}

/// What the settings ask this process to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardPlan {
    /// Nothing set: every shard, as many as Discord recommends (`GET /gateway/bot`).
    Recommended,
    /// A known number of shards, all or some of them.
    Range(ShardRange),
}

impl ShardPlan {
    /// Reads `[discord] shards` and `shard_count`. `Settings::validate_for_discord` refuses a
    /// range outside the count before the bot starts, so the fallback to every shard is never
    /// taken by `start`.
    pub fn of(discord: &DiscordSettings) -> ShardPlan {
        match (discord.shards, discord.shard_count) {
            (_, 0) => ShardPlan::Recommended,
            (ShardSelection::All, count) => ShardPlan::Range(ShardRange::all(count)),
            (ShardSelection::Range { first, last }, count) => ShardPlan::Range(
                ShardRange::new(first, last, count).unwrap_or(ShardRange::all(count)),
            ),
        }
    }
}

/// Which of this process's shards are connected now.
#[derive(Debug)]
pub struct ShardStatus {
    range: ShardRange,
    connected: Mutex<BTreeSet<u32>>,
}

impl ShardStatus {
    pub fn new(range: ShardRange) -> ShardStatus {
        ShardStatus {
            range,
            connected: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn range(&self) -> ShardRange {
        self.range
    }

    /// The shards of this process connected now.
    pub fn connected(&self) -> Vec<u32> {
        let connected = self.connected.lock().unwrap_or_else(|e| e.into_inner());
        connected.iter().copied().collect()
    }

    /// Records one shard's state; returns whether every shard of this process is connected.
    pub fn set(&self, shard: u32, up: bool) -> bool {
        // A poisoned lock only means another event panicked mid-update; the set stays usable.
        let mut connected = self.connected.lock().unwrap_or_else(|e| e.into_inner());
        if up && self.range.contains(shard) {
            connected.insert(shard);
        } else {
            connected.remove(&shard);
        }
        connected.len() as u32 == self.range.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guild id whose timestamp part is `t` (the low 22 bits are worker/process/increment).
    fn guild(t: u64, low: u64) -> u64 {
        (t << 22) | low
    }

    #[test]
    fn a_guild_lives_on_its_timestamp_modulo_the_shard_count() {
        assert_eq!(shard_of_guild(guild(10, 0), 4), 2);
        assert_eq!(shard_of_guild(guild(10, (1 << 22) - 1), 4), 2);
        assert_eq!(shard_of_guild(guild(11, 5), 4), 3);
        assert_eq!(shard_of_guild(guild(12, 5), 4), 0);
        // A real guild id: its timestamp part is 46977624770.
        assert_eq!(shard_of_guild(197_038_439_483_310_086, 1000), 770);
        assert_eq!(shard_of_guild(197_038_439_483_310_086, 2), 0);
        // One shard (or an unset count) holds every guild.
        assert_eq!(shard_of_guild(u64::MAX, 1), 0);
        assert_eq!(shard_of_guild(u64::MAX, 0), 0);
    }

    #[test]
    fn a_range_serves_the_guilds_of_its_shards_and_dms_only_with_shard_zero() {
        let low = ShardRange::new(0, 1, 4).unwrap();
        let high = ShardRange::new(2, 3, 4).unwrap();
        for t in 0..16 {
            let g = guild(t, 7);
            assert!(
                low.serves_guild(g) != high.serves_guild(g),
                "guild {g} belongs to exactly one of two complementary ranges"
            );
        }
        assert!(low.serves_guild(guild(5, 0)));
        assert!(!low.serves_guild(guild(6, 0)));
        assert!(low.serves_direct_messages());
        assert!(!high.serves_direct_messages());
        assert_eq!((low.len(), low.to_string()), (2, "shards 0-1 of 4".into()));
        assert_eq!(
            ShardRange::new(3, 3, 4).unwrap().to_string(),
            "shard 3 of 4"
        );
        assert!(ShardRange::all(1).is_all() && ShardRange::all(1).serves_guild(u64::MAX));
        assert!(!high.is_all());
    }

    #[test]
    fn a_range_must_lie_within_the_count() {
        assert_eq!(ShardRange::new(2, 1, 4), None);
        assert_eq!(ShardRange::new(0, 4, 4), None);
        assert_eq!(ShardRange::all(0), ShardRange::new(0, 0, 1).unwrap());
    }

    #[test]
    fn the_plan_follows_the_settings() {
        let mut s = DiscordSettings::for_tests();
        assert_eq!(ShardPlan::of(&s), ShardPlan::Recommended);
        s.shard_count = 4;
        assert_eq!(ShardPlan::of(&s), ShardPlan::Range(ShardRange::all(4)));
        s.shards = ShardSelection::Range { first: 1, last: 2 };
        assert_eq!(
            ShardPlan::of(&s),
            ShardPlan::Range(ShardRange::new(1, 2, 4).unwrap())
        );
    }

    #[test]
    fn ready_only_once_every_shard_of_the_process_is_up() {
        let status = ShardStatus::new(ShardRange::new(2, 3, 4).unwrap());
        assert!(!status.set(2, true));
        // A shard this process does not run changes nothing.
        assert!(!status.set(0, true));
        assert!(status.set(3, true));
        assert!(!status.set(2, false));
        assert!(status.set(2, true));
        assert_eq!(status.connected(), vec![2, 3]);
    }
}
