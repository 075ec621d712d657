//! tp0: the Lotería Nacional of FIUBA 75.74 TP0 — library behind the `server` and `client` binaries.
//!
//! Module map (dependencies point down): `supervision` forks `session`s and the coordinator;
//! `session` and `client` speak the `protocol` over a `connection`; `domain` validates bets;
//! `storage` alone touches the bets file; `config` and `logging` serve everyone.
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod connection;
pub mod domain;
pub mod logging;
pub mod protocol;
pub mod session;
pub mod storage;
pub mod supervision;
