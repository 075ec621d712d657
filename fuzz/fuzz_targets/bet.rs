//! The bet validator against the rules `Bet`'s fields document, restated here independently:
//! a bet is accepted exactly when the reference below accepts it, and an accepted bet round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tp0::domain::{Bet, RawBet};

/// Splits the input into five fields, each preceded by a one-byte length (the wire's layout);
/// a length past the end takes what is left.
fn fields(mut data: &[u8]) -> [&[u8]; 5] {
    let mut out: [&[u8]; 5] = [&[]; 5];
    for field in &mut out {
        let Some((&len, rest)) = data.split_first() else {
            break;
        };
        let (head, tail) = rest.split_at(usize::from(len).min(rest.len()));
        *field = head;
        data = tail;
    }
    out
}

/// Nombre, Apellido: non-empty UTF-8 of at most 255 bytes, no NUL, not only white space.
fn name_ok(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            !text.is_empty()
                && text.len() <= 255
                && !text.contains('\0')
                && !text.chars().all(char::is_whitespace)
        }
        Err(_) => false,
    }
}

/// Documento: 1 to 10 ASCII digits.
fn document_ok(bytes: &[u8]) -> bool {
    (1..=10).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_digit)
}

/// Número: 0 to 9999 in canonical decimal (no sign, no leading zero).
fn number_ok(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes).ok()?;
    let value: u16 = text.parse().ok()?;
    (value <= 9999 && value.to_string() == text).then_some(value)
}

/// Nacimiento: `YYYY-MM-DD`, a real calendar date from 1900 on; checked by counting days from
/// the first of the month to the first of the next, a different route than the validator's table.
fn birthdate_ok(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts[..] else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    if !(y.bytes().chain(m.bytes()).chain(d.bytes())).all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (Ok(year), Ok(month), Ok(day)) = (y.parse::<i64>(), m.parse::<i64>(), d.parse::<i64>())
    else {
        return false;
    };
    if year < 1900 || !(1..=12).contains(&month) || day < 1 {
        return false;
    }
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    day <= days_from_civil(next_year, next_month, 1) - days_from_civil(year, month, 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fuzz_target!(|data: &[u8]| {
    let [first_name, last_name, document, birthdate, number] = fields(data);
    let raw = RawBet {
        first_name,
        last_name,
        document,
        birthdate,
        number,
    };
    let expected = name_ok(first_name)
        && name_ok(last_name)
        && document_ok(document)
        && birthdate_ok(birthdate)
        && number_ok(number).is_some();
    match Bet::validate(&raw) {
        Ok(bet) => {
            assert!(expected, "accepted a bet the rules refuse: {raw:?}");
            assert_eq!(Some(bet.number), number_ok(number));
            assert_eq!(
                bet.raw(),
                raw,
                "a bet keeps the bytes it was validated from"
            );
            assert_eq!(Bet::validate(&bet.raw()), Ok(bet));
        }
        Err(err) => {
            assert!(!expected, "refused a bet the rules accept ({err}): {raw:?}");
        }
    }
});
