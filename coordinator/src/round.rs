//! The round's two waits, which make a round watchable: its opening and the winners' release.
//!
//! A lottery accepts bets from an opening hour and announces its draw before it pays out. Here the
//! round opens `opening_delay` after every agency has checked in (claimed its agency once), and
//! winners are released `winners_delay` after the draw is logged. Both are zero unless configured:
//! then the round is open from the start and winners go out the moment the draw is done.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::messages::AgencyId;

/// The configured waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    /// The round opens this long after the last agency checks in; zero: open from the start.
    pub opening_delay: Duration,
    /// Winners are released this long after the draw is logged; zero: at once.
    pub winners_delay: Duration,
}

/// Where the round's opening stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// Bets are accepted.
    Open,
    /// Waiting for every agency to check in; these have.
    CheckingIn(BTreeSet<AgencyId>),
    /// Every agency has checked in; the round opens at this instant.
    OpensAt(Instant),
}

impl Opening {
    /// The state at startup: open at once when there is no delay or a round is already under way.
    pub fn at_start(timing: &Timing, round_under_way: bool) -> Opening {
        if timing.opening_delay.is_zero() || round_under_way {
            Opening::Open
        } else {
            Opening::CheckingIn(BTreeSet::new())
        }
    }

    /// Whether bets are accepted now.
    pub fn is_open(&self) -> bool {
        *self == Opening::Open
    }

    /// Records `agency`'s check-in; returns the opening instant when it was the last one missing.
    pub fn check_in(
        &mut self,
        agency: AgencyId,
        agencies: u32,
        delay: Duration,
        now: Instant,
    ) -> Option<Instant> {
        let Opening::CheckingIn(checked_in) = self else {
            return None;
        };
        checked_in.insert(agency);
        if (checked_in.len() as u64) < u64::from(agencies) {
            return None;
        }
        let at = now + delay;
        *self = Opening::OpensAt(at);
        Some(at)
    }

    /// Opens the round if its instant has come; true when it opened just now.
    pub fn open_if_due(&mut self, now: Instant) -> bool {
        match self {
            Opening::OpensAt(at) if now >= *at => {
                *self = Opening::Open;
                true
            }
            _ => false,
        }
    }

    /// The instant the round opens, once it is known and still ahead.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Opening::OpensAt(at) => Some(*at),
            _ => None,
        }
    }
}
