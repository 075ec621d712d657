//! tp0: the Lotería Nacional of FIUBA 75.74 TP0 — library behind the `server` and `client` binaries.
//!
//! The server is three kinds of process, one module each, listed first:
//! - `parent`: the single-threaded acceptor, the only place that forks; it starts the
//!   coordinator and one session per connection, forwards SIGTERM to them and reaps them;
//! - `session`: one forked child per connection, serving one agency (or one echo peer);
//! - `coordinator`: the child that owns the round: claims, the END barrier, the draw, and each
//!   agency's own winners (its rules are the `coordinator` crate at the repository's top level).
//!
//! What they share (dependencies point down): `protocol` turns frames into bytes and back over a
//! `connection`; `storage` alone touches the bets file, its format and its locks, using `rows` to
//! split the course's CSV; `domain` owns a bet's fields and rules and imports nothing of ours;
//! `config` and `logging` serve everyone. `client` is the agency, the other binary; `recount`
//! checks a copy of the bets file against a draw's published digest, a third.
//! `docs/architecture.md` has one line per module and the process tree.

pub(crate) mod coordinator;
pub mod parent;
pub(crate) mod session;

pub mod client;
pub mod config;
pub(crate) mod connection;
pub mod domain;
pub mod logging;
pub mod protocol;
pub mod recount;
pub mod rows;
pub mod storage;
