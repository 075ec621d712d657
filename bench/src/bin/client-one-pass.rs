//! tp0's client reading its agency file once: the check's work (validating each row, the
//! receipt of its bets) done as each row is sent, instead of in a pass before connecting. The
//! loopback section runs it beside `client` to measure what that pass costs. Never shipped.

use std::process::ExitCode;

fn main() -> ExitCode {
    tp0::client::start(tp0::client::run_one_pass)
}
