//! The lottery's own rules: what a valid bet is, and which bets win.
//!
//! Nothing here knows about sockets, files or wire formats, and nothing here imports another module
//! of ours. The domain defines a bet's fields ([`RawBet`], as submitted) and its rules:
//! [`Bet::validate`] turns the fields into a bet whose every field is known good, borrowing the
//! original bytes so storing it copies nothing it does not have to. The protocol encodes and
//! decodes these fields; storage writes validated bets.

mod bet;
mod draw;
pub(crate) mod words;

pub use bet::{decimal, Bet, BetError, Field, RawBet};
pub use draw::{has_won, WINNING_NUMBER};
