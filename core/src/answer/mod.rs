//! Answer detection: decides whether a new message answers a comment that is still open.
//!
//! In many community channels people answer without the platform's reply feature: on IRC and
//! in busy Discord channels an answer is "nick: try X", a mention, or just the next message in
//! a two-person exchange. The tracker feeds every message of a channel through
//! [`AnswerDetector::observe_open`], saying which ones it tracks as open (triage flagged them),
//! and gets back the open comments the message answers, each with the [`AnswerCue`] that
//! explains why, so a moderator can see it and the digest can trust it.
//!
//! Pure logic: no I/O and no clock. Time comes from the comments, so a replay, a backfill and
//! the live gateway give the same answers. Memory is bounded per channel: a window of recent
//! messages for turn-taking, the last [`AnswerConfig::max_open_per_channel`] open comments and
//! the last few speakers' names.

mod cues;
pub mod eval;

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use crate::comment::{AuthorId, ChannelId, Comment, CommentId};

pub use cues::looks_like_question;
use cues::{addressing, is_answer_like, is_content_free, is_question, word_count, NameForms};

/// Tuning of the detector; [`Default`] suits chat channels with several conversations at once.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerConfig {
    /// How many later messages in the channel can still answer by the heuristic cues (name,
    /// turn-taking, content). Explicit replies, threads and mentions are not limited by it.
    pub window_messages: usize,
    /// How long after a comment the heuristic cues may still answer it.
    pub window: Duration,
    /// Only staff answers count, except explicit replies and mentions: those are unambiguous
    /// answers whoever writes them, while a member's unaddressed chatter is not.
    pub staff_only: bool,
    /// Open comments remembered per channel; the oldest is dropped first. Bounds memory.
    pub max_open_per_channel: usize,
    /// How many of an author's latest messages an answer addressed to them can reach. An answer
    /// to "bob" answers what bob said last, or the real question just before a nudge ("?"):
    /// only nudges are skipped, never a real message. Once bob has said something else after
    /// his question, an answer to "bob" is an answer to that.
    pub turn_lookback: usize,
    /// Messages with fewer words than this are nudges ("?", "anyone??"): when one follows a
    /// real question, an answer goes to the question. A nudge with nothing in it but fillers
    /// ("?", "anyone?", "hello??") is never what a named or unnamed reply answers.
    pub nudge_words: usize,
    /// Within how many messages the person a question was addressed to (or the asker's
    /// conversation partner) answers it by simply speaking next, without naming the asker.
    pub reply_turns: usize,
    /// How far back to look for whom an author is talking with.
    pub partner_turns: usize,
    /// Within how many messages the asker's conversation partner answers an undirected
    /// question by simply speaking next. Shorter than [`AnswerConfig::reply_turns`]: a partner
    /// speaking a few lines later in a busy channel is as often talking to someone else.
    pub partner_reply_turns: usize,
    /// Whether an unaddressed, answer-like message may answer the one open question before it.
    pub conversational: bool,
    /// The conversational cue only fires within this many messages after the question...
    pub conversational_turns: usize,
    /// ...and this soon after it.
    pub conversational_window: Duration,
    /// ...and only in a quiet channel: at most this many people among the last
    /// [`QUIET_LOOKBACK`] messages. With more, an unaddressed message cannot be attributed.
    pub quiet_speakers: usize,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        Self {
            window_messages: 30,
            window: Duration::minutes(30),
            staff_only: false,
            max_open_per_channel: 64,
            turn_lookback: 2,
            nudge_words: 4,
            reply_turns: 20,
            partner_turns: 20,
            partner_reply_turns: 2,
            conversational: true,
            conversational_turns: 2,
            conversational_window: Duration::minutes(5),
            quiet_speakers: 3,
        }
    }
}

/// Messages looked at to decide whether a channel is quiet enough for the conversational cue.
pub const QUIET_LOOKBACK: usize = 10;

/// Recent speakers remembered per channel, for recognising names in messages.
const KNOWN_NAMES: usize = 64;

/// Why a message counts as an answer, strongest evidence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerCue {
    /// The platform says it replies to the comment (`Comment::reply_to`).
    ExplicitReply,
    /// Written in the thread started from the comment, or in the thread where it was asked.
    SameThread,
    /// Mentions the comment's author (`Comment::mentions`).
    MentionsAuthor,
    /// Addresses the author by name, IRC style: "nick: ...", "nick, ...", "thanks nick".
    AddressesByName,
    /// The comment was addressed to this message's author, who speaks next without naming
    /// anyone: in chat, that is the reply.
    AddresseeReplies,
    /// The asker was in a conversation with this message's author, who speaks next without
    /// naming anyone.
    ConversationPartner,
    /// Soon after, by someone else, in a quiet channel, reads like an answer, and no other
    /// open question competes for it.
    Conversational,
}

/// An open comment that a new message answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub comment: CommentId,
    pub by: AuthorId,
    pub cue: AnswerCue,
}

/// Tracks open comments per channel and recognises the messages that answer them.
#[derive(Debug, Clone, Default)]
pub struct AnswerDetector {
    config: AnswerConfig,
    channels: HashMap<ChannelId, ChannelState>,
}

/// One message of a channel's recent history, reduced to what the cues need.
#[derive(Debug, Clone)]
struct Seen {
    /// Position in the channel, to measure distances in messages.
    seq: u64,
    id: CommentId,
    author: AuthorId,
    time: DateTime<Utc>,
    /// Whom it addresses (mentions and names).
    addressees: Vec<AuthorId>,
    /// Addressed to someone the channel has not seen: nobody we track.
    addressed_unknown: bool,
    /// Whom its author was talking with when they wrote it.
    partner: Option<AuthorId>,
    nudge: bool,
    /// Says nothing but "I'm waiting" ("?", "anyone?", "hello?"): nothing in it to answer, so
    /// the turn-taking cues never close it (explicit replies and rule-1 answers still can).
    empty: bool,
    /// Whether its author's heuristic answers count (not under `staff_only` for members).
    counts: bool,
}

impl Seen {
    fn undirected(&self) -> bool {
        self.addressees.is_empty() && !self.addressed_unknown
    }
}

#[derive(Debug, Clone)]
struct Open {
    id: CommentId,
    author: AuthorId,
    seq: u64,
}

#[derive(Debug, Clone, Default)]
struct ChannelState {
    /// Recent messages, oldest first, within the window.
    history: VecDeque<Seen>,
    /// Open comments, oldest first; the only record of what is open.
    open: VecDeque<Open>,
    /// Recent speakers, most recent last.
    speakers: VecDeque<(AuthorId, NameForms)>,
    next_seq: u64,
}

impl ChannelState {
    fn is_open(&self, seq: u64) -> bool {
        self.open.iter().any(|o| o.seq == seq)
    }

    fn close(&mut self, pick: impl Fn(&Open) -> bool) -> Option<Open> {
        let at = self.open.iter().position(pick)?;
        self.open.remove(at)
    }

    fn expire(&mut self, seq: u64, now: DateTime<Utc>, config: &AnswerConfig) {
        while let Some(front) = self.history.front() {
            let too_many = seq - front.seq > config.window_messages as u64;
            let too_old = now.signed_duration_since(front.time) > config.window;
            if !(too_many || too_old) {
                break;
            }
            self.history.pop_front();
        }
    }

    /// Whom `author` is talking with: the one person they last addressed, or the last person
    /// who addressed them, within `turns` messages.
    fn partner_of(&self, author: &AuthorId, seq: u64, turns: usize) -> Option<AuthorId> {
        for seen in self.history.iter().rev() {
            if seq - seen.seq > turns as u64 {
                break;
            }
            if seen.author == *author {
                if let [only] = seen.addressees.as_slice() {
                    return Some(only.clone());
                }
            } else if seen.addressees.contains(author) {
                return Some(seen.author.clone());
            }
        }
        None
    }

    /// Which open comment of `asker` a message from `answerer` addressed to them answers.
    ///
    /// If the asker has said something to the answerer since the answerer last addressed them,
    /// the answer is to the latest of those: a question put to the answerer is answered even
    /// when the asker has since talked with other people (IRC helpers juggle several people at
    /// once), and a remark to the answerer after the question takes the answer instead.
    ///
    /// Otherwise an answer addressed to someone answers what they said last: their latest
    /// message, or the real message before the nudges that followed it ("?", "anyone"), back to
    /// the last time anyone answered them. If what they said last is not open (a remark after
    /// their question), the answer is to the remark: on the training stream an answer addressed
    /// to an asker who spoke again was to the question only 57% of the time. A nudge with
    /// nothing in it ("?", "anyone?") is skipped but never answered itself: a reply to its
    /// author is about their real question or nothing (on the training stream such nudges
    /// closed this way were answered 34% of the time). If none of their
    /// messages is recent and `explicit` (a platform mention, which is deliberate), fall back to
    /// their newest open comment.
    fn pick_for(
        &self,
        asker: &AuthorId,
        answerer: &AuthorId,
        config: &AnswerConfig,
        explicit: bool,
    ) -> Option<u64> {
        if let Some(said) = self.last_said_to(asker, answerer) {
            return self.is_open(said.seq).then_some(said.seq);
        }
        let mut turn: Vec<&Seen> = Vec::new();
        for seen in self.history.iter().rev() {
            if seen.author != *asker {
                // Someone already answered what the asker said before this.
                if seen.counts && seen.addressees.contains(asker) {
                    break;
                }
                continue;
            }
            turn.push(seen);
            if !seen.nudge || turn.len() >= config.turn_lookback {
                break;
            }
        }
        let open: Vec<&Seen> = turn
            .iter()
            .copied()
            .filter(|s| self.is_open(s.seq) && !s.empty)
            .collect();
        if let Some(best) = open.iter().find(|s| !s.nudge).or(open.first()) {
            return Some(best.seq);
        }
        if explicit && turn.is_empty() {
            return self
                .open
                .iter()
                .rev()
                .find(|o| o.author == *asker)
                .map(|o| o.seq);
        }
        None
    }

    /// The latest message `asker` addressed to `answerer`, unless `answerer` has addressed
    /// `asker` since (then that message has had its answer).
    fn last_said_to(&self, asker: &AuthorId, answerer: &AuthorId) -> Option<&Seen> {
        for seen in self.history.iter().rev() {
            if seen.author == *asker {
                if seen.addressees.contains(answerer) {
                    return Some(seen);
                }
            } else if seen.author == *answerer && seen.addressees.contains(asker) {
                return None;
            }
        }
        None
    }

    /// The open comment whose addressee (or the asker's partner) is `author`, speaking next.
    ///
    /// As with [`ChannelState::pick_for`], a reply is to the last thing said to its author: once
    /// anyone has told `author` something else after the question (not open: a remark, a
    /// thank-you), an unnamed reply is to that, and the question stays open. An empty nudge
    /// ("?", "anyone?") is not a question to reply to: passed over, or, if put to `author`
    /// ("bob: ?"), it takes the reply and nothing is closed.
    fn awaiting_reply_from(
        &self,
        author: &AuthorId,
        seq: u64,
        turns: usize,
        partner_turns: usize,
    ) -> Option<(u64, AnswerCue)> {
        for seen in self.history.iter().rev() {
            if seen.author == *author || seq - seen.seq > turns as u64 {
                break;
            }
            if !self.is_open(seen.seq) || seen.empty {
                if seen.addressees.contains(author) {
                    return None;
                }
                continue;
            }
            if seen.addressees.contains(author) {
                return Some((seen.seq, AnswerCue::AddresseeReplies));
            }
            if seen.undirected()
                && seen.partner.as_ref() == Some(author)
                && seq - seen.seq <= partner_turns as u64
            {
                return Some((seen.seq, AnswerCue::ConversationPartner));
            }
        }
        None
    }

    /// The one open, undirected question just before an answer-like message in a quiet
    /// channel, if nothing competes for the answer.
    fn conversational_target(
        &self,
        comment: &Comment,
        seq: u64,
        config: &AnswerConfig,
    ) -> Option<u64> {
        let author = &comment.author.id;
        let mut speakers: Vec<&AuthorId> = vec![author];
        for seen in self.history.iter().rev().take(QUIET_LOOKBACK) {
            if !speakers.contains(&&seen.author) {
                speakers.push(&seen.author);
            }
        }
        if speakers.len() > config.quiet_speakers {
            return None;
        }
        // Someone in the middle of helping another person is not answering this one.
        let busy = self
            .history
            .iter()
            .rev()
            .find(|s| s.author == *author)
            .is_some_and(|s| !s.addressees.is_empty());
        if busy {
            return None;
        }
        let mut target: Option<&Seen> = None;
        for seen in self.history.iter().rev() {
            if seen.author == *author
                || seq - seen.seq > config.conversational_turns as u64
                || comment.time.signed_duration_since(seen.time) > config.conversational_window
            {
                break;
            }
            if self.is_open(seen.seq) {
                if target.is_some() {
                    return None; // two open questions: the answer could be for either
                }
                target = Some(seen);
            }
        }
        target
            .filter(|t| t.undirected() && t.partner.is_none())
            .map(|t| t.seq)
    }

    /// The open question of `author` that a message with nothing in it ("?", "anyone?") from
    /// them only repeats: their latest real message within the window that is still open. Such
    /// a nudge is the same wait, not a second question: observed as not open, one answer
    /// settles the wait and moderators get one alert for it, not two.
    fn nudged(
        &self,
        author: &AuthorId,
        now: DateTime<Utc>,
        config: &AnswerConfig,
    ) -> Option<&Open> {
        let recent = self.history.iter().rev().take_while(|seen| {
            self.next_seq - seen.seq <= config.window_messages as u64
                && now.signed_duration_since(seen.time) <= config.window
        });
        recent
            .filter(|seen| seen.author == *author && !seen.empty)
            .find_map(|seen| self.open.iter().find(|o| o.seq == seen.seq))
    }

    /// Closes the nudges with nothing in them ("anyone??") that `question`'s author still has
    /// open after it, up to their next real message: kept open when they were more than a
    /// question (a complaint about waiting), they are settled by the answer that settles it.
    fn close_nudges_of(&mut self, question: &Open) -> Vec<Open> {
        let mut after = self
            .history
            .iter()
            .skip_while(|seen| seen.seq != question.seq || seen.id != question.id)
            .skip(1)
            .filter(|seen| seen.author == question.author);
        let mut nudges = Vec::new();
        for seen in after.by_ref() {
            if !seen.empty {
                break;
            }
            nudges.push(seen.seq);
        }
        nudges
            .into_iter()
            .filter_map(|seq| self.close(|o| o.seq == seq))
            .collect()
    }

    fn remember_speaker(&mut self, comment: &Comment) {
        self.speakers.retain(|(id, _)| *id != comment.author.id);
        self.speakers.push_back((
            comment.author.id.clone(),
            NameForms::new(&comment.author.name),
        ));
        if self.speakers.len() > KNOWN_NAMES {
            self.speakers.pop_front();
        }
    }

    fn has_seen(&self, id: &CommentId) -> bool {
        self.history.iter().any(|s| s.id == *id) || self.open.iter().any(|o| o.id == *id)
    }

    /// Reduces a new comment to what the cues need, in the context of this channel.
    fn describe(&mut self, comment: &Comment, text: &str, config: &AnswerConfig) -> Seen {
        let author = &comment.author.id;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.expire(seq, comment.time, config);

        let others = self.speakers.iter().rev().filter(|(id, _)| id != author);
        let found = addressing(text, others.map(|(id, name)| (id, name)));
        let mut addressees: Vec<AuthorId> = Vec::new();
        for id in comment.mentions.iter().chain(&found.names) {
            if id != author && !addressees.contains(id) {
                addressees.push(id.clone());
            }
        }
        Seen {
            seq,
            id: comment.id.clone(),
            author: author.clone(),
            time: comment.time,
            partner: self.partner_of(author, seq, config.partner_turns),
            addressed_unknown: found.unknown && addressees.is_empty(),
            addressees,
            nudge: word_count(text) < config.nudge_words,
            empty: is_content_free(text),
            counts: !comment.author.is_bot && (!config.staff_only || comment.author.is_staff),
        }
    }

    /// Closes the open comments that `seen` answers by name, mention, turn-taking or content.
    fn answer_by_cues(
        &mut self,
        comment: &Comment,
        text: &str,
        seen: &Seen,
        config: &AnswerConfig,
        hits: &mut Vec<(Open, AnswerCue)>,
    ) {
        for addressee in &seen.addressees {
            let mentioned = comment.mentions.contains(addressee);
            // A reply pings its target: that mention is the reply, not a second answer.
            let done = hits.iter().any(|(open, _)| open.author == *addressee);
            if done || !(mentioned || seen.counts) {
                continue;
            }
            let cue = if mentioned {
                AnswerCue::MentionsAuthor
            } else {
                AnswerCue::AddressesByName
            };
            let target = self.pick_for(addressee, &seen.author, config, mentioned);
            if let Some(open) = target.and_then(|t| self.close(|o| o.seq == t)) {
                hits.push((open, cue));
            }
        }
        if !hits.is_empty() || !seen.undirected() || !seen.counts {
            return;
        }
        let target = if comment.place.parent.is_some() {
            // A thread is one conversation: whoever speaks next answers it.
            self.open
                .iter()
                .rev()
                .find(|o| o.author != seen.author)
                .map(|o| (o.seq, AnswerCue::SameThread))
        } else {
            self.awaiting_reply_from(
                &seen.author,
                seen.seq,
                config.reply_turns,
                config.partner_reply_turns,
            )
        };
        let target = target.or_else(|| {
            let answer_like = config.conversational && is_answer_like(text) && !is_question(text);
            answer_like
                .then(|| self.conversational_target(comment, seen.seq, config))
                .flatten()
                .map(|t| (t, AnswerCue::Conversational))
        });
        if let Some(open) = target.and_then(|(t, cue)| Some((self.close(|o| o.seq == t)?, cue))) {
            hits.push(open);
        }
    }

    fn record(&mut self, comment: &Comment, seen: Seen, is_open: bool, config: &AnswerConfig) {
        if is_open && !comment.author.is_bot {
            self.open.push_back(Open {
                id: comment.id.clone(),
                author: comment.author.id.clone(),
                seq: seen.seq,
            });
            if self.open.len() > config.max_open_per_channel {
                self.open.pop_front();
            }
        }
        self.history.push_back(seen);
        self.remember_speaker(comment);
    }
}

impl AnswerDetector {
    pub fn new(config: AnswerConfig) -> Self {
        Self {
            config,
            channels: HashMap::new(),
        }
    }

    pub fn config(&self) -> &AnswerConfig {
        &self.config
    }

    /// Records `comment` as open and returns the earlier open comments it answers.
    pub fn observe(&mut self, comment: &Comment) -> Vec<Answered> {
        self.observe_open(comment, true)
    }

    /// Records `comment`, open or not, and returns the earlier open comments it answers.
    ///
    /// Every message of a channel should pass through here, open or not: turn-taking needs
    /// them all ("what did bob say last?"). Bots never answer and are never open. Observing a
    /// comment a second time (a backfill overlapping the gateway) changes nothing.
    pub fn observe_open(&mut self, comment: &Comment, is_open: bool) -> Vec<Answered> {
        let channel = &comment.place.channel;
        if self
            .channels
            .get(channel)
            .is_some_and(|s| s.has_seen(&comment.id))
        {
            return Vec::new();
        }
        let mut hits = if comment.author.is_bot {
            Vec::new()
        } else {
            self.close_linked(comment)
        };
        let config = &self.config;
        let state = self.channels.entry(channel.clone()).or_default();
        let text = crate::text::normalize(&comment.text).text;
        let seen = state.describe(comment, &text, config);
        if !comment.author.is_bot {
            state.answer_by_cues(comment, &text, &seen, config, &mut hits);
        }
        let nudges: Vec<(Open, AnswerCue)> = hits
            .iter()
            .flat_map(|(question, cue)| {
                let nudges = state.close_nudges_of(question);
                nudges.into_iter().map(|nudge| (nudge, *cue))
            })
            .collect();
        hits.extend(nudges);
        state.record(comment, seen, is_open, config);
        hits.into_iter()
            .map(|(open, cue)| Answered {
                comment: open.id,
                by: comment.author.id.clone(),
                cue,
            })
            .collect()
    }

    /// The open question that `comment` only nudges, when it has nothing in it to answer ("?",
    /// "anyone??", "hello? anybody") and its author's real question in the channel is still
    /// open within the window. Such a nudge should be observed as not open: the question it
    /// repeats is what an answer settles. Ask before observing the comment.
    pub fn nudged(&self, comment: &Comment) -> Option<CommentId> {
        if comment.author.is_bot || !is_content_free(&crate::text::normalize(&comment.text).text) {
            return None;
        }
        let state = self.channels.get(&comment.place.channel)?;
        if state.has_seen(&comment.id) {
            return None;
        }
        state
            .nudged(&comment.author.id, comment.time, &self.config)
            .map(|open| open.id.clone())
    }

    /// Closes what the platform links the comment to: the comment it replies to, or the one
    /// whose thread it is written in. Either may live in the parent channel of a thread.
    fn close_linked(&mut self, comment: &Comment) -> Vec<(Open, AnswerCue)> {
        let author = &comment.author.id;
        let mut hits = Vec::new();
        if let Some(reply_to) = &comment.reply_to {
            let channels = std::iter::once(&comment.place.channel).chain(&comment.place.parent);
            let open = channels
                .filter_map(|channel| {
                    let state = self.channels.get_mut(channel)?;
                    state.close(|o| o.id == *reply_to && o.author != *author)
                })
                .next();
            hits.extend(open.map(|open| (open, AnswerCue::ExplicitReply)));
        }
        if let Some(parent) = &comment.place.parent {
            // On Discord a thread started from a message has that message's id.
            let starter = comment.place.channel.as_str();
            let open = self
                .channels
                .get_mut(parent)
                .and_then(|s| s.close(|o| o.id.as_str() == starter && o.author != *author));
            hits.extend(open.map(|open| (open, AnswerCue::SameThread)));
        }
        hits
    }

    /// Stops tracking a comment (answered elsewhere, dismissed, deleted). Returns whether it
    /// was open.
    pub fn forget(&mut self, id: &CommentId) -> bool {
        self.channels
            .values_mut()
            .any(|state| state.close(|o| o.id == *id).is_some())
    }

    /// Whether a comment is still open as far as the detector knows.
    pub fn is_open(&self, id: &CommentId) -> bool {
        self.channels
            .values()
            .any(|state| state.open.iter().any(|o| o.id == *id))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::comment::{Author, Place, Source};

    /// Builds a channel's messages one minute apart.
    struct Chat {
        detector: AnswerDetector,
        channel: &'static str,
        minute: i64,
        next_id: u32,
    }

    impl Chat {
        fn new(config: AnswerConfig) -> Self {
            Self {
                detector: AnswerDetector::new(config),
                channel: "general",
                minute: 0,
                next_id: 0,
            }
        }

        fn comment(&mut self, author: &str, text: &str) -> Comment {
            self.next_id += 1;
            self.minute += 1;
            let author = Author {
                is_staff: author.starts_with("Mod"),
                is_bot: author.ends_with("Bot"),
                ..Author::member(author.to_lowercase(), author)
            };
            let place = Place {
                guild: Some("g".to_owned()),
                ..Place::channel(self.channel, self.channel)
            };
            let time =
                Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap() + Duration::minutes(self.minute);
            Comment::new(
                format!("m{}", self.next_id),
                Source::Discord,
                place,
                author,
                text,
                time,
            )
        }

        /// An open question.
        fn ask(&mut self, author: &str, text: &str) -> CommentId {
            let c = self.comment(author, text);
            self.detector.observe(&c);
            c.id
        }

        /// A message that is not tracked as open; returns what it answers.
        fn say(&mut self, author: &str, text: &str) -> Vec<Answered> {
            let c = self.comment(author, text);
            self.detector.observe_open(&c, false)
        }

        fn send(&mut self, c: &Comment) -> Vec<Answered> {
            self.detector.observe_open(c, false)
        }
    }

    fn one(answers: &[Answered]) -> (&str, &str, AnswerCue) {
        assert_eq!(answers.len(), 1, "{answers:?}");
        let a = &answers[0];
        (a.comment.as_str(), a.by.as_str(), a.cue)
    }

    #[test]
    fn explicit_reply_answers_whenever_it_comes() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "Where do I find the invoice for my order?");
        chat.minute += 24 * 60; // a day later, far outside the heuristic window
        let mut reply = chat.comment("Bob", "Under Account > Orders.");
        reply.reply_to = Some(q.clone());
        assert_eq!(
            one(&chat.send(&reply)),
            (q.as_str(), "bob", AnswerCue::ExplicitReply)
        );
        assert!(!chat.detector.is_open(&q));
    }

    #[test]
    fn mention_answers_the_authors_question() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "Does the beta work on Android 14?");
        let mut reply = chat.comment("Bob", "@Ann yes since last week");
        reply.mentions = vec![AuthorId::new("ann")];
        assert_eq!(
            one(&chat.send(&reply)),
            (q.as_str(), "bob", AnswerCue::MentionsAuthor)
        );
    }

    #[test]
    fn a_reply_and_its_automatic_mention_answer_once() {
        let mut chat = Chat::new(AnswerConfig::default());
        let first = chat.ask("Ann", "How do I export my data?");
        let second = chat.ask("Ann", "And can I import it elsewhere?");
        let mut reply = chat.comment("Bob", "Settings > Export");
        reply.reply_to = Some(first.clone());
        reply.mentions = vec![AuthorId::new("ann")];
        assert_eq!(one(&chat.send(&reply)).0, first.as_str());
        assert!(chat.detector.is_open(&second));
    }

    #[test]
    fn nick_addressed_answer_without_reply() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Rick^", "how do i move the bot to another server");
        chat.say("Carl", "morning all");
        let answer = chat.say(
            "Dora",
            "rick: kick it and invite it again with the new link",
        );
        assert_eq!(
            one(&answer),
            (q.as_str(), "dora", AnswerCue::AddressesByName)
        );
    }

    #[test]
    fn own_follow_up_is_not_an_answer() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "why does the app log me out every hour?");
        assert!(chat
            .say("Ann", "ann: try clearing the cache, I guess")
            .is_empty());
        assert!(chat.say("Ann", "you need to reinstall maybe").is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn solving_it_yourself_is_not_being_answered() {
        // "Nobody else answered" is what the tracker alerts on: the asker's own "never mind"
        // closes nothing, and a helper's reply to it is about the "never mind", not the question.
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "why does my second monitor stay black after login?");
        assert!(chat
            .say("Ann", "never mind, got it working, it was the cable")
            .is_empty());
        assert!(chat.say("Bob", "ann: glad you sorted it out").is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn unrelated_chatter_is_not_an_answer() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "is the server down for anyone else?");
        chat.say("Bob", "Carl: did you see the match yesterday");
        chat.say("Carl", "Bob: yes what a game");
        assert!(chat.say("Dora", "lol").is_empty());
        assert!(chat.say("Bob", "try the new pizza place").is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn answers_addressed_to_someone_else_do_not_count() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "how do I change my avatar?");
        chat.say("Zed", "hello");
        assert!(chat.say("Bob", "zed: hi, welcome").is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn window_expiry_by_time_and_by_messages() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "how do I reset my password?");
        chat.minute += 45; // past the 30-minute window
        assert!(chat
            .say("Bob", "ann: use the forgot-password link")
            .is_empty());
        assert!(chat.detector.is_open(&q));

        let mut chat = Chat::new(AnswerConfig {
            window_messages: 3,
            ..AnswerConfig::default()
        });
        let q = chat.ask("Ann", "how do I reset my password?");
        for _ in 0..3 {
            chat.say("Carl", "spam");
        }
        assert!(chat
            .say("Bob", "ann: use the forgot-password link")
            .is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn italian_answer_without_reply_in_a_quiet_channel() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Giulia", "Qualcuno sa perché il bot non risponde più?");
        let answer = chat.say("Marco", "prova a riavviare il bot dal pannello");
        assert_eq!(
            one(&answer),
            (q.as_str(), "marco", AnswerCue::Conversational)
        );
    }

    #[test]
    fn conversational_cue_needs_a_single_candidate_and_a_quiet_channel() {
        let mut chat = Chat::new(AnswerConfig::default());
        chat.ask("Ann", "how do I enable dark mode?");
        chat.ask("Bob", "where are the release notes?");
        // Two open questions: the instruction could answer either, so it answers neither.
        assert!(chat.say("Carl", "try the settings page").is_empty());

        let mut chat = Chat::new(AnswerConfig::default());
        for who in ["Dan", "Eve", "Fay", "Gus"] {
            chat.say(who, "hi");
        }
        let q = chat.ask("Ann", "how do I enable dark mode?");
        assert!(chat.say("Carl", "try the settings page").is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn the_addressee_answers_by_speaking_next() {
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Bob", "the export finished");
        let q = chat.ask("Ann", "bob: did it include the attachments?");
        chat.say("Carl", "Dora: see the pinned message");
        let answer = chat.say("Bob", "yes, all of them");
        assert_eq!(
            one(&answer),
            (q.as_str(), "bob", AnswerCue::AddresseeReplies)
        );
    }

    #[test]
    fn an_answer_to_someone_who_spoke_again_is_about_what_they_said_last() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "which driver do I need for this card?");
        chat.say("Ann", "the screen flickers when the fan starts");
        // Addressed to Ann, but about her latest remark, not the earlier question.
        assert!(chat
            .say("Bob", "ann: that sounds like a loose cable")
            .is_empty());
        assert!(chat.detector.is_open(&q));
        // A nudge after the question is skipped: the answer still goes to the question.
        let q = chat.ask("Cyd", "where does the config file live?");
        chat.ask("Cyd", "anyone?");
        let answer = chat.say("Dan", "cyd: in your home folder");
        assert_eq!(answer[0].comment, q);
        assert_eq!(answer.len(), 2, "the nudge is settled with it: {answer:?}");
    }

    #[test]
    fn a_question_put_to_someone_is_answered_by_them_after_other_talk() {
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Bob", "the backup job failed again tonight");
        let q = chat.ask("Ann", "bob: which disk was it writing to?");
        chat.say("Ann", "carl: thanks for the script you sent earlier");
        assert!(chat.say("Carl", "ann: you're welcome").is_empty());
        // Bob answers Ann: her last words to him were the question, not the remark to Carl.
        assert_eq!(
            one(&chat.say("Bob", "ann: the external one, sdb")),
            (q.as_str(), "bob", AnswerCue::AddressesByName)
        );
    }

    #[test]
    fn a_remark_to_the_helper_after_the_question_takes_the_answer() {
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Bob", "the backup job failed again tonight");
        let q = chat.ask("Ann", "bob: which disk was it writing to?");
        chat.say("Ann", "bob: I also rebooted the server since then");
        // Bob's reply is to what Ann told him last.
        assert!(chat.say("Bob", "ann: ok, that explains the log").is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn a_remark_to_the_addressee_after_the_question_takes_their_reply() {
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Bob", "the export finished");
        let q = chat.ask("Ann", "bob: did it include the attachments?");
        chat.say("Ann", "bob: thanks for running it so late by the way");
        // Bob speaks next without naming anyone: that is the reply to the thank-you.
        assert!(chat.say("Bob", "no problem at all").is_empty());
        assert!(chat.detector.is_open(&q));

        // The same when someone else has spoken to Bob in between.
        let q = chat.ask("Ann", "bob: and the calendar entries?");
        chat.say("Carl", "bob: the printer on floor two is jammed again");
        assert!(chat.say("Bob", "on my way").is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn a_partner_speaking_several_lines_later_is_not_answering() {
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Ann", "the import keeps failing");
        chat.say("Bob", "Ann: open the admin panel first");
        let q = chat.ask("Ann", "and then which tab?");
        chat.say("Carl", "morning all");
        chat.say("Dora", "carl: morning");
        chat.say("Eve", "has anyone tried the new release");
        assert!(chat.say("Bob", "lunch time for me").is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn the_conversation_partner_answers_a_follow_up() {
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Ann", "the import keeps failing");
        chat.say("Bob", "Ann: open the admin panel first");
        let q = chat.ask("Ann", "and then which tab?");
        let answer = chat.say("Bob", "permissions");
        assert_eq!(
            one(&answer),
            (q.as_str(), "bob", AnswerCue::ConversationPartner)
        );
    }

    #[test]
    fn an_answer_goes_to_the_question_not_the_nudge() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "how do I delete my account?");
        let nudge = chat.ask("Ann", "anyone??");
        let answer = chat.say("Bob", "Ann: Settings > Privacy > Delete");
        assert_eq!(answer[0].comment, q);
        // Kept open (a complaint about waiting, say), the nudge is settled with its question.
        assert_eq!(answer[1].comment, nudge);
        assert_eq!(answer.len(), 2);
        assert!(!chat.detector.is_open(&nudge));

        // Not a nudge once the asker has said something real since the question.
        let mut chat = Chat::new(AnswerConfig::default());
        let first = chat.ask("Ann", "how do I delete my account?");
        let second = chat.ask("Ann", "and what happens to my photos then?");
        let nudge = chat.ask("Ann", "anyone??");
        let mut reply = chat.comment("Bob", "Settings > Privacy > Delete");
        reply.reply_to = Some(first.clone());
        assert_eq!(one(&chat.send(&reply)).0, first.as_str());
        assert!(chat.detector.is_open(&second) && chat.detector.is_open(&nudge));
    }

    #[test]
    fn an_empty_nudge_while_the_question_is_open_repeats_it() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "how do I reset my password?");
        chat.say("Bob", "brb, coffee");
        let nudge = chat.comment("Ann", "hello?? anyone");
        assert_eq!(chat.detector.nudged(&nudge), Some(q.clone()));
        assert!(chat.send(&nudge).is_empty());
        assert!(chat.detector.is_open(&q));
        // Whoever settles the question settles the wait: nothing of Ann's is left open.
        assert_eq!(
            one(&chat.say("Carl", "ann: use the 'forgot password' link")).0,
            q.as_str()
        );
        let later = chat.comment("Ann", "?");
        assert_eq!(chat.detector.nudged(&later), None, "nothing left to nudge");

        // With the question answered, or out of the window, a nudge is a wait of its own: the
        // question may have been asked without a question mark, or the answer missed it.
        let mut chat = Chat::new(AnswerConfig::default());
        chat.ask("Ann", "how do I reset my password?");
        chat.say("Bob", "ann: the 'forgot password' link");
        let again = chat.comment("Ann", "anyone?");
        assert_eq!(chat.detector.nudged(&again), None);
        let mut chat = Chat::new(AnswerConfig::default());
        chat.ask("Ann", "how do I reset my password?");
        chat.minute += 45;
        let late = chat.comment("Ann", "anyone?");
        assert_eq!(chat.detector.nudged(&late), None);

        // A short message with words in it is a question of its own, not a nudge.
        let mut chat = Chat::new(AnswerConfig::default());
        chat.ask("Ann", "how do I reset my password?");
        let more = chat.comment("Ann", "and my email?");
        assert_eq!(chat.detector.nudged(&more), None);
    }

    #[test]
    fn an_empty_nudge_is_not_what_a_reply_answers() {
        // The real question already had its answer; a later "anyone?" has nothing to answer,
        // and a reply to its author is about the question or small talk.
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "how do I mount my usb stick by hand?");
        assert_eq!(
            one(&chat.say("Bob", "ann: sudo mount /dev/sdb1 /mnt")).0,
            q.as_str()
        );
        let nudge = chat.ask("Ann", "anyone??");
        assert!(chat.say("Carl", "ann: hi there").is_empty());
        assert!(chat.detector.is_open(&nudge));

        // An unnamed reply from the one a bare "?" was put to closes nothing either.
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Bob", "the mirror is slow today");
        let nudge = chat.ask("Ann", "bob: ?");
        assert!(chat.say("Bob", "yes, really slow").is_empty());
        assert!(chat.detector.is_open(&nudge));

        // A short nudge with words in it is still a question of its own.
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Bob", "ann: use the alternate installer");
        let q = chat.ask("Ann", "which one?");
        assert_eq!(one(&chat.say("Bob", "ann: the text one")).0, q.as_str());
    }

    #[test]
    fn staff_only_counts_staff_heuristics_and_anyones_explicit_replies() {
        let config = AnswerConfig {
            staff_only: true,
            ..AnswerConfig::default()
        };
        let mut chat = Chat::new(config);
        let q = chat.ask("Ann", "when does the event start?");
        assert!(chat.say("Bob", "ann: at 8pm I think").is_empty());
        let answer = chat.say("ModMia", "ann: 8pm CET, see #events");
        assert_eq!(
            one(&answer),
            (q.as_str(), "modmia", AnswerCue::AddressesByName)
        );

        let q = chat.ask("Ann", "is it streamed too?");
        let mut reply = chat.comment("Bob", "yes on the usual channel");
        reply.reply_to = Some(q.clone());
        assert_eq!(one(&chat.send(&reply)).2, AnswerCue::ExplicitReply);
    }

    #[test]
    fn bots_never_answer() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "how do I get the member role?");
        let mut reply = chat.comment("HelperBot", "ann: type /verify");
        reply.reply_to = Some(q.clone());
        assert!(chat.send(&reply).is_empty());
        assert!(chat.detector.is_open(&q));
    }

    #[test]
    fn only_open_comments_are_answered_and_forget_closes() {
        let mut chat = Chat::new(AnswerConfig::default());
        chat.say("Ann", "I love the new logo");
        assert!(chat.say("Bob", "ann: thanks!").is_empty());

        let q = chat.ask("Ann", "who designed it?");
        assert!(chat.detector.forget(&q));
        assert!(!chat.detector.forget(&q));
        assert!(chat.say("Bob", "ann: Carl did").is_empty());
    }

    #[test]
    fn observing_a_comment_twice_changes_nothing() {
        let mut chat = Chat::new(AnswerConfig::default());
        let question = chat.comment("Ann", "how do I enable 2FA?");
        chat.detector.observe(&question);
        let answer = chat.comment("Bob", "ann: Settings > Security");
        assert_eq!(chat.send(&answer).len(), 1);
        // The backfill replays both: the answer is not reported again, nothing reopens.
        assert!(chat.detector.observe(&question).is_empty());
        assert!(chat.send(&answer).is_empty());
        assert!(!chat.detector.is_open(&question.id));
    }

    #[test]
    fn open_comments_per_channel_are_bounded() {
        let mut chat = Chat::new(AnswerConfig {
            max_open_per_channel: 2,
            ..AnswerConfig::default()
        });
        let oldest = chat.ask("Ann", "first question?");
        chat.ask("Bob", "second question?");
        chat.ask("Carl", "third question?");
        assert!(!chat.detector.is_open(&oldest));
    }

    #[test]
    fn a_thread_on_a_question_answers_it() {
        let mut chat = Chat::new(AnswerConfig::default());
        let q = chat.ask("Ann", "can someone review my PR?");
        let mut in_thread = chat.comment("Bob", "looking now");
        in_thread.place.parent = Some(in_thread.place.channel.clone());
        in_thread.place.channel = ChannelId::new(q.as_str());
        assert_eq!(
            one(&chat.send(&in_thread)),
            (q.as_str(), "bob", AnswerCue::SameThread)
        );
    }
}
