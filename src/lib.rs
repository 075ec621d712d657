//! tp0: the Lotería Nacional of FIUBA 75.74 TP0 — library behind the `server` and `client` binaries.
pub mod domain;
pub mod protocol;
pub mod storage;
pub mod config;
pub mod logging;
pub mod connection;
pub mod session;
pub mod supervision;
pub mod client;
