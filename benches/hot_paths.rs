//! Micro-benchmarks of the functions whose comments make speed claims: splitting a row (the
//! product's block scan, beside `memchr` over the same rows), validating a bet, decoding a frame of
//! a full batch, appending a row, adding bets to a receipt (SHA-256 over their canonical
//! encodings). `cargo bench -p tp0`; the figures go into docs/benchmarks.md.
//!
//! Product paths called (public, and only these): `tp0::rows::Row::split`, `tp0::domain::Bet::validate`,
//! `tp0::domain::RawBet`, `tp0::protocol::BatchBuilder`, `tp0::protocol::decode`,
//! `tp0::storage::PendingRows` (push, then roll back to its mark), `tp0::domain::ReceiptBuilder`.

use divan::{black_box, Bencher};
use tp0::domain::{Bet, RawBet, ReceiptBuilder};
use tp0::protocol::{decode, BatchBuilder, ClientMessage};
use tp0::rows::Row;
use tp0::storage::PendingRows;

/// Rows as the course's files hold them: 45 to 55 bytes, CRLF line ends, some accents.
const ROWS: [&str; 4] = [
    "Santiago Lionel,Lorca,30904465,1999-03-17,7574\r\n",
    "María José,Rodríguez Peña,27410213,1985-11-02,1234\r\n",
    "Agustín Emanuel,Zambrano,40123987,2001-07-30,9010\r\n",
    "Camila Rocío,Rivera,33555111,1993-01-15,42\r\n",
];
/// The rows' names in the benchmarks' output.
const NAMES: [&str; 4] = ["ascii", "accents", "accents-long", "short-number"];

/// The row named `name`.
fn row(name: &str) -> &'static str {
    NAMES
        .iter()
        .position(|n| *n == name)
        .map_or(ROWS[0], |i| ROWS[i])
}

/// `n` rows, one after the other.
fn rows(n: usize) -> Vec<u8> {
    ROWS.iter()
        .cycle()
        .take(n)
        .flat_map(|r| r.bytes())
        .collect()
}

/// The raw bet of one row (its five fields).
fn raw(row: &[u8]) -> RawBet<'_> {
    let mut f = row.trim_ascii_end().split(|&b| b == b',');
    let mut next = || f.next().unwrap_or_default();
    RawBet {
        first_name: next(),
        last_name: next(),
        document: next(),
        birthdate: next(),
        number: next(),
    }
}

fn main() {
    divan::main();
}

/// 1,000 rows split into fields by `tp0::rows::Row::split`, one row reused as the readers do.
#[divan::bench]
fn split_rows(bencher: Bencher) {
    let buf = rows(1_000);
    bencher
        .counter(divan::counter::BytesCount::of_slice(&buf))
        .bench(|| {
            let (mut at, mut fields, mut row) = (0, 0, Row::empty());
            while row.split(black_box(&buf), at) {
                fields += row.count;
                at = row.end;
            }
            fields
        });
}

/// The same 1,000 rows, each separator found by `memchr3` (`,`, `\n`, `"`: the same set).
#[divan::bench]
fn split_rows_memchr(bencher: Bencher) {
    let buf = rows(1_000);
    bencher
        .counter(divan::counter::BytesCount::of_slice(&buf))
        .bench(|| {
            let (mut at, mut fields) = (0, 0);
            let buf = black_box(&buf);
            while let Some(i) = memchr::memchr3(b',', b'\n', b'"', &buf[at..]) {
                fields += usize::from(buf[at + i] != b'"');
                at += i + 1;
            }
            fields
        });
}

/// One bet's fields checked and parsed.
#[divan::bench(args = NAMES)]
fn validate_bet(bencher: Bencher, name: &str) {
    let line = row(name).as_bytes();
    bencher.bench(|| Bet::validate(&raw(black_box(line))).is_ok());
}

/// A frame of 120 bets (the client's default batch) decoded.
#[divan::bench]
fn decode_batch_of_120(bencher: Bencher) {
    let mut batch = BatchBuilder::new(120);
    batch.reset(0);
    let buf = rows(120);
    for line in buf.split_inclusive(|&b| b == b'\n') {
        let _ = batch.push(&raw(line));
    }
    let frame = batch.frame().map(<[u8]>::to_vec).unwrap_or_default();
    bencher.bench(|| decode::<ClientMessage<'_>>(black_box(&frame)).is_ok());
}

/// One validated bet appended as a CSV row to the batch buffer the session writes.
#[divan::bench(args = NAMES)]
fn append_one_row(bencher: Bencher, name: &str) {
    let raw = raw(row(name).as_bytes());
    let Ok(bet) = Bet::validate(&raw) else { return };
    let mut rows = PendingRows::with_capacity(128);
    let empty = rows.mark();
    bencher.bench_local(|| {
        rows.push(black_box(3), black_box(&bet));
        let len = rows.len_bytes();
        rows.roll_back(empty);
        len
    });
}

/// 1,000 bets added to a receipt, and its digest: what each end of an upload hashes per bet.
#[divan::bench]
fn receipt_of_1000_bets(bencher: Bencher) {
    let buf = rows(1000);
    let bets: Vec<RawBet<'_>> = buf.split_inclusive(|&b| b == b'\n').map(raw).collect();
    bencher.bench_local(|| {
        let mut receipt = ReceiptBuilder::new();
        for bet in black_box(&bets) {
            receipt.add_raw(bet);
        }
        receipt.receipt()
    });
}
