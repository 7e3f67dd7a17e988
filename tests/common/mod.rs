//! Shared test support: a synthetic ELF writer, an ld.so.cache writer, the declarative fixture
//! model (elf-fixtures/*.json), a sysroot generator and a runner for the graft binary with a
//! deadline.
#![allow(dead_code)]

pub mod cache;
pub mod elf;
pub mod fixture;
pub mod testbed;
pub mod trees;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn graft_bin() -> &'static str {
    env!("CARGO_BIN_EXE_graft")
}

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory under Cargo's per-target temp dir. Removed on drop unless
/// GRAFT_KEEP_FIXTURES is set.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let safe: String = label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "graft-{}-{}-{}",
            safe,
            std::process::id(),
            n
        ));
        if p.exists() {
            std::fs::remove_dir_all(&p).unwrap();
        }
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("GRAFT_KEEP_FIXTURES").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub struct RunOutput {
    /// None when killed by a signal (including our own kill on timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl RunOutput {
    pub fn describe(&self) -> String {
        format!(
            "exit={:?} timed_out={} elapsed={:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.timed_out,
            self.elapsed,
            truncate(&self.stdout, 4000),
            truncate(&self.stderr, 2000)
        )
    }
    pub fn panicked(&self) -> bool {
        self.stderr.contains("panicked") || self.code == Some(101)
    }
}

/// Asserts that a graft run neither hung, panicked nor was killed by a signal.
pub fn no_panic_no_hang(what: &str, out: &RunOutput) {
    assert!(!out.timed_out, "{what}: graft hung\n{}", out.describe());
    assert!(!out.panicked(), "{what}: graft panicked\n{}", out.describe());
    assert!(out.code.is_some(), "{what}: killed by a signal\n{}", out.describe());
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…[{} more bytes]", &s[..end], s.len() - end)
    }
}

/// Default per-invocation deadline; GRAFT_TEST_TIMEOUT (seconds) overrides.
pub fn default_timeout() -> Duration {
    let s = std::env::var("GRAFT_TEST_TIMEOUT").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    Duration::from_secs(s)
}

/// Run graft with `args`, no stdin, killing it when `timeout` expires.
pub fn run_graft<S: AsRef<std::ffi::OsStr>>(args: &[S], timeout: Duration) -> RunOutput {
    let start = Instant::now();
    let child = Command::new(graft_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("LD_LIBRARY_PATH")
        .env("RUST_BACKTRACE", "0")
        .spawn()
        .expect("spawn graft");
    let mut watched = Watched::new(child);
    let (status, timed_out) = watched.wait(start, timeout, Duration::from_millis(5));
    let (stdout, stderr) = watched.output();
    RunOutput {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        timed_out,
        elapsed: start.elapsed(),
    }
}

/// A spawned child whose piped stdout and stderr are read to the end on two threads, so that it
/// never blocks on a full pipe while it is waited for.
pub struct Watched {
    child: Child,
    out: JoinHandle<Vec<u8>>,
    err: JoinHandle<Vec<u8>>,
}

impl Watched {
    /// Takes the child's stdout and stderr (both must be piped) and starts reading them.
    pub fn new(mut child: Child) -> Watched {
        let mut out = child.stdout.take().expect("stdout piped");
        let mut err = child.stderr.take().expect("stderr piped");
        let out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        let err = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        });
        Watched { child, out, err }
    }

    /// Waits for the child, polling every `poll`, and kills it once more than `timeout` has passed
    /// since `start`. Returns its exit status and whether it was killed for the deadline.
    pub fn wait(&mut self, start: Instant, timeout: Duration, poll: Duration) -> (ExitStatus, bool) {
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, false);
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                return (self.child.wait().expect("wait after kill"), true);
            }
            std::thread::sleep(poll);
        }
    }

    /// Everything the child wrote to stdout and to stderr; call after [`Watched::wait`].
    pub fn output(self) -> (Vec<u8>, Vec<u8>) {
        (self.out.join().unwrap(), self.err.join().unwrap())
    }
}

pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self is owned by the process's effective uid.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Path of the host's ldconfig, if present.
pub fn host_ldconfig() -> Option<PathBuf> {
    ["/sbin/ldconfig", "/usr/sbin/ldconfig"].iter().map(PathBuf::from).find(|p| p.is_file())
}
