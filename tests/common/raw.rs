//! A raw protocol peer for hostile and edge-case tests, and the frames it sends: every frame a
//! test sends is made by the product's own encoder ([`frame_of`], [`bets_frame`]), then broken
//! on purpose where a test needs bad bytes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tp0::protocol::{
    self, ClientMessage, CodecError, Decoded, ErrorCode, Frame, RawBet, ServerMessage,
};

/// A raw protocol connection for hostile and edge-case tests.
pub(crate) struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// A peer on a stream the test has connected itself.
    pub(crate) fn from_stream(stream: TcpStream) -> Raw {
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects to the server on `port`; a read waits at most 10 s.
    pub(crate) fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw::from_stream(stream)
    }

    /// Connects with a 2 KiB receive buffer, so a peer that never reads blocks the server soon.
    pub(crate) fn stingy(port: u16) -> Raw {
        use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
        let fd = socket::socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        socket::setsockopt(&fd, sockopt::RcvBuf, &2048).unwrap();
        let addr = SockaddrIn::from(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::LOCALHOST,
            port,
        ));
        socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).unwrap();
        Raw::from_stream(TcpStream::from(fd))
    }

    /// Connects, sends HELLO for `agency` with `secret`, and returns the peer and the reply.
    pub(crate) fn hello(port: u16, agency: u32, secret: &[u8]) -> (Raw, Option<Reply>) {
        let mut raw = Raw::connect(port);
        raw.send(&ClientMessage::Hello { agency, secret });
        let reply = raw.recv();
        (raw, reply)
    }

    /// Connects as a new agency (no secret) and checks the server welcomes it at position 0.
    pub(crate) fn new_agency(port: u16, agency: u32) -> Raw {
        let (raw, reply) = Raw::hello(port, agency, b"");
        assert_eq!(
            reply,
            Some(Reply::Welcome {
                position: 0,
                ended: false
            }),
            "agency {agency} is welcomed"
        );
        raw
    }

    /// Sends the frame of `message`.
    pub(crate) fn send(&mut self, message: &ClientMessage<'_>) {
        self.stream.write_all(&frame_of(message)).unwrap();
    }

    /// Sends `bytes` as they are (a write error is ignored: the server may have closed already).
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Reads the next frame as an owned summary; `None` at EOF, a read error or the read timeout.
    /// A frame the client codec refuses fails the test.
    pub(crate) fn recv(&mut self) -> Option<Reply> {
        self.try_recv()
            .unwrap_or_else(|err| panic!("server sent a bad frame: {err}"))
    }

    /// As [`Raw::recv`], with a frame the client codec refuses returned as the error.
    pub(crate) fn try_recv(&mut self) -> Result<Option<Reply>, CodecError> {
        loop {
            if let Decoded::Frame(message, used) = protocol::decode::<ServerMessage<'_>>(&self.buf)?
            {
                let reply = Reply::from(&message);
                self.buf.drain(..used);
                return Ok(Some(reply));
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// True when the server closed the connection (EOF) after everything it sent.
    pub(crate) fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 64];
        matches!(self.stream.read(&mut chunk), Ok(0))
    }
}

/// A server frame, owned, to compare whole in assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Welcome {
        position: u64,
        ended: bool,
    },
    Ack(u64),
    Winners {
        total: u32,
        documents: Vec<String>,
    },
    /// The agency's receipt: its bets the draw read, and their digest in hex.
    Receipt {
        count: u64,
        digest: String,
    },
    Error(ErrorCode, String),
}

impl From<&ServerMessage<'_>> for Reply {
    fn from(message: &ServerMessage<'_>) -> Reply {
        match message {
            ServerMessage::Welcome { position, ended } => Reply::Welcome {
                position: *position,
                ended: *ended,
            },
            ServerMessage::Ack { position } => Reply::Ack(*position),
            ServerMessage::WinnerList { total, documents } => Reply::Winners {
                total: *total,
                documents: documents.iter().map(str::to_owned).collect(),
            },
            ServerMessage::Receipt { count, digest } => Reply::Receipt {
                count: *count,
                digest: tp0::domain::Digest(*digest).to_string(),
            },
            ServerMessage::Error { code, text } => Reply::Error(*code, text.to_string()),
        }
    }
}

/// The frame of `message` (either direction), as the product's encoder writes it.
pub(crate) fn frame_of<'a, M: Frame<'a>>(message: &M) -> Vec<u8> {
    let mut out = Vec::new();
    protocol::encode(message, &mut out).unwrap();
    out
}

/// A `BETS` frame of `bets` starting at position `start`, as the client's batch builder makes it.
pub(crate) fn bets_frame(start: u64, bets: &[RawBet<'_>]) -> Vec<u8> {
    let count = u16::try_from(bets.len()).unwrap();
    let mut builder = protocol::BatchBuilder::new(count);
    builder.reset(start);
    for bet in bets {
        assert!(builder.push(bet).unwrap());
    }
    builder.frame().unwrap().to_vec()
}

/// A `BETS` frame of valid bets with documents `first_doc..`.
pub(crate) fn batch(start: u64, count: u16, first_doc: u64, number: &str) -> Vec<u8> {
    let docs: Vec<String> = (0..u64::from(count))
        .map(|i| (first_doc + i).to_string())
        .collect();
    let bets: Vec<RawBet<'_>> = docs
        .iter()
        .map(|doc| RawBet {
            first_name: b"Ana",
            last_name: b"Test",
            document: doc.as_bytes(),
            birthdate: b"2000-01-01",
            number: number.as_bytes(),
        })
        .collect();
    bets_frame(start, &bets)
}
