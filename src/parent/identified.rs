//! How a session tells the parent that its peer has identified itself as an agency.
//!
//! The parent bounds *anonymous* sessions (echo, garbage, peers that have not sent `HELLO`), not
//! agencies: an identified agency holds its own claim (one per agency), so anonymous peers can
//! never take the room an agency needs. A session writes its pid, one 4-byte `write` (atomic
//! below `PIPE_BUF`), into a pipe the parent created before any fork; the parent drains it in its
//! poll loop, never blocking.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::unistd::{pipe2, Pid};

/// Both ends of the pipe: the parent reads, every session child writes.
pub(super) struct Identified {
    read: std::fs::File,
    write: std::fs::File,
}

impl Identified {
    /// Creates the pipe; non-blocking on both ends so neither side can ever wait on it.
    ///
    /// # Errors
    /// `pipe2` fails (out of descriptors).
    pub(super) fn new() -> io::Result<Identified> {
        let (read, write): (OwnedFd, OwnedFd) =
            pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(io::Error::from)?;
        Ok(Identified {
            read: read.into(),
            write: write.into(),
        })
    }

    /// In a session child: says this process now serves an identified agency. Best effort: a
    /// full pipe only means the parent counts the session as anonymous a little longer.
    pub(super) fn notify(&self) {
        let _ = (&self.write).write(&std::process::id().to_le_bytes());
    }

    /// The end the parent polls.
    pub(super) fn read_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// In the parent: every pid written since the last call.
    pub(super) fn drain(&self) -> Vec<Pid> {
        let mut pids = Vec::new();
        let mut buf = [0u8; 4 * 256];
        loop {
            match (&self.read).read(&mut buf) {
                Ok(0) | Err(_) => return pids,
                Ok(n) => {
                    // Each write is 4 bytes and atomic, so a read holds whole pids.
                    for chunk in buf[..n].chunks_exact(4) {
                        let pid = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                        pids.push(Pid::from_raw(pid));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_written_come_back_whole_and_an_empty_pipe_does_not_block() {
        let pipe = Identified::new().unwrap();
        assert!(pipe.drain().is_empty());
        pipe.notify();
        pipe.notify();
        let me = Pid::from_raw(std::process::id() as i32);
        assert_eq!(pipe.drain(), [me, me]);
        assert!(pipe.drain().is_empty());
    }
}
