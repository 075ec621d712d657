//! The lottery's own rules: what a valid bet is, which bets win, and a bet's receipt encoding.
//!
//! Nothing here knows about sockets, files or wire formats, and nothing here imports another module
//! of ours. The domain defines a bet's fields ([`RawBet`], as submitted) and its rules:
//! [`Bet::validate`] turns the fields into a bet whose every field is known good, borrowing the
//! original bytes so storing it copies nothing it does not have to. The protocol encodes and
//! decodes these fields; storage writes validated bets. Its one outside dependency is `sha2`,
//! for the [`Receipt`] digests both ends of an upload compute.

mod bet;
mod draw;
mod receipt;
pub(crate) mod words;

pub use bet::{decimal, Bet, BetError, Field, RawBet};
pub use draw::{has_won, WINNING_NUMBER};
pub use receipt::{
    encode_bet, ContentHasher, Digest, DigestParseError, Receipt, ReceiptBuilder, PENDING_MAX,
};
