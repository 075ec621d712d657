//! Logging in the course's format, safe for many processes sharing one stdout.
//!
//! Each line is `YYYY-MM-DD HH:MM:SS LEVEL    message` (UTC), formatted whole in memory and
//! written with a single `write(2)` of at most [`MAX_LINE`] bytes: below `PIPE_BUF`, so lines from
//! the parent, the coordinator and every session child never interleave on a pipe. Syslog is an
//! optional second sink that fails soft: one warning on stdout, then stdout alone.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Longest line written, newline included; longer messages are cut (below `PIPE_BUF`).
pub const MAX_LINE: usize = 4000;

type SyslogWriter = syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>;

struct CourseLogger {
    syslog: Option<Mutex<SyslogWriter>>,
}

/// Installs the logger at `level`; with `syslog` it also sends every line to the local syslog.
///
/// Calling it again only changes the level (the `log` facade takes one logger per process).
pub fn init(level: LevelFilter, syslog: bool) {
    let sink = if syslog {
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_USER,
            hostname: None,
            process: "tp0".into(),
            pid: std::process::id(),
        };
        match syslog::unix(formatter) {
            Ok(writer) => Some(Mutex::new(writer)),
            Err(err) => {
                write_line(&format_line(
                    Level::Warn,
                    format_args!(
                        "action: syslog | result: fail | error: {}",
                        field(&err.to_string())
                    ),
                ));
                None
            }
        }
    } else {
        None
    };
    let logger = Box::new(CourseLogger { syslog: sink });
    // A second init keeps the first logger; only the level below changes.
    let _ = log::set_boxed_logger(logger);
    log::set_max_level(level);
}

/// Parses a level name as the course writes it (`DEBUG`, `INFO`, `WARNING`, …).
pub fn parse_level(name: &str) -> Option<LevelFilter> {
    Some(match name.trim().to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::Trace,
        "DEBUG" => LevelFilter::Debug,
        "INFO" => LevelFilter::Info,
        "WARN" | "WARNING" => LevelFilter::Warn,
        "ERROR" | "CRITICAL" | "FATAL" => LevelFilter::Error,
        "OFF" => LevelFilter::Off,
        _ => return None,
    })
}

/// A value safe to put in an `action:` line: no `|` and no line breaks.
pub fn field(value: &str) -> Cow<'_, str> {
    if value.contains(['|', '\n', '\r']) {
        Cow::Owned(
            value
                .chars()
                .map(|c| match c {
                    '|' => '/',
                    '\n' | '\r' => ' ',
                    c => c,
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(value)
    }
}

impl Log for CourseLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record.level(), *record.args());
        write_line(&line);
        if let Some(sink) = &self.syslog {
            if let Ok(mut writer) = sink.lock() {
                let message = line.get(20..).unwrap_or(&line).trim_end();
                let _ = match record.level() {
                    Level::Error => writer.err(message),
                    Level::Warn => writer.warning(message),
                    Level::Info => writer.info(message),
                    Level::Debug | Level::Trace => writer.debug(message),
                };
            }
        }
    }

    fn flush(&self) {}
}

fn format_line(level: Level, message: fmt::Arguments<'_>) -> String {
    let mut line = String::with_capacity(128);
    let name = match level {
        Level::Warn => "WARNING",
        other => other.as_str(),
    };
    with_timestamp(SystemTime::now(), |stamp| line.push_str(stamp));
    let _ = write!(line, " {name:<8} {message}");
    if line.len() >= MAX_LINE {
        let mut end = MAX_LINE - 1;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
    }
    line.push('\n');
    line
}

fn write_line(line: &str) {
    let bytes = line.as_bytes();
    let mut written = 0;
    // Straight to fd 1, not through std's buffered stdout: one `write` per line keeps lines of
    // different processes from interleaving (below PIPE_BUF a pipe write is atomic).
    while written < bytes.len() {
        match nix::unistd::write(std::io::stdout(), &bytes[written..]) {
            Ok(n) if n > 0 => written += n,
            Err(nix::errno::Errno::EINTR) => continue,
            // stdout is gone; there is nowhere left to report that.
            _ => return,
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, as every log line starts.
pub fn timestamp(now: SystemTime) -> String {
    with_timestamp(now, str::to_owned)
}

/// Calls `f` with the timestamp of `now`, without allocating it anew within the same second.
fn with_timestamp<R>(now: SystemTime, f: impl FnOnce(&str) -> R) -> R {
    // A clock before 1970 reads as 1970.
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // Formatting the date through `fmt` cost about 3,000 instructions a line, a tenth of what a
    // session spends beyond its bets; lines come in bursts, so each thread keeps its last second.
    LAST_STAMP.with(|last| {
        let (at, text) = &mut *last.borrow_mut();
        if *at != Some(secs) {
            *text = calendar_text(secs);
            *at = Some(secs);
        }
        f(text)
    })
}

thread_local! {
    /// The second of this thread's last timestamp, and its text.
    static LAST_STAMP: std::cell::RefCell<(Option<u64>, String)> =
        const { std::cell::RefCell::new((None, String::new())) };
}

fn calendar_text(secs: u64) -> String {
    // The `time` crate is in the build already (syslog uses it).
    let at = i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Reports an unusable configuration in one course-format line, before any logger is configured.
pub fn config_error(err: &dyn fmt::Display) {
    init(LevelFilter::Info, false);
    log::error!(
        "action: config | result: fail | error: {}",
        field(&err.to_string())
    );
}

/// Logs at DEBUG, in a line of its own, which configuration keys the environment set: they win
/// over the config file, so an edit to the file of one of these keys has no effect.
pub fn env_overrides(keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    log::debug!(
        "action: config_env | result: success | keys: {}",
        field(&keys.join(","))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs| timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01 00:00:00");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(at(1_724_278_275), "2024-08-21 22:11:15");
    }

    #[test]
    fn lines_follow_the_course_format_and_stay_below_pipe_buf() {
        let line = format_line(Level::Info, format_args!("action: x | result: success"));
        assert_eq!(&line[19..], " INFO     action: x | result: success\n");
        let long = "é".repeat(5000);
        let line = format_line(Level::Warn, format_args!("{long}"));
        assert!(line.len() <= MAX_LINE && line.ends_with('\n'));
        assert!(line.contains(" WARNING  "));
    }

    #[test]
    fn fields_lose_pipes_and_line_breaks() {
        assert_eq!(field("a|b\nc"), "a/b c");
        assert!(matches!(field("plain"), Cow::Borrowed(_)));
        assert_eq!(parse_level("warning"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("loud"), None);
    }
}
