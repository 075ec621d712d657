//! The limits a round of many agencies needs: a server whose process, file or accept-queue limit
//! is too small for its `AGENCIES` says so at startup, in one course-format line naming what it
//! would need, instead of failing agencies in the middle of the round.

mod common;

use common::*;

/// `prlimit` (util-linux) lowers the limits of the server it runs; without it the test is skipped.
fn has_prlimit() -> bool {
    std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn limits_too_small_for_the_agencies_are_one_startup_line() {
    if !has_prlimit() {
        eprintln!("prlimit not found: skipped");
        return;
    }
    let scratch = Scratch::new("limits");
    let wrapper: Vec<String> = ["prlimit", "--nproc=200:200", "--nofile=256:256", "--"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut server = Server::start_wrapped(&scratch.0, 0, 10_000, &[], &wrapper);
    let log = server.logs();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("action: check_limits"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    let line = lines[0];
    assert!(
        line.contains("action: check_limits | result: fail | agencies: 10000"),
        "{line}"
    );
    // What a round of 10,000 needs, against what it was given.
    assert_eq!(
        logged_value(line, "check_limits", "processes_needed").as_deref(),
        Some("10002")
    );
    assert_eq!(
        logged_value(line, "check_limits", "nproc").as_deref(),
        Some("200")
    );
    assert_eq!(
        logged_value(line, "check_limits", "open_files_needed").as_deref(),
        Some("10032")
    );
    assert_eq!(
        logged_value(line, "check_limits", "nofile").as_deref(),
        Some("256")
    );
    let short = logged_value(line, "check_limits", "short").unwrap_or_default();
    assert!(
        short.split(',').any(|s| s == "nproc") && short.split(',').any(|s| s == "nofile"),
        "{line}"
    );
    // The course's format: `action: x | result: y | key: value ...`, every detail with a colon.
    let fields: Vec<&str> = line[line.find("action:").unwrap_or(0)..]
        .split(" | ")
        .collect();
    assert!(fields.iter().all(|field| field.contains(": ")), "{line}");
    assert!(server.terminate().success(), "{}", server.logs());
}

#[test]
fn the_default_limits_here_fit_a_small_round() {
    let scratch = Scratch::new("limits-ok");
    let mut server = Server::start(&scratch.0, 5, &[]);
    let log = server.logs();
    assert_eq!(
        log.matches("action: check_limits | result: success | agencies: 5 |")
            .count(),
        1,
        "{log}"
    );
    assert!(server.terminate().success(), "{}", server.logs());
}
