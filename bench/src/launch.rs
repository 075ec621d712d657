//! Starting thousands of clients without waiting for each one: `std::process::Command` (and
//! `posix_spawn`) return only once the child has called `exec`, and with thousands of processes
//! already running each new one waits its turn for a CPU before the bench may start the next. A
//! bare `fork` returns at once (measured under load the start still took 3.4 s for 1,000 clients:
//! the bench's own thread shares the CPUs with them). The child only redirects its output,
//! joins a new process group, changes directory and `exec`s, with everything prepared before the
//! fork (no allocation after it: the bench has other threads).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::libc;
use nix::unistd::{fork, ForkResult, Pid};

use crate::procs::{fail, RunError};

/// A C string from bytes, failing on an interior NUL.
fn c_string(bytes: &[u8]) -> Result<CString, RunError> {
    CString::new(bytes).map_err(fail("a NUL byte in an argument"))
}

/// Starts `program` in `dir` with exactly `env`, stdin from /dev/null and stdout and stderr to
/// `log`, as the leader of a new process group; returns its pid without waiting for its `exec`.
/// A failed `exec` shows as exit status 127.
pub(crate) fn launch(
    program: &Path,
    dir: &Path,
    env: &[(&str, String)],
    log: &Path,
) -> Result<Pid, RunError> {
    let prog = c_string(program.as_os_str().as_bytes())?;
    let cwd = c_string(dir.as_os_str().as_bytes())?;
    let vars = env
        .iter()
        .map(|(k, v)| c_string(format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let argv = [prog.as_ptr(), std::ptr::null()];
    let mut envp: Vec<*const libc::c_char> = vars.iter().map(|v| v.as_ptr()).collect();
    envp.push(std::ptr::null());
    let out = File::create(log).map_err(fail(format!("create {}", log.display())))?;
    let null = File::open("/dev/null").map_err(fail("open /dev/null"))?;
    let (out_fd, null_fd) = (out.as_raw_fd(), null.as_raw_fd());
    // SAFETY: the child calls only async-signal-safe functions (setpgid, dup2, chdir, execve,
    // _exit) on memory prepared before the fork, and never returns.
    match unsafe { fork() } {
        // SAFETY: as above; every pointer points into memory prepared before the fork.
        Ok(ForkResult::Child) => unsafe {
            libc::setpgid(0, 0);
            libc::dup2(null_fd, 0);
            libc::dup2(out_fd, 1);
            libc::dup2(out_fd, 2);
            if libc::chdir(cwd.as_ptr()) == 0 {
                libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
            }
            libc::_exit(127)
        },
        Ok(ForkResult::Parent { child }) => {
            // Set here too, so the group exists before the bench may signal it.
            let _ = nix::unistd::setpgid(child, child);
            Ok(child)
        }
        Err(err) => Err(RunError::Fail(format!(
            "fork for {}: {err}",
            program.display()
        ))),
    }
}

/// While alive, the calling thread runs under `SCHED_FIFO` with `SCHED_RESET_ON_FORK`: it starts
/// the clients without queueing for a CPU behind the thousands it already started, and each child
/// it forks starts as an ordinary `SCHED_OTHER` process. Dropping it returns the thread to
/// `SCHED_OTHER`. Without the privilege for it (`CAP_SYS_NICE`) nothing changes.
pub(crate) struct Urgent {
    /// Whether the switch to `SCHED_FIFO` was allowed.
    granted: bool,
}

impl Urgent {
    /// Raises the calling thread.
    pub(crate) fn raise() -> Urgent {
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: a system call on the calling thread (pid 0), with a valid parameter.
        let granted = unsafe {
            libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
        } == 0;
        Urgent { granted }
    }

    /// Whether the thread really runs under `SCHED_FIFO`.
    pub(crate) fn granted(&self) -> bool {
        self.granted
    }
}

impl Drop for Urgent {
    fn drop(&mut self) {
        if self.granted {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: as in `raise`.
            unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
        }
    }
}
