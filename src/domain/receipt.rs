//! Receipts: what an agency's bets were, as a count and a SHA-256 digest both ends compute alike.
//!
//! A bet's canonical encoding is its five fields in order — first name, last name, document,
//! birthdate, and the number as its canonical decimal text — each as a big-endian `u32` length
//! then its bytes. It is the same whether the bet came from an agency's CSV, a `BETS` frame or the
//! bets file, whatever the quoting. An agency's digest is SHA-256 over its bets' encodings in
//! stream order; a file's digest is SHA-256 over its bytes. `docs/protocol.md` ("Receipts") has
//! the bytes of an example.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use super::RawBet;

/// Encoded bets gathered before one `update`: hashing a few kilobytes per call instead of ~70
/// bytes per bet saves SHA-256's per-call overhead and lets its block loop run uninterrupted.
pub const PENDING_MAX: usize = 4096;

/// A SHA-256 digest; shown as 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// Why a text is not a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestParseError;

impl fmt::Display for DigestParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a digest is 64 hex digits")
    }
}

impl std::error::Error for DigestParseError {}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(text: &str) -> Result<Digest, DigestParseError> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return Err(DigestParseError);
        }
        let nibble = |c: u8| char::from(c).to_digit(16).ok_or(DigestParseError);
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            // Both nibbles are below 16, so the byte fits.
            *byte = u8::try_from(nibble(pair[0])? * 16 + nibble(pair[1])?)
                .map_err(|_| DigestParseError)?;
        }
        Ok(Digest(bytes))
    }
}

/// How many bets, and the digest of their canonical encodings in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Bets covered.
    pub count: u64,
    /// SHA-256 over their canonical encodings, in stream order.
    pub digest: Digest,
}

/// Builds a [`Receipt`] one bet at a time.
#[derive(Debug, Clone, Default)]
pub struct ReceiptBuilder {
    hasher: Sha256,
    /// Encodings not hashed yet (at most about [`PENDING_MAX`] bytes).
    pending: Vec<u8>,
    count: u64,
}

impl ReceiptBuilder {
    /// A receipt of no bets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next bet. The number is the bet's value, written here in canonical decimal.
    pub fn add(
        &mut self,
        first_name: &[u8],
        last_name: &[u8],
        document: &[u8],
        birthdate: &[u8],
        number: u16,
    ) {
        self.reserve();
        encode_bet(
            &mut self.pending,
            first_name,
            last_name,
            document,
            birthdate,
            number,
        );
        self.added();
    }

    /// Adds the next bet from its raw fields, the number already in canonical decimal (as a
    /// validated bet's is).
    pub fn add_raw(&mut self, raw: &RawBet<'_>) {
        self.reserve();
        encode_fields(
            &mut self.pending,
            [
                raw.first_name,
                raw.last_name,
                raw.document,
                raw.birthdate,
                raw.number,
            ],
        );
        self.added();
    }

    fn reserve(&mut self) {
        if self.pending.capacity() == 0 {
            self.pending.reserve(PENDING_MAX + 64);
        }
    }

    /// Counts the bet just encoded, and hashes the pending encodings once there are enough.
    fn added(&mut self) {
        self.count += 1;
        if self.pending.len() >= PENDING_MAX {
            self.hasher.update(&self.pending);
            self.pending.clear();
        }
    }

    /// Bets added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The receipt of the bets added so far (more may follow).
    pub fn receipt(&self) -> Receipt {
        let mut hasher = self.hasher.clone();
        hasher.update(&self.pending);
        Receipt {
            count: self.count,
            digest: Digest(hasher.finalize().into()),
        }
    }
}

/// Appends the canonical encoding of a bet to `out`, the number written in canonical decimal:
/// what a [`ReceiptBuilder`] hashes, for a caller that keeps its hashers apart from its buffer
/// (a tally of thousands of agencies shares one buffer among them).
pub fn encode_bet(
    out: &mut Vec<u8>,
    first_name: &[u8],
    last_name: &[u8],
    document: &[u8],
    birthdate: &[u8],
    number: u16,
) {
    let mut digits = [0u8; 5];
    let number = decimal_text(number, &mut digits);
    encode_fields(out, [first_name, last_name, document, birthdate, number]);
}

/// Appends each field as its length, then its bytes.
fn encode_fields(out: &mut Vec<u8>, fields: [&[u8]; 5]) {
    for field in fields {
        out.extend_from_slice(&field_len(field));
        out.extend_from_slice(field);
    }
}

/// A field's length as the encoding writes it; a field over 4 GiB (which nothing can hold: rows
/// are at most 1 MiB) would saturate rather than wrap.
fn field_len(field: &[u8]) -> [u8; 4] {
    u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes()
}

/// `number` in decimal without leading zeros, written into `out`.
fn decimal_text(mut number: u16, out: &mut [u8; 5]) -> &[u8] {
    let mut start = out.len();
    loop {
        start -= 1;
        // A remainder of 10 is below 10, so the digit fits a byte.
        out[start] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            return &out[start..];
        }
    }
}

/// SHA-256 over a stream of bytes given in pieces: a bets file's digest.
#[derive(Debug, Clone, Default)]
pub struct ContentHasher {
    hasher: Sha256,
}

impl ContentHasher {
    /// The digest of no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The digest of the bytes added so far (more may follow).
    pub fn digest(&self) -> Digest {
        self.clone().finish()
    }

    /// The digest of the bytes added, when no more follow.
    pub fn finish(self) -> Digest {
        Digest(self.hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_DIGEST: &str = "d4a33ab4402116206491c2051031146841c9f9f209346ccbfcb39b230bb82c86";

    fn example() -> ReceiptBuilder {
        let mut receipt = ReceiptBuilder::new();
        receipt.add(
            b"Santiago Lionel",
            b"Lorca",
            b"30904465",
            b"1999-03-17",
            7574,
        );
        receipt
    }

    #[test]
    fn the_encoding_is_length_prefixed_fields_and_the_number_in_decimal() {
        let mut expected = Vec::new();
        for field in [
            &b"Santiago Lionel"[..],
            b"Lorca",
            b"30904465",
            b"1999-03-17",
            b"7574",
        ] {
            expected.extend_from_slice(&(field.len() as u32).to_be_bytes());
            expected.extend_from_slice(field);
        }
        let digest = Digest(Sha256::digest(&expected).into());
        assert_eq!(example().receipt(), Receipt { count: 1, digest });
        // The example in docs/protocol.md.
        assert_eq!(digest.to_string(), EXAMPLE_DIGEST);
    }

    #[test]
    fn field_boundaries_matter() {
        let mut a = ReceiptBuilder::new();
        a.add(b"Ab", b"c", b"1", b"2000-01-01", 0);
        let mut b = ReceiptBuilder::new();
        b.add(b"A", b"bc", b"1", b"2000-01-01", 0);
        assert_ne!(a.receipt(), b.receipt());
    }

    #[test]
    fn long_fields_hash_as_if_they_fit() {
        let long = vec![b'x'; 2000];
        let mut receipt = ReceiptBuilder::new();
        receipt.add(&long, b"B", b"1", b"2000-01-01", 10);
        let mut expected = Sha256::new();
        for field in [&long[..], b"B", b"1", b"2000-01-01", b"10"] {
            expected.update((field.len() as u32).to_be_bytes());
            expected.update(field);
        }
        assert_eq!(
            receipt.receipt().digest.0,
            <[u8; 32]>::from(expected.finalize())
        );
    }

    #[test]
    fn buffering_does_not_change_the_digest() {
        let mut buffered = ReceiptBuilder::new();
        let mut one_by_one = Sha256::new();
        for i in 0..500u16 {
            let name = format!("Name{i}");
            buffered.add(name.as_bytes(), b"Lorca", b"30904465", b"1999-03-17", i);
            for field in [
                name.as_bytes(),
                b"Lorca",
                b"30904465",
                b"1999-03-17",
                i.to_string().as_bytes(),
            ] {
                one_by_one.update((field.len() as u32).to_be_bytes());
                one_by_one.update(field);
            }
        }
        let receipt = buffered.receipt();
        assert_eq!(receipt.count, 500);
        assert_eq!(receipt.digest.0, <[u8; 32]>::from(one_by_one.finalize()));
    }

    #[test]
    fn a_hasher_of_encoded_bets_gives_the_builders_digest() {
        let mut encoded = Vec::new();
        encode_bet(
            &mut encoded,
            b"Santiago Lionel",
            b"Lorca",
            b"30904465",
            b"1999-03-17",
            7574,
        );
        let mut hasher = ContentHasher::new();
        hasher.update(&encoded);
        assert_eq!(hasher.finish().to_string(), EXAMPLE_DIGEST);
    }

    #[test]
    fn numbers_are_canonical_decimal() {
        let mut out = [0u8; 5];
        assert_eq!(decimal_text(0, &mut out), b"0");
        assert_eq!(decimal_text(9999, &mut out), b"9999");
        assert_eq!(decimal_text(65535, &mut out), b"65535");
    }

    #[test]
    fn digests_read_back_from_hex() {
        let digest = example().receipt().digest;
        assert_eq!(digest.to_string().parse::<Digest>(), Ok(digest));
        assert_eq!(
            digest.to_string().to_uppercase().parse::<Digest>(),
            Ok(digest)
        );
        assert!("abc".parse::<Digest>().is_err());
        assert!("g".repeat(64).parse::<Digest>().is_err());
    }

    #[test]
    fn no_bets_is_the_digest_of_nothing() {
        assert_eq!(
            ReceiptBuilder::new().receipt().digest.to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            ContentHasher::new().digest(),
            ReceiptBuilder::new().receipt().digest
        );
    }
}
