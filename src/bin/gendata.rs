//! Writes a deterministic dataset: `gendata <out_dir> <agencies> <bets_per_agency> [seed]`.
//!
//! Files `agency-N.csv` in the course's format (CRLF, UTF-8, no header). About one bet in 2,000
//! bets on 7574; the winners per agency are printed as `agency N: W winners` and are a function
//! of the arguments alone.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const FIRST: &[&str] = &[
    "Santiago Lionel",
    "Agustín Emanuel",
    "Tiago Nicolás",
    "Camila Rocío",
    "Diego",
    "María José",
    "Lucía",
    "Joaquín",
    "Valentina",
    "Mateo",
];
const LAST: &[&str] = &[
    "Lorca", "Zambrano", "Rivera", "Varela", "Mamani", "Rotman", "Basile", "Peña", "Gómez",
    "O'Brien",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64: tiny, fast, and the same everywhere.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        eprintln!("usage: gendata <out_dir> <agencies> <bets_per_agency> [seed]");
        ExitCode::from(2)
    };
    if args.len() < 4 || args.len() > 5 {
        return usage();
    }
    let out = PathBuf::from(&args[1]);
    let (Ok(agencies), Ok(per_agency)) = (args[2].parse::<u32>(), args[3].parse::<u64>()) else {
        return usage();
    };
    let Ok(seed) = args.get(4).map_or(Ok(7574), |s| s.parse::<u64>()) else {
        return usage();
    };
    if let Err(err) = std::fs::create_dir_all(&out) {
        eprintln!("gendata: {}: {err}", out.display());
        return ExitCode::from(1);
    }
    for agency in 1..=agencies {
        let mut rng = Rng(seed ^ u64::from(agency).wrapping_mul(0xA24B_AED4_963E_E407));
        let path = out.join(format!("agency-{agency}.csv"));
        let written = File::create(&path).and_then(|file| {
            let mut w = BufWriter::with_capacity(256 * 1024, file);
            let mut winners = 0u64;
            for _ in 0..per_agency {
                let number = if rng.below(2000) == 0 {
                    7574
                } else {
                    rng.below(10_000)
                };
                winners += u64::from(number == 7574);
                let first = FIRST[rng.below(FIRST.len() as u64) as usize];
                let last = LAST[rng.below(LAST.len() as u64) as usize];
                let document = 20_000_000 + rng.below(25_000_000);
                let (year, month, day) =
                    (1940 + rng.below(66), 1 + rng.below(12), 1 + rng.below(28));
                write!(
                    w,
                    "{first},{last},{document},{year}-{month:02}-{day:02},{number}\r\n"
                )?;
            }
            w.flush()?;
            Ok(winners)
        });
        match written {
            Ok(winners) => println!("agency {agency}: {winners} winners"),
            Err(err) => {
                eprintln!("gendata: {}: {err}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
