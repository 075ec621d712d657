//! The refusal codes: the first byte of an `ERROR` payload.

use std::fmt;

/// Why the server refused something; the first byte of an `ERROR` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The bytes were not a valid frame (bad kind, length, layout, UTF-8).
    Malformed,
    /// A bet's fields are invalid (date, number, document, names).
    InvalidBet,
    /// The agency id is outside `1..=AGENCIES`, or the first frame was not `HELLO`.
    BadAgency,
    /// Another live connection holds this agency.
    AgencyBusy,
    /// The agency already sent END: no more bets.
    AlreadyEnded,
    /// A batch did not start where the agency's stored bets end.
    PositionMismatch,
    /// The secret is missing or wrong.
    Unauthorized,
    /// The server is at its connection limit.
    ServerBusy,
    /// Storage or coordination failed; retrying later may succeed.
    Unavailable,
    /// END announced a total different from what is stored.
    CountMismatch,
    /// Winners asked before this agency sent END.
    NotEnded,
    /// The server is shutting down.
    ShuttingDown,
    /// The connection was idle for too long (`IDLE_TIMEOUT`), or a frame was not whole in time (`FRAME_TIMEOUT`).
    Timeout,
    /// A code this build does not know.
    Other(u8),
}

impl ErrorCode {
    /// The code's byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::InvalidBet => 2,
            ErrorCode::BadAgency => 3,
            ErrorCode::AgencyBusy => 4,
            ErrorCode::AlreadyEnded => 5,
            ErrorCode::PositionMismatch => 6,
            ErrorCode::Unauthorized => 7,
            ErrorCode::ServerBusy => 8,
            ErrorCode::Unavailable => 9,
            ErrorCode::CountMismatch => 10,
            ErrorCode::NotEnded => 11,
            ErrorCode::ShuttingDown => 12,
            ErrorCode::Timeout => 13,
            ErrorCode::Other(byte) => byte,
        }
    }

    /// The code for a byte received.
    pub fn from_byte(byte: u8) -> ErrorCode {
        match byte {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::InvalidBet,
            3 => ErrorCode::BadAgency,
            4 => ErrorCode::AgencyBusy,
            5 => ErrorCode::AlreadyEnded,
            6 => ErrorCode::PositionMismatch,
            7 => ErrorCode::Unauthorized,
            8 => ErrorCode::ServerBusy,
            9 => ErrorCode::Unavailable,
            10 => ErrorCode::CountMismatch,
            11 => ErrorCode::NotEnded,
            12 => ErrorCode::ShuttingDown,
            13 => ErrorCode::Timeout,
            other => ErrorCode::Other(other),
        }
    }

    /// Whether a client may reconnect and try again after this refusal.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::AgencyBusy
                | ErrorCode::ServerBusy
                | ErrorCode::Unavailable
                | ErrorCode::ShuttingDown
                | ErrorCode::Timeout
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Other(byte) => write!(f, "code {byte}"),
            known => write!(f, "{known:?}"),
        }
    }
}
