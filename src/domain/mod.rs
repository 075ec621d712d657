//! The lottery's own rules: what a valid bet is, and which bets win.
//!
//! Nothing here knows about sockets or files. The protocol hands over raw fields
//! ([`crate::protocol::RawBet`]); [`Bet::validate`] turns them into a bet whose every field is known
//! good, borrowing the original bytes so storing it copies nothing it does not have to.

mod bet;
mod draw;

pub use bet::{Bet, BetError, Field};
pub use draw::{has_won, WINNING_NUMBER};
