//! Failed secrets per peer address: each address has a small budget of wrong guesses that
//! refills slowly, so guessing an agency's secret takes forever while an agency that mistyped
//! once is not locked out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Wrong secrets an address may send before it must wait.
pub const FAILURE_BUDGET: u32 = 5;
/// One more wrong secret is allowed per this much time.
pub const REFILL_EVERY: Duration = Duration::from_secs(12);
/// Addresses tracked at most; past it, addresses whose budget is whole are forgotten.
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Budget {
    left: u32,
    since: Instant,
}

impl Budget {
    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.since).as_secs() / REFILL_EVERY.as_secs();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.left = self.left.saturating_add(earned).min(FAILURE_BUDGET);
            self.since = now;
        }
    }
}

/// The budgets of wrong secrets, by peer address.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    budgets: HashMap<String, Budget>,
}

impl FailureLimiter {
    /// `Err(wait)` when `peer` has spent its budget: it may try again after `wait`.
    pub fn check(&mut self, peer: &str, now: Instant) -> Result<(), Duration> {
        let Some(budget) = self.budgets.get_mut(peer) else {
            return Ok(());
        };
        budget.refill(now);
        if budget.left > 0 {
            return Ok(());
        }
        Err((budget.since + REFILL_EVERY).saturating_duration_since(now))
    }

    /// Spends one wrong guess of `peer`'s budget.
    pub fn failed(&mut self, peer: &str, now: Instant) {
        if self.budgets.len() >= MAX_TRACKED && !self.budgets.contains_key(peer) {
            self.forget_whole(now);
        }
        let budget = self.budgets.entry(peer.to_string()).or_insert(Budget {
            left: FAILURE_BUDGET,
            since: now,
        });
        budget.refill(now);
        if budget.left == FAILURE_BUDGET {
            // The refill clock starts with the first wrong guess of a whole budget.
            budget.since = now;
        }
        budget.left = budget.left.saturating_sub(1);
    }

    /// Drops addresses whose budget has refilled; if none has, every address (memory stays
    /// bounded even under guesses from thousands of addresses).
    fn forget_whole(&mut self, now: Instant) {
        self.budgets.retain(|_, budget| {
            budget.refill(now);
            budget.left < FAILURE_BUDGET
        });
        if self.budgets.len() >= MAX_TRACKED {
            self.budgets.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_waits_for_its_refill_and_other_peers_are_unaffected() {
        let mut limiter = FailureLimiter::default();
        let start = Instant::now();
        for _ in 0..FAILURE_BUDGET {
            assert_eq!(limiter.check("10.0.0.1", start), Ok(()));
            limiter.failed("10.0.0.1", start);
        }
        let wait = limiter.check("10.0.0.1", start).unwrap_err();
        assert_eq!(wait, REFILL_EVERY);
        assert_eq!(limiter.check("10.0.0.2", start), Ok(()), "another address");
        let later = start + REFILL_EVERY;
        assert_eq!(
            limiter.check("10.0.0.1", later),
            Ok(()),
            "one guess earned back"
        );
        limiter.failed("10.0.0.1", later);
        assert!(limiter.check("10.0.0.1", later).is_err());
    }

    #[test]
    fn memory_stays_bounded_under_many_addresses() {
        let mut limiter = FailureLimiter::default();
        let now = Instant::now();
        for i in 0..(MAX_TRACKED * 3) {
            limiter.failed(&format!("peer-{i}"), now);
        }
        assert!(limiter.budgets.len() <= MAX_TRACKED);
    }
}
