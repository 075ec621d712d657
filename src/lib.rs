//! tp0: the Lotería Nacional of FIUBA 75.74 TP0 — library behind the `server` and `client` binaries.
//!
//! Module map (dependencies point down): `supervision` forks `session`s and the coordinator;
//! `session` and `client` speak the `protocol` over a `connection`; `domain` owns a bet's fields
//! and rules and imports nothing of ours; `rows` splits the course's CSV for `storage` (which alone
//! touches the bets file) and `client`; `config` and `logging` serve everyone.
//! `docs/architecture.md` has one line per module and the process tree.
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod connection;
pub mod domain;
pub mod logging;
pub mod protocol;
pub mod rows;
pub mod session;
pub mod storage;
pub mod supervision;
