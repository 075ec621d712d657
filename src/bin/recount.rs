//! `recount [--expect <digest>] <bets-file>`: counts a bets file's bets, receipts and winners per
//! agency and its digest, and says whether it is the file a draw read (see `tp0::recount`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = tp0::recount::run(std::env::args().skip(1));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
