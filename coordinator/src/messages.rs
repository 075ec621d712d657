//! What session children and the coordinator say to each other over the ipc-channel.

use ipc_channel::ipc::IpcSender;
use serde::{Deserialize, Serialize};

/// An agency's number, `1..=agencies`.
pub type AgencyId = u32;

/// A session's identity: the pid of the child process that serves the connection.
pub type SessionId = u32;

/// A request from a session child to the coordinator; each carries the channel for its reply.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Take the agency for this session and learn where its upload resumes (the agency's check-in).
    Claim {
        /// The agency the connection says it is.
        agency: AgencyId,
        /// The session asking.
        session: SessionId,
        /// Where the answer goes.
        reply: IpcSender<ClaimReply>,
    },
    /// Wait until the round is open; answered at once when it already is.
    Opening {
        /// Where the answer goes.
        reply: IpcSender<OpeningReply>,
    },
    /// The agency has sent everything: `total` bets.
    End {
        /// The agency ending.
        agency: AgencyId,
        /// The session that holds it.
        session: SessionId,
        /// How many bets the agency says it sent in all.
        total: u64,
        /// Where the answer goes.
        reply: IpcSender<EndReply>,
    },
    /// The agency's winners; answered once the draw has happened and its winners are released.
    Winners {
        /// The agency asking (already authenticated by its session).
        agency: AgencyId,
        /// Where the answer goes.
        reply: IpcSender<WinnersReply>,
    },
    /// A peer presented a secret: `accepted` says whether it was right. The coordinator keeps
    /// the budget of wrong secrets per peer address.
    Authenticate {
        /// The peer's address.
        peer: String,
        /// Whether the secret matched the agency's.
        accepted: bool,
        /// Where the answer goes.
        reply: IpcSender<AuthReply>,
    },
    /// The session no longer holds its agency (sent by a child on its way out).
    Release {
        /// The agency it claimed.
        agency: AgencyId,
        /// The session letting go: the claim lapses only if it still holds it.
        session: SessionId,
    },
}

/// The answer to [`Request::Claim`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimReply {
    /// The session holds the agency; its upload resumes at bet `position`.
    Granted {
        /// How many of the agency's bets are stored (and acknowledged or acknowledgeable).
        position: u64,
        /// Whether the agency has already sent END.
        ended: bool,
        /// Whether the round is open; if not, the session waits with [`Request::Opening`].
        open: bool,
    },
    /// Another live session holds the agency.
    Busy,
    /// The coordinator could not read its state; retry later.
    Failed(String),
}

/// The answer to [`Request::Opening`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpeningReply {
    /// The round is open: bets are accepted.
    Open,
}

/// The answer to [`Request::End`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReply {
    /// The END is durable; `position` bets are stored for the agency.
    Recorded {
        /// Bets stored for the agency.
        position: u64,
    },
    /// The agency's stored count differs from what it claims to have sent.
    CountMismatch {
        /// Bets stored for the agency.
        stored: u64,
    },
    /// The session does not hold the agency.
    NotHolder,
    /// The END could not be made durable; retry later.
    Failed(String),
}

/// An agency's receipt: how many of its bets the central read from the bets file for the draw,
/// and the SHA-256 of their canonical encodings in file order (the server's `domain::Receipt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Bets of the agency the draw read.
    pub count: u64,
    /// Their digest.
    pub digest: [u8; 32],
}

/// Documents of winning bets, in order, packed in one buffer (each its length as 4 bytes, then
/// its text): an agency's list is one allocation, not one per document. At 10,000 agencies with
/// 43,475 winners, a `String` each was 2.8 MB of the coordinator's heap, and the draw's copy as
/// much again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Documents {
    packed: Vec<u8>,
    count: u32,
}

impl Documents {
    /// No documents.
    pub const fn new() -> Self {
        Documents {
            packed: Vec::new(),
            count: 0,
        }
    }

    /// Appends `document`, unless it is 4 GiB or longer (no field of a row comes near).
    pub fn push(&mut self, document: &str) {
        let Ok(len) = u32::try_from(document.len()) else {
            return;
        };
        self.packed.extend_from_slice(&len.to_le_bytes());
        self.packed.extend_from_slice(document.as_bytes());
        self.count += 1;
    }

    /// How many documents.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The documents, in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut rest = self.packed.as_slice();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            let document = tail.get(..len)?;
            rest = tail.get(len..)?;
            // Only `push` wrote these bytes, from a `&str`.
            std::str::from_utf8(document).ok()
        })
    }
}

impl<'a> FromIterator<&'a str> for Documents {
    fn from_iter<I: IntoIterator<Item = &'a str>>(documents: I) -> Self {
        let mut packed = Documents::new();
        for document in documents {
            packed.push(document);
        }
        packed
    }
}

#[cfg(test)]
mod tests {
    use super::Documents;

    #[test]
    fn documents_come_back_as_pushed() {
        let documents: Documents = ["30904465", "", "007", "Ñandú 1"].into_iter().collect();
        assert_eq!(documents.len(), 4);
        let back: Vec<&str> = documents.iter().collect();
        assert_eq!(back, ["30904465", "", "007", "Ñandú 1"]);
        assert!(Documents::new().is_empty());
        assert_eq!(Documents::new().iter().count(), 0);
    }
}

/// The answer to [`Request::Winners`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WinnersReply {
    /// The agency's winners and the receipt of what the draw read of its bets.
    Winners {
        /// The documents of the agency's winning bets, in file order.
        documents: Documents,
        /// What the draw read of the agency's bets.
        receipt: Receipt,
    },
    /// The agency has not sent END, so the draw cannot include it yet.
    NotEnded,
    /// The draw failed; retry later.
    Failed(String),
}

/// The answer to [`Request::Authenticate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthReply {
    /// Go on: serve the agency if the secret was right, refuse it if not.
    Proceed,
    /// This address sent too many wrong secrets: refuse it, whatever it sent now.
    Limited {
        /// When it may try again.
        retry_in_ms: u64,
    },
}
