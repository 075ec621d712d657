//! Per-agency secrets, loaded from `SECRETS_FILE`.

use std::path::Path;

use super::ConfigError;

/// Per-agency secrets, loaded from `SECRETS_FILE`: one `agency=secret` per line, `#` comments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    by_agency: std::collections::HashMap<u32, Vec<u8>>,
}

impl Secrets {
    /// Reads a secrets file.
    ///
    /// # Errors
    /// The file cannot be read, or a line is not `agency=secret` with a non-empty secret.
    pub fn load(path: &Path) -> Result<Secrets, ConfigError> {
        let key = || "SECRETS_FILE".to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
            key: key(),
            reason: format!("{}: {err}", path.display()),
        })?;
        Secrets::parse(&text).map_err(|reason| ConfigError { key: key(), reason })
    }

    /// Parses `agency=secret` lines.
    ///
    /// # Errors
    /// The first bad line, by number.
    pub fn parse(text: &str) -> Result<Secrets, String> {
        let mut by_agency = std::collections::HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line.split_once('=').and_then(|(agency, secret)| {
                let secret = secret.trim();
                Some((agency.trim().parse::<u32>().ok()?, secret)).filter(|_| !secret.is_empty())
            });
            let Some((agency, secret)) = parsed else {
                return Err(format!("line {} is not agency=secret", number + 1));
            };
            by_agency.insert(agency, secret.as_bytes().to_vec());
        }
        Ok(Secrets { by_agency })
    }

    /// The agencies of `1..=agencies` that have no secret (they could never connect).
    pub fn missing(&self, agencies: u32) -> Vec<u32> {
        (1..=agencies)
            .filter(|agency| !self.by_agency.contains_key(agency))
            .collect()
    }

    /// Whether `secret` is the agency's; an agency without a secret is refused.
    pub fn accepts(&self, agency: u32, secret: &[u8]) -> bool {
        let Some(expected) = self.by_agency.get(&agency) else {
            return false;
        };
        // Compare every byte so the time taken does not tell how much of a guess was right.
        expected.len() == secret.len()
            && expected
                .iter()
                .zip(secret)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Secrets;

    #[test]
    fn secrets_accept_only_the_agencys_own() {
        let secrets = Secrets::parse("# agencies\n1 = uno\n2=dos\n").unwrap();
        assert!(secrets.accepts(1, b"uno"));
        assert!(!secrets.accepts(1, b"dos"));
        assert!(!secrets.accepts(2, b""));
        assert!(!secrets.accepts(3, b"uno"));
        assert_eq!(secrets.missing(4), [3, 4]);
        assert!(secrets.missing(2).is_empty());
        assert!(Secrets::parse("1=\n").is_err());
        assert!(Secrets::parse("uno=1\n").is_err());
    }
}
