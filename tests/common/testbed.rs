//! The real test bed (`scripts/testbed.sh`): where it is, whether a sysroot is built, the
//! skip-or-fail rule of `GRAFT_REQUIRE_TESTBED=1`, and the enumeration of a sysroot's files with
//! chroot-semantics path resolution (shared by `tests/oracle.rs` and `tests/goblin_diff.rs`).

use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The multiarch tuples of the two ABIs, x86_64 first.
pub const ABIS: [&str; 2] = ["x86_64-linux-gnu", "i386-linux-gnu"];

// ---------------------------------------------------------------------------------------------
// Test bed discovery

/// `GRAFT_TESTBED`, or /var/cache/graft-testbed.
pub fn testbed_dir() -> PathBuf {
    std::env::var_os("GRAFT_TESTBED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/graft-testbed"))
}

/// Whether `GRAFT_REQUIRE_TESTBED=1`: a missing test bed fails the test instead of skipping it.
pub fn require_testbed() -> bool {
    std::env::var("GRAFT_REQUIRE_TESTBED").is_ok_and(|v| v == "1")
}

/// Whether the sysroot at `root` has been built completely by `scripts/testbed.sh`.
pub fn is_built(root: &Path) -> bool {
    root.join(".graft-testbed").is_file()
}

/// Fails the test with `failure` under `GRAFT_REQUIRE_TESTBED=1`, else prints `skip_line`.
pub fn skip_or_fail(failure: &str, skip_line: &str) {
    assert!(!require_testbed(), "{failure}");
    println!("{skip_line}");
}

/// The built sysroot `name` of the test bed, or `None` (after [`skip_or_fail`], messages prefixed
/// with `test`) when it is not built.
pub fn sysroot(test: &str, name: &str) -> Option<PathBuf> {
    let dir = testbed_dir().join(name);
    if !is_built(&dir) {
        skip_or_fail(
            &format!(
                "{test}: GRAFT_REQUIRE_TESTBED=1 but sysroot '{name}' is not built at {} \
                 (run scripts/testbed.sh {name})",
                dir.display()
            ),
            &format!("{test}: skipped, test bed not built (scripts/testbed.sh)"),
        );
        return None;
    }
    Some(dir)
}

/// Whether an executable named `name` is in one of the `PATH` directories.
pub fn tool_present(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
}

// ---------------------------------------------------------------------------------------------
// Chroot-semantics path resolution

/// Resolves the absolute in-root `path` inside `root` as if `chroot(root)` were in effect:
/// absolute symlink targets restart at `root`, `..` stops at the top. Returns the canonical
/// in-root path, or `None` when a component is missing or there are too many symlink hops.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<String> {
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: VecDeque<OsString> = split_components(path.as_bytes());
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        let mut host = root.to_path_buf();
        host.extend(&done);
        host.push(&c);
        let md = std::fs::symlink_metadata(&host).ok()?;
        if md.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&host).ok()?;
            let bytes = target.as_os_str().as_bytes();
            if bytes.starts_with(b"/") {
                done.clear();
            }
            for comp in split_components(bytes).into_iter().rev() {
                todo.push_front(comp);
            }
        } else {
            done.push(c);
        }
    }
    let mut out = String::new();
    for d in &done {
        out.push('/');
        out.push_str(&d.to_string_lossy());
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

fn split_components(bytes: &[u8]) -> VecDeque<OsString> {
    bytes
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Enumeration

/// Calls `f` with the in-root path and this machine's path of every regular file (with a UTF-8
/// name) under the in-root directories `/usr/lib/<tuple>/` (both ABIs, recursively) and
/// `/usr/bin/`, each directory resolved with chroot semantics first, de-duplicated by inode.
/// Directories are read in file-name order.
pub fn for_each_object_file(root: &Path, f: &mut dyn FnMut(&str, &Path)) {
    let mut seen = HashSet::new();
    let mut dirs: Vec<(String, bool)> = ABIS.iter().map(|t| (format!("/usr/lib/{t}"), true)).collect();
    dirs.push(("/usr/bin".to_string(), false));
    for (dir, recursive) in dirs {
        let Some(real) = resolve_in_root(root, &dir) else {
            continue;
        };
        walk(root, &real, recursive, &mut |inroot, md| {
            if !seen.insert((md.dev(), md.ino())) {
                return;
            }
            f(inroot, &root.join(inroot.trim_start_matches('/')));
        });
    }
}

/// Calls `f` for every regular file (with a UTF-8 name) in the in-root directory `dir`, and in its
/// subdirectories when `recursive`; symlinks are not followed.
pub fn walk(root: &Path, dir: &str, recursive: bool, f: &mut dyn FnMut(&str, &std::fs::Metadata)) {
    let host = root.join(dir.trim_start_matches('/'));
    let Ok(rd) = std::fs::read_dir(&host) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let inroot = format!("{}/{}", dir.trim_end_matches('/'), name.to_string_lossy());
        let Ok(md) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if md.is_dir() {
            if recursive {
                walk(root, &inroot, recursive, f);
            }
        } else if md.is_file() && name.to_str().is_some() {
            f(&inroot, &md);
        }
    }
}
