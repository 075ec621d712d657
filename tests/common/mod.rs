//! Harness for tests that run the real `server` and `client` binaries on 127.0.0.1: the
//! [`Round`] fixture (a scratch directory with a server in it), client processes, a raw protocol
//! peer, datasets, and the `reliability:` rows `make reliability` collects.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub(crate) use nix::sys::signal::Signal;

mod client;
mod data;
mod processes;
mod raw;
mod round;
mod server;
// Each test crate uses a part of the harness.
#[allow(unused_imports)]
pub(crate) use client::*;
#[allow(unused_imports)]
pub(crate) use data::*;
#[allow(unused_imports)]
pub(crate) use processes::*;
#[allow(unused_imports)]
pub(crate) use raw::*;
#[allow(unused_imports)]
pub(crate) use round::*;
#[allow(unused_imports)]
pub(crate) use server::*;

pub(crate) const SERVER: &str = env!("CARGO_BIN_EXE_server");
pub(crate) const CLIENT: &str = env!("CARGO_BIN_EXE_client");
pub(crate) const GENDATA: &str = env!("CARGO_BIN_EXE_gendata");

/// A scratch directory removed on drop (kept when `TP0_KEEP` is set, to look at after a failure).
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh, empty directory named after `tag` and this test process.
    pub(crate) fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tp0-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// The file `name` in the directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to the file `name` and returns its path as the text an env value wants.
    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("TP0_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Prints the `reliability:` row of `docs/reliability.md` for a fault a test has shown loses
/// nothing (`make reliability` collects these rows).
pub(crate) fn evidence(fault: &str, injection: &str, observed: &str) {
    println!("reliability: | {fault} | {injection} | {observed} | nothing |");
}

/// Polls `done` every 5 ms until it holds, failing the test after `limit`.
pub(crate) fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The value after `key: ` in the first line containing `action`.
pub(crate) fn logged_value(log: &str, action: &str, key: &str) -> Option<String> {
    let line = log.lines().find(|line| line.contains(action))?;
    let at = line.find(&format!("{key}: "))? + key.len() + 2;
    Some(line[at..].split(" |").next()?.trim().to_string())
}

/// A seeded xorshift64 generator: the same "random" moments and bytes on every run, so a failure
/// can be run again as it was.
pub(crate) struct XorShift(u64);

impl XorShift {
    /// A generator from a non-zero `seed`.
    pub(crate) fn new(seed: u64) -> XorShift {
        XorShift(seed)
    }

    /// The next value.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
