//! A socket with a read buffer: whole frames in, whole frames out, no short reads or writes.
//!
//! Reads go into a fixed 64 KiB buffer (eight maximal frames), from which [`Connection::next_frame`]
//! decodes without copying. Pipelined frames that arrive together are all decoded before the next
//! `read`, which is what lets a session store several batches with one write and one sync.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use crate::protocol::{self, CodecError, Decoded, Message, MAX_FRAME_LEN};

/// Size of the read buffer; a multiple of the largest frame.
pub const READ_BUFFER: usize = 8 * MAX_FRAME_LEN;

/// What a read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// This many new bytes.
    Data(usize),
    /// The peer closed its side.
    Eof,
    /// Nothing arrived within the socket's read timeout (or, for `try_fill`, nothing was ready).
    Idle,
}

/// A TCP stream with buffered, frame-at-a-time reading.
pub struct Connection {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Connection {
    /// Wraps `stream`.
    pub fn new(stream: TcpStream) -> Self {
        Connection {
            stream,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// The underlying stream (for timeouts, peer address, shutdown).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
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
    pub fn fill(&mut self) -> io::Result<Fill> {
        self.make_room();
        if self.end == self.buf.len() {
            // A full buffer holds at least one whole frame: the caller must decode first.
            return Ok(Fill::Data(0));
        }
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(0) => Ok(Fill::Eof),
            Ok(n) => {
                self.end += n;
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
    pub fn try_fill(&mut self) -> io::Result<Fill> {
        self.make_room();
        if self.end == self.buf.len() {
            return Ok(Fill::Data(0));
        }
        let free = &mut self.buf[self.end..];
        // SAFETY: `free` is a live, writable buffer of the given length.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                free.as_mut_ptr().cast(),
                free.len(),
                libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => Ok(Fill::Eof),
            n if n > 0 => {
                self.end += n as usize;
                Ok(Fill::Data(n as usize))
            }
            _ => {
                let err = io::Error::last_os_error();
                if is_idle(&err) {
                    Ok(Fill::Idle)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Decodes the next whole frame in the buffer, if there is one.
    ///
    /// # Errors
    /// The buffered bytes are not a valid frame; the connection should be closed.
    pub fn next_frame(&mut self) -> Result<Option<Message<'_>>, CodecError> {
        let Connection {
            buf, start, end, ..
        } = self;
        match protocol::decode(&buf[*start..*end])? {
            Decoded::Incomplete => Ok(None),
            Decoded::Frame(message, used) => {
                *start += used;
                Ok(Some(message))
            }
        }
    }

    /// Takes one text line (up to and including `\n`) from the buffer, if a whole one is there.
    /// `None` with a full `max` bytes buffered means the line is too long.
    pub fn take_line(&mut self, max: usize) -> Option<Vec<u8>> {
        let window = &self.buf[self.start..self.end.min(self.start + max)];
        let at = window.iter().position(|&b| b == b'\n')?;
        let line = window[..=at].to_vec();
        self.start += at + 1;
        Some(line)
    }

    /// Takes everything buffered (an unterminated last line before EOF).
    pub fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf[self.start..self.end].to_vec();
        self.start = self.end;
        rest
    }

    /// Encodes `message` and writes it whole.
    ///
    /// # Errors
    /// Encoding or socket errors.
    pub fn send(&mut self, message: &Message<'_>) -> io::Result<()> {
        let mut out = Vec::with_capacity(64);
        protocol::encode(message, &mut out).map_err(io::Error::other)?;
        self.send_bytes(&out)
    }

    /// Writes already-encoded frames whole.
    ///
    /// # Errors
    /// Socket errors.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }
}

/// Whether a socket error only means "no data within the timeout".
pub fn is_idle(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
