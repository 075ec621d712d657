//! The set-up of nearly every test: a scratch directory with a server running in it.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use super::{assert_stored_exactly_once, generated, Dataset, Scratch, Server};

/// A scratch directory with a server running in it (bets file `bets.csv`, log `server.log`).
/// Dropping it kills the server's whole tree, then removes the directory. It derefs to the
/// [`Server`], so `round.port`, `round.address()` and `round.count_in_log(..)` read as they say.
pub(crate) struct Round {
    /// The running server. Declared before `scratch`: fields drop in order, so the server is
    /// gone before its directory is removed.
    pub server: Server,
    /// The directory the server runs in.
    pub scratch: Scratch,
}

impl Round {
    /// A fresh scratch directory named after `tag` and a server for `agencies` in it, with extra env.
    pub(crate) fn start(tag: &str, agencies: u32, env: &[(&str, &str)]) -> Round {
        Round::start_in(Scratch::new(tag), agencies, env)
    }

    /// A generated dataset of `agencies` × `bets` bets (see [`generated`]) and a round for those
    /// agencies, both named after `tag`.
    pub(crate) fn generated(
        tag: &str,
        agencies: u32,
        bets: u64,
        env: &[(&str, &str)],
    ) -> (Round, Dataset) {
        let data = generated(agencies, bets, tag);
        (Round::start(tag, agencies, env), data)
    }

    /// As [`Round::start`], in a directory the test has prepared (a secrets file, say).
    pub(crate) fn start_in(scratch: Scratch, agencies: u32, env: &[(&str, &str)]) -> Round {
        let server = Server::start(&scratch.0, agencies, env);
        Round { server, scratch }
    }

    /// As [`Round::start_in`], with the server run by `wrapper` ([`Server::start_wrapped`]).
    pub(crate) fn start_wrapped(
        scratch: Scratch,
        agencies: u32,
        env: &[(&str, &str)],
        wrapper: &[String],
    ) -> Round {
        let server = Server::start_wrapped(&scratch.0, 0, agencies, env, wrapper);
        Round { server, scratch }
    }

    /// A new server in the same directory and on the same port, once the test has stopped or
    /// killed the last one: what a restart looks like to clients that keep reconnecting.
    pub(crate) fn restart(&mut self, agencies: u32, env: &[(&str, &str)]) {
        let port = self.server.port;
        self.restart_on(port, agencies, env);
    }

    /// As [`Round::restart`], on `port` (0: any free port).
    pub(crate) fn restart_on(&mut self, port: u16, agencies: u32, env: &[(&str, &str)]) {
        self.server = Server::start_on(&self.scratch.0, port, agencies, env);
    }

    /// The file `name` in the round's directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.scratch.path(name)
    }

    /// The bets file.
    pub(crate) fn bets(&self) -> PathBuf {
        self.scratch.path("bets.csv")
    }
}

impl Deref for Round {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl DerefMut for Round {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

/// The end state every fault test wants: each agency's file stored once, and one draw.
pub(crate) fn assert_one_complete_draw(server: &Server, data: &Dataset) {
    assert_stored_exactly_once(&server.dir.join("bets.csv"), data);
    assert_eq!(
        server.count_in_log("action: sorteo | result: success"),
        1,
        "{}",
        server.logs()
    );
}
