//! With `SECRETS_FILE`, an agency is who its secret says: no, another's or a near-miss secret is
//! `Unauthorized`, guessing is rate limited per address, and a round with an agency that has no
//! secret does not start.
//!
//! Each test prints one `reliability:` row for `docs/reliability.md` (`make reliability`).

mod common;

use common::*;
use tp0::protocol::ErrorCode;

/// A round of `agencies` whose server reads `secrets` (`agency=secret` lines) from SECRETS_FILE.
fn round_with_secrets(tag: &str, agencies: u32, secrets: &str) -> Round {
    let scratch = Scratch::new(tag);
    let file = scratch.write("secrets", secrets);
    Round::start_in(scratch, agencies, &[("SECRETS_FILE", &file)])
}

#[test]
fn with_secrets_an_agency_cannot_act_as_another() {
    let round = round_with_secrets("secrets", 2, "1=uno-secreto\n2=dos-secreto\n");
    for secret in [b"".as_slice(), b"dos-secreto", b"uno-secret"] {
        let (_raw, reply) = Raw::hello(round.port, 1, secret);
        assert!(
            matches!(reply, Some(Reply::Error(ErrorCode::Unauthorized, _))),
            "secret {:?}: {reply:?}",
            String::from_utf8_lossy(secret)
        );
    }
    assert!(round.count_in_log("action: authenticate | result: fail") >= 3);
    let data = generated(2, 500, "secrets");
    let one_secret = round.scratch.write("one.secret", "uno-secreto\n");
    let two_secret = round.scratch.write("two.secret", "dos-secreto");
    let one = spawn_client(
        &round.address(),
        1,
        &data.file(1),
        &[("CLI_SECRET_FILE", &one_secret)],
    );
    run_client_ok(
        &round.address(),
        2,
        &data.file(2),
        &[("CLI_SECRET_FILE", &two_secret)],
    );
    let output = one.wait_with_output();
    assert!(output.status.success(), "{}", output.log());
    // A client with the wrong secret gives up at once with a clear error.
    let (status, log) = run_client(
        &round.address(),
        1,
        &data.file(1),
        &[("CLI_SECRET_FILE", &two_secret)],
    );
    assert_eq!(status.code(), Some(1));
    assert!(log.contains("Unauthorized"), "{log}");
    evidence(
        "an agency using another's identity",
        "HELLO with no, another's, and a near-miss secret",
        "Unauthorized, logged; right secrets upload normally",
    );
}

#[test]
fn wrong_secrets_are_rate_limited_per_address() {
    let round = round_with_secrets("guess", 1, "1=uno-secreto\n");
    for guess in 0..5 {
        let secret = format!("guess-{guess}");
        let (_raw, reply) = Raw::hello(round.port, 1, secret.as_bytes());
        assert!(
            matches!(
                &reply,
                Some(Reply::Error(ErrorCode::Unauthorized, text)) if text.starts_with("wrong secret")
            ),
            "guess {guess}: {reply:?}"
        );
    }
    match Raw::hello(round.port, 1, b"uno-secreto").1 {
        Some(Reply::Error(ErrorCode::Unauthorized, text)) => {
            assert!(text.starts_with("too many wrong secrets"), "{text}")
        }
        other => panic!("after 5 wrong guesses even the right secret waits: {other:?}"),
    }
    assert_eq!(
        round.count_in_log("reason: too many wrong secrets from this address"),
        1
    );
    evidence(
        "guessing an agency's secret",
        "5 wrong secrets from one address, then the right one",
        "the 6th attempt is refused (too many wrong secrets; one more guess per 12 s)",
    );
}

#[test]
fn an_agency_missing_from_the_secrets_file_is_a_startup_error() {
    let scratch = Scratch::new("nosecret");
    let secrets = scratch.write("secrets", "1=uno\n3=tres\n");
    let env = [("AGENCIES", "3"), ("SECRETS_FILE", secrets.as_str())];
    let (status, log) = refused_start(&scratch.0, &env);
    assert_eq!(status, Some(1), "{log}");
    assert!(log.contains("no secret for agencies 2:"), "{log}");
    evidence(
        "an agency missing from SECRETS_FILE",
        "secrets for agencies 1 and 3 of 3",
        "a startup error naming agency 2, exit 1 (it could never connect, so the draw could never happen)",
    );
}
