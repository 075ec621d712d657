//! Agency files as people write them, through the real `client` and `server`: empty lines, a
//! byte-order mark and a header row are skipped; any bad row means nothing is sent, and every bad
//! row is reported by the line an editor shows. Stored bets are read back with the `csv` crate, as
//! the course's `load_bets` reads them.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use common::*;

/// The bets file read back as the course's format: `agency,first_name,last_name,document,birthdate,number`.
fn stored(bets: &Path) -> Vec<Vec<String>> {
    let Ok(bytes) = std::fs::read(bets) else {
        return Vec::new();
    };
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[..])
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// A row of the course's format for agency `agency`.
fn bet(agency: u32, first: &str, document: u32, number: u32) -> Vec<String> {
    [
        agency.to_string(),
        first.to_owned(),
        "Lorca".to_owned(),
        document.to_string(),
        "1999-03-17".to_owned(),
        number.to_string(),
    ]
    .to_vec()
}

/// The agency-file line of `bet`.
fn line(bet: &[String]) -> String {
    bet[1..].join(",")
}

/// Runs one client per file, all at once, against a server for that many agencies; asserts each
/// exits 0 and returns their logs and the stored rows.
fn upload(tag: &str, files: &[Vec<u8>]) -> (Vec<String>, Vec<Vec<String>>) {
    let scratch = Scratch::new(tag);
    let server = Server::start(&scratch.0, files.len() as u32, &[]);
    let clients: Vec<_> = files
        .iter()
        .zip(1..)
        .map(|(text, id)| {
            let path = scratch.path(&format!("agency-{id}.csv"));
            std::fs::write(&path, text).unwrap();
            spawn_client(&server.address(), id, &path, &[])
        })
        .collect();
    let logs = finish_all(clients)
        .into_iter()
        .map(|(status, log)| {
            assert!(status.success(), "{log}");
            log
        })
        .collect();
    (logs, stored(&scratch.path("bets.csv")))
}

/// Waits for every client, killing all of them after a minute: a client waiting for a draw that
/// cannot happen fails the test instead of hanging it. Their exit statuses and logs.
fn finish_all(mut clients: Vec<ClientProcess>) -> Vec<(ExitStatus, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while clients
        .iter_mut()
        .any(|client| client.try_wait().unwrap().is_none())
    {
        if Instant::now() > deadline {
            for client in &mut clients {
                let _ = client.kill();
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    clients
        .into_iter()
        .map(|client| {
            let output = client.wait_with_output();
            (
                output.status,
                String::from_utf8_lossy(&output.stdout).into_owned(),
            )
        })
        .collect()
}

/// Runs one client to its end (a minute at most).
fn run_one(address: &str, id: u32, data: &Path) -> (ExitStatus, String) {
    let mut done = finish_all(vec![spawn_client(address, id, data, &[])]);
    done.pop().unwrap()
}

/// The stored rows of `agency`.
fn of(rows: &[Vec<String>], agency: u32) -> Vec<Vec<String>> {
    let agency = agency.to_string();
    rows.iter()
        .filter(|row| row[0] == agency)
        .cloned()
        .collect()
}

#[test]
fn empty_lines_anywhere_are_skipped_and_add_no_bet() {
    let bets: Vec<_> = (0..4).map(|i| bet(1, "Ana", 100 + i, 7574)).collect();
    // A blank line with CRLF in the middle, one with LF, and the empty line editors leave last.
    let text = format!(
        "{}\r\n\r\n{}\r\n\n{}\r\n{}\r\n\r\n",
        line(&bets[0]),
        line(&bets[1]),
        line(&bets[2]),
        line(&bets[3])
    );
    let (logs, rows) = upload("blank", &[text.into_bytes()]);
    assert_eq!(rows, bets, "each bet once, and nothing for the blank lines");
    assert_eq!(
        logged_value(&logs[0], "consulta_ganadores", "cant_ganadores"),
        Some("4".into())
    );
    assert_eq!(
        logged_value(
            &logs[0],
            "check_agency_file | result: success",
            "blank_lines"
        ),
        Some("3".into()),
        "{}",
        logs[0]
    );
}

#[test]
fn a_leading_byte_order_mark_is_not_part_of_the_first_name() {
    let plain = [bet(1, "Ana", 1, 1), bet(1, "Bo", 2, 2)];
    let quoted = [bet(2, "Ana María, hija", 3, 3)];
    let files = [
        format!("\u{feff}{}\r\n{}\r\n", line(&plain[0]), line(&plain[1])),
        // The mark before a quoted first field: the quote still opens the field.
        "\u{feff}\"Ana María, hija\",Lorca,3,1999-03-17,3\r\n".to_string(),
    ];
    let (logs, rows) = upload("mark", &files.map(String::into_bytes));
    assert_eq!(of(&rows, 1), plain);
    assert_eq!(of(&rows, 2), quoted);
    assert!(rows.iter().all(|row| !row[1].contains('\u{feff}')));
    assert_eq!(
        logged_value(
            &logs[0],
            "check_agency_file | result: success",
            "byte_order_mark"
        ),
        Some("true".into())
    );
}

#[test]
fn a_first_row_of_the_course_column_names_is_skipped_and_logged() {
    let headers = [
        "nombre,apellido,documento,nacimiento,numero",
        "NOMBRE,Apellido,DOCUMENTO,Nacimiento,NUMERO",
        "first_name,last_name,document,birthdate,number",
        "First_Name,LAST_NAME,Document,BirthDate,Number",
    ];
    let mut files: Vec<Vec<u8>> = Vec::new();
    let mut expected = Vec::new();
    for (header, agency) in headers.iter().zip(1..) {
        let bets = [
            bet(agency, "Ana", agency, 7574),
            bet(agency, "Bo", 10 + agency, 1),
        ];
        files.push(format!("{header}\r\n{}\r\n{}\r\n", line(&bets[0]), line(&bets[1])).into());
        expected.push(bets.to_vec());
    }
    // All three at once: the mark, blank lines, and the header on the first line with content.
    let all = [bet(5, "Ana", 5, 7574)];
    files.push(
        format!(
            "\u{feff}\r\n\"nombre\",apellido,documento,nacimiento,numero\r\n\r\n{}\r\n\r\n",
            line(&all[0])
        )
        .into(),
    );
    expected.push(all.to_vec());
    let (logs, rows) = upload("header", &files);
    for (agency, log) in (1..).zip(&logs) {
        assert_eq!(of(&rows, agency), expected[agency as usize - 1]);
        let row = if agency == 5 { "2" } else { "1" };
        assert_eq!(
            logged_value(log, "action: skip_header_row | result: success", "row"),
            Some(row.into()),
            "{log}"
        );
        assert_eq!(
            logged_value(log, "consulta_ganadores", "cant_ganadores"),
            Some("1".into())
        );
    }
    assert_eq!(rows.len(), 9, "no header stored as a bet");
}

#[test]
fn every_bad_row_is_reported_by_its_editor_line_and_nothing_is_sent() {
    let scratch = Scratch::new("badrows");
    // Listening but never accepting: a connection attempt would still complete into the backlog.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut text = String::from(
        "nombre,apellido,documento,nacimiento,numero\r\n\
         Ana,Lorca,1,1999-03-17,7574\r\n\
         \r\n\
         Bo,Diaz,12a,2000-01-01,1\r\n\
         Ca,Ruiz,3,2001-02-29,1\r\n\
         \"Da\r\nvid\",Paz,4,2000-01-01,10000\r\n\
         \"\"\r\n\
         nombre,apellido,documento,nacimiento,numero\r\n\
         Ed,Lu,5,2000-01-01\r\n \r\n",
    );
    for i in 0..20 {
        text.push_str(&format!("Fe,Gil,{},2000-01-01,x{i}\r\n", 100 + i));
    }
    text.push_str("Ana,Lorca,2,1999-03-17,7574\r\n\r\n");
    let data = scratch.path("agency-1.csv");
    std::fs::write(&data, text).unwrap();
    let (status, log) = run_one(&address, 1, &data);
    assert_eq!(status.code(), Some(1), "{log}");
    let reported: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("action: check_agency_file | result: fail | file: "))
        .filter_map(|line| line.split_once(" | row: ").map(|(_, rest)| rest))
        .collect();
    let mut expected = vec![
        "4 | field: documento | reason: not 1 to 10 digits".to_owned(),
        "5 | field: nacimiento | reason: not a valid YYYY-MM-DD date".to_owned(),
        "6 | field: numero | reason: not a number from 0 to 9999".to_owned(),
        "8 | reason: 1 fields, expected 5 (nombre,apellido,documento,nacimiento,numero)".to_owned(),
        "9 | reason: column names are only allowed as the first row".to_owned(),
        "10 | reason: 4 fields, expected 5 (nombre,apellido,documento,nacimiento,numero)"
            .to_owned(),
        "11 | reason: 1 fields, expected 5 (nombre,apellido,documento,nacimiento,numero)"
            .to_owned(),
    ];
    // Twenty shown in all, the rest counted.
    expected.extend(
        (12..25).map(|n| format!("{n} | field: numero | reason: not a number from 0 to 9999")),
    );
    assert_eq!(reported, expected, "{log}");
    assert_eq!(
        logged_value(&log, "| bad_rows: ", "bad_rows"),
        Some("27".into()),
        "{log}"
    );
    assert_eq!(
        logged_value(&log, "| bad_rows: ", "not_shown"),
        Some("7".into())
    );
    assert!(log.contains("error: "), "{log}");
    assert!(
        log.contains("agency-1.csv: 27 bad rows, nothing sent"),
        "{log}"
    );
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "the client connected with a bad file"
    );
}

#[test]
fn a_bad_last_row_stores_no_bet_of_its_agency_and_the_fixed_file_then_finishes() {
    let scratch = Scratch::new("badlast");
    let server = Server::start(&scratch.0, 1, &[]);
    // Several batches' worth before the bad row, so a streaming upload would have stored some.
    let bets: Vec<_> = (0..1000).map(|i| bet(1, "Ana", 1000 + i, i % 10)).collect();
    let good: String = bets.iter().map(|b| format!("{}\r\n", line(b))).collect();
    let data = scratch.path("agency-1.csv");
    std::fs::write(&data, format!("{good}Bo,Diaz,7,1999-02-30,7574\r\n")).unwrap();
    let (status, log) = run_one(&server.address(), 1, &data);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("| row: 1001 | field: nacimiento | reason: not a valid YYYY-MM-DD date"),
        "{log}"
    );
    assert!(stored(&scratch.path("bets.csv")).is_empty());
    assert_eq!(
        server.count_in_log("apuesta_recibida"),
        0,
        "{}",
        server.logs()
    );
    // The same file with its last row fixed: every bet once, and the round finishes.
    std::fs::write(&data, format!("{good}Bo,Diaz,7,1999-02-28,7574\r\n")).unwrap();
    let (status, log) = run_one(&server.address(), 1, &data);
    assert!(status.success(), "{log}");
    let mut expected = bets.clone();
    expected.push(
        ["1", "Bo", "Diaz", "7", "1999-02-28", "7574"]
            .map(str::to_owned)
            .to_vec(),
    );
    assert_eq!(stored(&scratch.path("bets.csv")), expected);
    assert_eq!(
        logged_value(&log, "consulta_ganadores", "cant_ganadores"),
        Some("1".into())
    );
}

#[test]
fn a_resumed_upload_counts_bets_not_lines() {
    let scratch = Scratch::new("resume");
    let server = Server::start(&scratch.0, 1, &[]);
    // The first three bets reach the server from a raw peer (what a previous run sent) ...
    let mut raw = Raw::new_agency(server.port, 1);
    raw.send_raw(&batch(0, 3, 100, "7574"));
    assert_eq!(raw.recv(), Some(Reply::Ack(3)));
    drop(raw);
    // ... then the client resumes from a file where they sit among a mark, a header and blanks.
    let first: Vec<_> = (0..3)
        .map(|i| {
            [
                "1",
                "Ana",
                "Test",
                &(100 + i).to_string(),
                "2000-01-01",
                "7574",
            ]
            .map(str::to_owned)
            .to_vec()
        })
        .collect();
    let rest = [bet(1, "Bo", 200, 1), bet(1, "Ca", 201, 7574)];
    let text = format!(
        "\u{feff}nombre,apellido,documento,nacimiento,numero\r\n\r\n{}\r\n\r\n{}\r\n{}\r\n\r\n{}\r\n{}\r\n\r\n",
        line(&first[0]),
        line(&first[1]),
        line(&first[2]),
        line(&rest[0]),
        line(&rest[1])
    );
    let data = scratch.path("agency-1.csv");
    std::fs::write(&data, text).unwrap();
    let (status, log) = run_one(&server.address(), 1, &data);
    assert!(status.success(), "{log}");
    let mut expected = first;
    expected.extend(rest);
    assert_eq!(stored(&scratch.path("bets.csv")), expected, "{log}");
    assert_eq!(
        logged_value(&log, "consulta_ganadores", "cant_ganadores"),
        Some("4".into())
    );
}

#[test]
fn check_mode_reports_a_file_without_connecting() {
    let scratch = Scratch::new("checkmode");
    // Listening but never accepting: a connection attempt would still complete into the backlog.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let good = scratch.path("good.csv");
    std::fs::write(
        &good,
        "\u{feff}nombre,apellido,documento,nacimiento,numero\r\nAna,Lorca,1,1999-03-17,7574\r\n\r\nBo,Diaz,2,2000-01-01,1\r\n",
    )
    .unwrap();
    let bad = scratch.path("bad.csv");
    std::fs::write(
        &bad,
        "Ana,Lorca,1,1999-03-17,7574\r\nBo,Diaz,2,2000-02-30,1\r\n",
    )
    .unwrap();
    let check = [("CLI_MODE", "check")];
    let mut done = finish_all(vec![
        spawn_client(&address, 1, &good, &check),
        spawn_client(&address, 2, &bad, &check),
    ]);
    let (bad_status, bad_log) = done.pop().unwrap();
    let (good_status, good_log) = done.pop().unwrap();
    assert_eq!(good_status.code(), Some(0), "{good_log}");
    let success = "action: check_agency_file | result: success";
    assert_eq!(
        logged_value(&good_log, success, "bets"),
        Some("2".into()),
        "{good_log}"
    );
    assert_eq!(
        logged_value(&good_log, success, "blank_lines"),
        Some("1".into())
    );
    assert_eq!(
        logged_value(&good_log, success, "header_row"),
        Some("true".into())
    );
    assert_eq!(
        logged_value(&good_log, success, "byte_order_mark"),
        Some("true".into())
    );
    assert_eq!(bad_status.code(), Some(1), "{bad_log}");
    assert!(
        bad_log.contains("| row: 2 | field: nacimiento | reason: not a valid YYYY-MM-DD date"),
        "{bad_log}"
    );
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "a check connected to the server"
    );
}
