//! A socket with a read buffer: whole frames in, whole frames out, no short reads or writes.
//!
//! Reads go into a buffer of up to 64 KiB (eight maximal frames), from which
//! [`Connection::next_frame`] decodes without copying. Pipelined frames that arrive together are all decoded before the next
//! `read`, which is what lets a session store several batches with one write and one sync.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::sys::socket::{recv, setsockopt, sockopt, MsgFlags};
use std::time::{Duration, Instant};

use crate::protocol::{
    self, ClientMessage, CodecError, Decoded, Frame, RawBet, ServerMessage, MAX_FRAME_LEN,
};

/// Size of the read buffer at its largest; a multiple of the largest frame.
pub(crate) const READ_BUFFER: usize = 8 * MAX_FRAME_LEN;
/// Size of the read buffer at first. Most connections (an agency's small upload, an echo, a
/// refusal) never need more, and every byte of the buffer is zeroed and so touched: a forked
/// session paid 16 page faults and 65,000 instructions to clear 64 KiB it mostly never read into.
/// A read that fills the buffer doubles it, so a pipelined upload reaches [`READ_BUFFER`] at once.
const FIRST_READ_BUFFER: usize = 2 * MAX_FRAME_LEN;

/// A connection silent this long gets its first keepalive probe.
pub(crate) const KEEPALIVE_IDLE_SECS: u32 = 2;
/// Seconds between keepalive probes.
pub(crate) const KEEPALIVE_INTERVAL_SECS: u32 = 1;
/// Unanswered probes that end a connection (the user timeout below usually ends it first).
pub(crate) const KEEPALIVE_PROBES: u32 = 10;
/// How long sent data (or keepalive probes) may stay unanswered before the kernel drops the
/// connection: a peer whose host vanished, changed address or lost its network is noticed within
/// this, well inside the client's retry window, instead of holding its agency's claim forever.
pub(crate) const DEAD_PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes the kernel notice a silently dead peer (no FIN, no RST: its network cut, its host gone):
/// TCP keepalive after [`KEEPALIVE_IDLE_SECS`] of silence, probes every
/// [`KEEPALIVE_INTERVAL_SECS`], and `TCP_USER_TIMEOUT` of [`DEAD_PEER_TIMEOUT`]. A read, write
/// or `peer_closed` on such a socket then fails with `ETIMEDOUT` instead of waiting forever.
///
/// # Errors
/// A `setsockopt` fails (not a TCP socket).
pub(crate) fn detect_dead_peer(stream: &impl AsFd) -> io::Result<()> {
    let user_timeout = u32::try_from(DEAD_PEER_TIMEOUT.as_millis()).unwrap_or(u32::MAX);
    setsockopt(stream, sockopt::KeepAlive, &true)?;
    setsockopt(stream, sockopt::TcpKeepIdle, &KEEPALIVE_IDLE_SECS)?;
    setsockopt(stream, sockopt::TcpKeepInterval, &KEEPALIVE_INTERVAL_SECS)?;
    setsockopt(stream, sockopt::TcpKeepCount, &KEEPALIVE_PROBES)?;
    setsockopt(stream, sockopt::TcpUserTimeout, &user_timeout)?;
    Ok(())
}

/// How often a session's blocked read or write returns to look at its stop flag and deadlines
/// (the parent sets it on the listener, whose sockets inherit it).
pub(crate) const SESSION_TICK: Duration = Duration::from_millis(200);

/// What a read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    /// This many new bytes (never 0).
    Data(usize),
    /// Nothing was read: the buffer is full, so the caller must decode a frame first.
    Full,
    /// The peer closed its side.
    Eof,
    /// Nothing arrived within the socket's read timeout (or, for `try_fill`, nothing was ready).
    Idle,
}

/// A TCP stream with buffered, frame-at-a-time reading.
pub(crate) struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    write_limit: Option<Duration>,
}

impl Connection {
    /// Wraps `stream`.
    pub(crate) fn new(stream: TcpStream) -> Self {
        Connection {
            stream,
            buf: vec![0; FIRST_READ_BUFFER],
            start: 0,
            end: 0,
            write_limit: None,
        }
    }

    /// Makes a write that moves no byte for `limit` fail with `TimedOut`: a peer that stops
    /// reading is as idle as one that stops sending. The socket needs a write timeout shorter
    /// than `limit` (`set_write_timeout`), so a blocked write returns to be counted.
    pub(crate) fn set_write_limit(&mut self, limit: Duration) {
        self.write_limit = Some(limit);
    }

    /// Whether the peer has closed or reset the connection, without taking any byte it sent.
    pub(crate) fn peer_closed(&self) -> bool {
        let mut probe = [0u8; 1];
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        match recv(self.stream.as_raw_fd(), &mut probe, flags) {
            Ok(0) => true,
            Ok(_) | Err(Errno::EAGAIN | Errno::EINTR) => false,
            Err(_) => true,
        }
    }

    /// The underlying stream (for timeouts, peer address, shutdown).
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Bytes received and not yet decoded.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// After a read: one that filled the buffer means the peer had more to send, so the next
    /// read gets a larger one (up to [`READ_BUFFER`]).
    fn grow_if_filled(&mut self) {
        if self.end == self.buf.len() && self.buf.len() < READ_BUFFER {
            let larger = (self.buf.len() * 2).min(READ_BUFFER);
            self.buf.resize(larger, 0);
        }
    }

    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < MAX_FRAME_LEN {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Reads whatever is available, blocking up to the socket's read timeout.
    ///
    /// # Errors
    /// Socket errors other than a timeout or an interrupted call.
    pub(crate) fn fill(&mut self) -> io::Result<Fill> {
        self.make_room();
        if self.end == self.buf.len() {
            // A full buffer holds at least one whole frame: the caller must decode first.
            return Ok(Fill::Full);
        }
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(0) => Ok(Fill::Eof),
            Ok(n) => {
                self.end += n;
                self.grow_if_filled();
                Ok(Fill::Data(n))
            }
            Err(err) if is_idle(&err) => Ok(Fill::Idle),
            Err(err) => Err(err),
        }
    }

    /// Reads whatever is already in the socket without waiting.
    ///
    /// # Errors
    /// Socket errors other than "nothing ready".
    pub(crate) fn try_fill(&mut self) -> io::Result<Fill> {
        self.make_room();
        if self.end == self.buf.len() {
            return Ok(Fill::Full);
        }
        let free = &mut self.buf[self.end..];
        match recv(self.stream.as_raw_fd(), free, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => Ok(Fill::Eof),
            Ok(n) => {
                self.end += n;
                self.grow_if_filled();
                Ok(Fill::Data(n))
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(Fill::Idle),
            Err(err) => Err(err.into()),
        }
    }

    /// Decodes the next whole frame in the buffer, if there is one, as a message of the
    /// direction `M` this end receives.
    ///
    /// # Errors
    /// The buffered bytes are not a valid frame of that direction; the connection should be
    /// closed.
    pub(crate) fn next_frame<'s, M: Frame<'s>>(&'s mut self) -> Result<Option<M>, CodecError> {
        let Connection {
            buf, start, end, ..
        } = self;
        match M::decode(&buf[*start..*end])? {
            Decoded::Incomplete => Ok(None),
            Decoded::Frame(message, used) => {
                *start += used;
                Ok(Some(message))
            }
        }
    }

    /// Takes one text line (up to and including `\n`) from the buffer, if a whole one is there.
    /// `None` with a full `max` bytes buffered means the line is too long.
    pub(crate) fn take_line(&mut self, max: usize) -> Option<Vec<u8>> {
        let window = &self.buf[self.start..self.end.min(self.start + max)];
        let at = window.iter().position(|&b| b == b'\n')?;
        let line = window[..=at].to_vec();
        self.start += at + 1;
        Some(line)
    }

    /// Takes everything buffered (an unterminated last line before EOF).
    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf[self.start..self.end].to_vec();
        self.start = self.end;
        rest
    }

    /// Encodes `message` and writes it whole.
    ///
    /// # Errors
    /// Encoding or socket errors.
    pub(crate) fn send<'m, M: Frame<'m>>(&mut self, message: &M) -> io::Result<()> {
        let mut out = Vec::with_capacity(64);
        message.encode(&mut out).map_err(io::Error::other)?;
        self.write_whole(&out)
    }

    /// Encodes every message into one buffer and writes it with one call (a group of `ACK`s).
    ///
    /// # Errors
    /// Encoding or socket errors.
    pub(crate) fn send_many<'m, M: Frame<'m>>(
        &mut self,
        messages: impl IntoIterator<Item = M>,
    ) -> io::Result<()> {
        let mut out = Vec::with_capacity(64);
        for message in messages {
            message.encode(&mut out).map_err(io::Error::other)?;
        }
        self.write_whole(&out)
    }

    /// Sends the answer to `WINNERS`: the agency's `RECEIPT` (`count` bets, `digest`), then its
    /// winners in as many `WINNER_LIST` frames as the documents need, all in one write.
    ///
    /// # Errors
    /// Encoding or socket errors.
    pub(crate) fn send_winners<S: AsRef<str>>(
        &mut self,
        count: u64,
        digest: [u8; 32],
        documents: &[S],
    ) -> io::Result<()> {
        let mut out = Vec::new();
        ServerMessage::Receipt { count, digest }
            .encode(&mut out)
            .map_err(io::Error::other)?;
        protocol::encode_winners(documents, &mut out).map_err(io::Error::other)?;
        self.write_whole(&out)
    }

    /// Sends one `BET` frame (exercise 5).
    ///
    /// # Errors
    /// Encoding or socket errors.
    pub(crate) fn send_bet(&mut self, start: u64, bet: &RawBet<'_>) -> io::Result<()> {
        let mut out = Vec::new();
        let frame = ClientMessage::Bet { start, bet: *bet };
        frame.encode(&mut out).map_err(io::Error::other)?;
        self.write_whole(&out)
    }

    /// Sends a line of text as it is: the echo dialect, which has no frames.
    ///
    /// # Errors
    /// Socket errors.
    pub(crate) fn send_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.write_whole(line)
    }

    /// A second handle that only writes frames, for a thread that sends while this one reads.
    ///
    /// # Errors
    /// The socket cannot be duplicated.
    pub(crate) fn writer(&self) -> io::Result<FrameWriter> {
        Ok(FrameWriter {
            stream: self.stream.try_clone()?,
        })
    }

    fn write_whole(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(limit) = self.write_limit else {
            return self.stream.write_all(bytes);
        };
        let mut rest = bytes;
        let mut moved = Instant::now();
        while !rest.is_empty() {
            match self.stream.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    rest = &rest[n..];
                    moved = Instant::now();
                }
                Err(err) if is_idle(&err) => {
                    if moved.elapsed() >= limit {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the peer read nothing for {} ms", limit.as_millis()),
                        ));
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

/// The writing half of a [`Connection`], for the client's sender thread.
pub(crate) struct FrameWriter {
    stream: TcpStream,
}

impl FrameWriter {
    /// Sends `message` on a socket nobody will read from, without ever blocking: the parent's
    /// refusals, which must not stall the accept loop. What the socket cannot take at once is
    /// dropped; the peer then sees the connection close without a reason.
    pub(crate) fn send_and_forget<'m, M: Frame<'m>>(stream: TcpStream, message: &M) {
        let mut out = Vec::with_capacity(64);
        if message.encode(&mut out).is_ok() && stream.set_nonblocking(true).is_ok() {
            let mut stream = stream;
            let _ = stream.write(&out);
        }
    }

    /// Encodes `message` and writes it whole.
    ///
    /// # Errors
    /// Encoding or socket errors.
    pub(crate) fn send<'m, M: Frame<'m>>(&mut self, message: &M) -> io::Result<()> {
        let mut out = Vec::with_capacity(16);
        message.encode(&mut out).map_err(io::Error::other)?;
        self.stream.write_all(&out)
    }

    /// Writes a `BETS` frame the codec's [`protocol::BatchBuilder`] built in place.
    ///
    /// # Errors
    /// Socket errors.
    pub(crate) fn send_batch(&mut self, batch: &mut protocol::BatchBuilder) -> io::Result<()> {
        let frame = batch.frame().map_err(io::Error::other)?;
        self.stream.write_all(frame)
    }

    /// Closes both directions, which wakes a thread blocked reading the other half.
    pub(crate) fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Whether a socket error only means "no data within the timeout".
pub(crate) fn is_idle(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::getsockopt;
    use std::net::TcpListener;

    #[test]
    fn dead_peer_detection_sets_keepalive_and_the_user_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        for stream in [&client, &server] {
            assert!(!getsockopt(stream, sockopt::KeepAlive).unwrap());
            detect_dead_peer(stream).unwrap();
            assert!(getsockopt(stream, sockopt::KeepAlive).unwrap());
            assert_eq!(
                getsockopt(stream, sockopt::TcpKeepIdle).unwrap(),
                KEEPALIVE_IDLE_SECS
            );
            assert_eq!(
                getsockopt(stream, sockopt::TcpKeepInterval).unwrap(),
                KEEPALIVE_INTERVAL_SECS
            );
            assert_eq!(
                getsockopt(stream, sockopt::TcpKeepCount).unwrap(),
                KEEPALIVE_PROBES
            );
            assert_eq!(getsockopt(stream, sockopt::TcpUserTimeout).unwrap(), 10_000);
        }
    }
}
