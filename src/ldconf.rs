//! `ld.so.conf` as ldconfig reads it: `#` comments, `include` lines with glob patterns relative to
//! the including file's directory, `hwcap` lines ignored, `=TYPE` suffixes stripped, trailing
//! slashes trimmed. The loader never reads this file; graft uses it only to emulate ldconfig when
//! a sysroot has no cache.

use std::collections::HashSet;

use crate::sysroot::{Sysroot, split_path};

/// The largest configuration file read.
const MAX_CONF_BYTES: u64 = 1 << 20;
/// Nesting limit for `include`, against include cycles.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The directories named by `path` and its includes, in order, duplicates removed.
pub fn directories(sysroot: &Sysroot, path: &str) -> Vec<String> {
    let mut dirs = Vec::new();
    let mut seen_files = HashSet::new();
    parse_file(sysroot, path, 0, &mut seen_files, &mut dirs);
    let mut seen = HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

fn parse_file(
    sysroot: &Sysroot,
    path: &str,
    depth: usize,
    seen: &mut HashSet<String>,
    dirs: &mut Vec<String>,
) {
    if depth > MAX_INCLUDE_DEPTH || !seen.insert(path.to_string()) {
        return;
    }
    let Ok(bytes) = sysroot.read_file(path, MAX_CONF_BYTES) else { return };
    let text = String::from_utf8_lossy(&bytes);
    let here = split_path(path).0;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        let first = words.next().unwrap_or("");
        if first == "include" {
            for pattern in words {
                let pattern =
                    if pattern.starts_with('/') { pattern.to_string() } else { format!("{here}/{pattern}") };
                for file in sysroot.glob(&pattern) {
                    parse_file(sysroot, &file, depth + 1, seen, dirs);
                }
            }
        } else if first.eq_ignore_ascii_case("hwcap") {
            continue;
        } else {
            let dir = match line.find('=') {
                Some(i) => &line[..i],
                None => line,
            };
            let dir = dir.trim_end().trim_end_matches('/');
            // ldconfig refuses relative directories; an all-slashes line is the root.
            if dir.is_empty() && line.starts_with('/') {
                dirs.push("/".to_string());
            } else if dir.starts_with('/') {
                dirs.push(dir.to_string());
            }
        }
    }
}
