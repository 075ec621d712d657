//! tp0: the Lotería Nacional of FIUBA 75.74 TP0 — library behind the `server` and `client` binaries.
pub mod client;
pub mod config;
pub mod connection;
pub mod domain;
pub mod logging;
pub mod protocol;
pub mod session;
pub mod storage;
pub mod supervision;
