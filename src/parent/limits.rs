//! The open-file limit: each waiting session's reply channel is a descriptor in the coordinator,
//! so thousands of agencies at once need more than the usual soft limit of 1,024.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The soft `RLIMIT_NOFILE` before and after [`raise_fd_limit`], and the hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit the server was started with.
    pub was: u64,
    /// The soft limit now (children inherit it).
    pub now: u64,
    /// The hard limit (the most an unprivileged process may raise its soft limit to).
    pub hard: u64,
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit, which every child inherits; the
/// hard limit itself is the administrator's and stays.
///
/// # Errors
/// `getrlimit` or `setrlimit` failed (the limit is then what it was).
pub fn raise_fd_limit() -> Result<FdLimit, nix::Error> {
    let (was, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if was < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(FdLimit {
        was,
        now: was.max(hard),
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        if let Ok(limit) = raise_fd_limit() {
            assert_eq!(limit.now, limit.hard);
            assert!(
                matches!(getrlimit(Resource::RLIMIT_NOFILE), Ok((soft, _)) if soft == limit.hard)
            );
        }
    }
}
