//! Exercise 3: a connection whose first byte is not `0xFF` is one text line to echo back.

use super::{Session, SessionEnd};
use crate::logging::field;
use crate::protocol::MAX_FRAME_LEN;

impl Session<'_, '_> {
    pub(super) fn echo(&mut self) -> SessionEnd {
        let line = loop {
            if let Some(line) = self.conn.take_line(MAX_FRAME_LEN) {
                break line;
            }
            if self.conn.buffered().len() >= MAX_FRAME_LEN {
                log::error!("action: receive_message | result: fail | ip: {} | error: line longer than 8192 bytes", self.ip);
                return SessionEnd::Done;
            }
            match self.read() {
                Ok(true) => {}
                Ok(false) => break self.conn.take_rest(),
                Err(stop) => return self.finish(stop),
            }
        };
        if let Err(err) = self.conn.send_line(&line) {
            log::error!(
                "action: receive_message | result: fail | ip: {} | error: {err}",
                self.ip
            );
            return SessionEnd::Done;
        }
        let text = String::from_utf8_lossy(&line);
        let msg = text.trim_end_matches(['\n', '\r']);
        log::info!(
            "action: receive_message | result: success | ip: {} | msg: {}",
            self.ip,
            field(msg)
        );
        SessionEnd::Done
    }
}
