//! Writes the fuzz targets' seed corpora (`fuzz/corpus/<target>/`) from code, so no input file is
//! committed: valid frames of every kind, valid and nearly valid bets, and agency-file rows.
//!
//! `cargo run --release --example fuzz_seeds -- fuzz/corpus` (`make fuzz-smoke` runs it).

use std::error::Error;
use std::fs;
use std::path::Path;

use tp0::protocol::{
    encode, encode_winners, BatchBuilder, ClientMessage, ErrorCode, RawBet, ServerMessage,
};

fn raw<'a>(first: &'a str, doc: &'a str, date: &'a str, number: &'a str) -> RawBet<'a> {
    RawBet {
        first_name: first.as_bytes(),
        last_name: b"Lorca",
        document: doc.as_bytes(),
        birthdate: date.as_bytes(),
        number: number.as_bytes(),
    }
}

fn frames() -> Result<Vec<Vec<u8>>, Box<dyn Error>> {
    let mut seeds = Vec::new();
    let mut builder = BatchBuilder::new(50);
    for i in 0..5 {
        builder.push(&raw(
            "Ana María",
            &format!("{}", 30_904_465 + i),
            "1999-03-17",
            "7574",
        ))?;
    }
    seeds.push(builder.frame()?.to_vec());
    let bet = raw("Santiago Lionel", "30904465", "1999-03-17", "7574");
    let client = [
        ClientMessage::Hello {
            agency: 1,
            secret: b"",
        },
        ClientMessage::Hello {
            agency: 5,
            secret: b"s3cr3t",
        },
        ClientMessage::Bet { start: 0, bet },
        ClientMessage::End { total: 5 },
        ClientMessage::Winners,
    ];
    for message in client {
        let mut out = Vec::new();
        encode(&message, &mut out)?;
        seeds.push(out);
    }
    let server = [
        ServerMessage::Welcome {
            position: 3,
            ended: true,
        },
        ServerMessage::Ack { position: 5 },
        ServerMessage::Receipt {
            count: 2,
            digest: [0xAB; 32],
        },
        ServerMessage::Error {
            code: ErrorCode::InvalidBet,
            text: "nacimiento: not a valid date",
        },
        ServerMessage::Error {
            code: ErrorCode::Other(200),
            text: "",
        },
    ];
    for message in server {
        let mut out = Vec::new();
        encode(&message, &mut out)?;
        seeds.push(out);
    }
    let mut winners = Vec::new();
    encode_winners(&["30904465", "1"], &mut winners)?;
    seeds.push(winners);
    Ok(seeds)
}

/// A bet as the `bet` target reads it: five fields, each after a one-byte length.
fn bet_seed(fields: [&str; 5]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.push(field.len() as u8);
        out.extend_from_slice(field.as_bytes());
    }
    out
}

fn bets() -> Vec<Vec<u8>> {
    [
        ["Santiago Lionel", "Lorca", "30904465", "1999-03-17", "7574"],
        ["José", "de la O", "1", "2000-02-29", "0"],
        ["A", "B", "1234567890", "1900-12-31", "9999"],
        ["A", "B", "12", "1900-02-29", "10"],
        [" ", "B", "12", "2001-04-31", "0123"],
    ]
    .into_iter()
    .map(bet_seed)
    .collect()
}

/// An agency file as the `rows` target reads it: one control byte (read size, whether to skip a
/// byte-order mark), then the file.
fn rows() -> Vec<Vec<u8>> {
    [
        "Santiago Lionel,Lorca,30904465,1999-03-17,7574\n",
        "a,b,1,2000-01-01,1\r\nc,d,2,2000-01-02,2\r\n",
        "\"Pérez, \"\"Pepe\"\"\nJr\",x,9,2000-01-01,1\nlast,row",
        "one\n\n,\n\"\"\n",
        "\u{feff}nombre,apellido,documento,nacimiento,numero\r\n\r\na,b,1,2000-01-01,1\r\n\r\n",
        "\u{feff}\"Ana\",b,1,2000-01-01,1\n",
    ]
    .iter()
    .enumerate()
    .map(|(i, text)| {
        // Bit 0x40 asks the target to skip a byte-order mark: set it on the seeds that have one.
        let mark = if text.starts_with('\u{feff}') {
            0x40
        } else {
            0
        };
        let mut seed = vec![(i as u8 * 37) & 0xBF | mark];
        seed.extend_from_slice(text.as_bytes());
        seed
    })
    .collect()
}

fn write(dir: &Path, target: &str, seeds: &[Vec<u8>]) -> Result<(), Box<dyn Error>> {
    let dir = dir.join(target);
    fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:02}")), seed)?;
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let dir = Path::new(&dir);
    write(dir, "decode", &frames()?)?;
    write(dir, "bet", &bets())?;
    write(dir, "rows", &rows())?;
    Ok(())
}
