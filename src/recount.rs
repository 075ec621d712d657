//! The recount: anyone holding a copy of the bets file checks the draw without the server.
//!
//! It reads the file with the coordinator's own scan ([`crate::storage::tally_file`]) and prints,
//! per agency, how many bets it holds, their receipt digest and the winners (the course's
//! `has_won`), then the digest of the file's bytes. Given the digest of a `sorteo` line, it says
//! whether this file is the one the draw read. Lines are in the project's log format, on stdout.
//! `docs/verifying.md` shows it on a copy taken with `docker cp`.

use std::path::PathBuf;

use crate::domain::Digest;
use crate::logging::field;
use crate::storage::{tally_file, FileTally};

/// Exit code: the file is not the one the draw read, or holds rows that are not bets.
pub const MISMATCH: i32 = 1;
/// Exit code: bad arguments, or the file cannot be read.
pub const USAGE: i32 = 2;

const HELP: &str = "usage: recount [--expect <digest>] <bets-file>

Reads a bets file (the server's bets.csv, or a copy: docker cp <server-container>:/data/bets.csv .)
and prints per agency its bets (cantidad), their receipt digest and its winners, then the digest
of the file. With --expect (the digest of the server's `action: sorteo` line) it says whether the
file is the one the draw read, and exits 1 when it is not.";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    file: PathBuf,
    expect: Option<Digest>,
}

/// Reads `args` (without the program's name), runs the recount and returns the exit code.
pub fn run(args: impl IntoIterator<Item = String>) -> i32 {
    let request = match parse(args) {
        Ok(Some(request)) => request,
        Ok(None) => {
            println!("{HELP}");
            return 0;
        }
        Err(why) => {
            eprintln!("recount: {why}\n\n{HELP}");
            return USAGE;
        }
    };
    let shown = request.file.display().to_string();
    let file = field(&shown);
    let counted = match tally_file(&request.file) {
        Ok(counted) => counted,
        Err(err) => {
            println!(
                "action: recuento | result: fail | file: {file} | error: {}",
                field(&err.to_string())
            );
            return USAGE;
        }
    };
    report(&counted, &file);
    let mut code = 0;
    if let Some((offset, reason)) = &counted.fault {
        println!(
            "action: recuento | result: fail | file: {file} | offset: {offset} | error: {}",
            field(reason)
        );
        code = MISMATCH;
    }
    if let Some(expected) = request.expect {
        if expected == counted.digest && counted.fault.is_none() {
            println!(
                "action: verificar_sorteo | result: success | file: {file} | digest: {expected}"
            );
        } else {
            println!(
                "action: verificar_sorteo | result: fail | file: {file} | digest: {} | sorteo_digest: {expected}",
                counted.digest
            );
            code = MISMATCH;
        }
    }
    code
}

/// The per-agency lines, then the file's.
fn report(counted: &FileTally, file: &str) {
    let tally = &counted.tally;
    let mut agencies: Vec<u32> = tally.agencies().collect();
    agencies.sort_unstable();
    for agency in agencies {
        let receipt = tally.receipt(agency);
        let winners = tally.winners(agency);
        println!(
            "action: recuento_agencia | result: success | agency: {agency} | cantidad: {} | digest: {} | ganadores: {} | documentos: {}",
            receipt.count,
            receipt.digest,
            winners.len(),
            field(&winners.iter().collect::<Vec<_>>().join(","))
        );
    }
    println!(
        "action: recuento | result: success | file: {file} | apuestas: {} | bytes: {} | digest: {}",
        tally.bets(),
        counted.len,
        counted.digest
    );
}

/// `Ok(None)` asks for the help text.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Request>, String> {
    let mut file = None;
    let mut expect = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--expect" => {
                let text = args.next().ok_or("--expect needs a digest")?;
                expect = Some(digest(&text)?);
            }
            _ if arg.starts_with("--expect=") => {
                expect = Some(digest(&arg["--expect=".len()..])?);
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ if file.is_none() => file = Some(PathBuf::from(arg)),
            _ => return Err(format!("one bets file only, not also {arg}")),
        }
    }
    let file = file.ok_or("which bets file?")?;
    Ok(Some(Request { file, expect }))
}

fn digest(text: &str) -> Result<Digest, String> {
    text.trim()
        .parse()
        .map_err(|err| format!("--expect {text}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_name_one_file_and_an_optional_digest() {
        let hex = "ab".repeat(32);
        assert_eq!(
            parse(args(&["--expect", &hex, "bets.csv"])),
            Ok(Some(Request {
                file: "bets.csv".into(),
                expect: Some(Digest([0xAB; 32]))
            }))
        );
        assert_eq!(
            parse(args(&["bets.csv", &format!("--expect={hex}")])).map(|r| r.map(|r| r.expect)),
            Ok(Some(Some(Digest([0xAB; 32]))))
        );
        assert_eq!(parse(args(&["--help"])), Ok(None));
        assert!(parse(args(&[])).is_err());
        assert!(parse(args(&["a", "b"])).is_err());
        assert!(parse(args(&["--expect", "xyz", "a"])).is_err());
        assert!(parse(args(&["--expect"])).is_err());
        assert!(parse(args(&["--frobnicate", "a"])).is_err());
    }
}
