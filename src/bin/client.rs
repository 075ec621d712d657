//! An agency: reads `config.yaml` (and `CLI_*` variables) and runs its mode.

use std::process::ExitCode;

fn main() -> ExitCode {
    tp0::client::start(tp0::client::run)
}
