//! A raw protocol peer for hostile and edge-case tests, and the frames it sends.

use super::*;

/// A raw protocol connection for hostile and edge-case tests.
pub(crate) struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub(crate) fn from_stream(stream: TcpStream) -> Raw {
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub(crate) fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects as a new agency (no secret) and checks the server welcomes it at position 0.
    pub(crate) fn new_agency(port: u16, agency: u32) -> Raw {
        let mut raw = Raw::connect(port);
        raw.send(&ClientMessage::Hello {
            agency,
            secret: b"",
        });
        assert_eq!(
            raw.recv(),
            Some(Reply::Welcome {
                position: 0,
                ended: false
            })
        );
        raw
    }

    pub(crate) fn send(&mut self, message: &ClientMessage<'_>) {
        let mut out = Vec::new();
        protocol::encode(message, &mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Reads the next frame as an owned summary: (kind byte, error code if ERROR, position if ACK/WELCOME).
    pub(crate) fn recv(&mut self) -> Option<Reply> {
        loop {
            match protocol::decode::<ServerMessage<'_>>(&self.buf) {
                Ok(Decoded::Frame(message, used)) => {
                    let reply = Reply::from(&message);
                    self.buf.drain(..used);
                    return Some(reply);
                }
                Ok(Decoded::Incomplete) => {}
                Err(err) => panic!("server sent a bad frame: {err}"),
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
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

/// A `BETS` frame of valid bets with documents `first_doc..`.
pub(crate) fn batch(start: u64, count: u16, first_doc: u64, number: &str) -> Vec<u8> {
    let mut builder = protocol::BatchBuilder::new(count);
    builder.reset(start);
    let docs: Vec<String> = (0..u64::from(count))
        .map(|i| (first_doc + i).to_string())
        .collect();
    for doc in &docs {
        let bet = protocol::RawBet {
            first_name: b"Ana",
            last_name: b"Test",
            document: doc.as_bytes(),
            birthdate: b"2000-01-01",
            number: number.as_bytes(),
        };
        assert!(builder.push(&bet).unwrap());
    }
    builder.frame().unwrap().to_vec()
}
