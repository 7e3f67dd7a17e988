//! A root directory seen as `/`: every in-root path is resolved with chroot semantics (an absolute
//! symlink restarts at the root, `..` stops at it, at most [`MAX_SYMLINK_HOPS`] links) and nothing
//! outside the root is ever opened.
//!
//! Opening uses `openat2(RESOLVE_IN_ROOT)` where the kernel has it and a manual component walk
//! elsewhere; both give the same answers. An [`Overlay`] (tmpfs mount points and single files
//! bound over the root) gives the view a container will have, for verifying a plan. Only regular files are ever opened for reading: FIFOs,
//! sockets, devices and directories are reported by kind and never opened, so nothing blocks.
//! This module knows nothing about ELF or the loader.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;

use crate::elf::io_reason;
use crate::memo::Memo;

/// The loader's and the kernel's limit on symbolic links followed in one lookup.
pub const MAX_SYMLINK_HOPS: usize = 40;

/// Why an in-root path could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Nothing there (ENOENT, ENOTDIR, or a dangling symlink).
    NotFound,
    /// Something other than a regular file: its kind, e.g. "FIFO".
    NotRegular(&'static str),
    /// Too many levels of symbolic links.
    Loop,
    /// EACCES: the loader passes over such a file and keeps searching.
    PermissionDenied,
    /// Any other error, as one line.
    Io(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NotFound => f.write_str("No such file or directory"),
            OpenError::NotRegular(kind) => write!(f, "not a regular file (a {kind})"),
            OpenError::Loop => f.write_str("Too many levels of symbolic links"),
            OpenError::PermissionDenied => f.write_str("Permission denied"),
            OpenError::Io(s) => f.write_str(s),
        }
    }
}

fn from_io(e: &std::io::Error) -> OpenError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => OpenError::NotFound,
        ErrorKind::PermissionDenied => OpenError::PermissionDenied,
        _ if e.raw_os_error() == Some(nix::libc::ELOOP) => OpenError::Loop,
        _ => OpenError::Io(io_reason(e)),
    }
}

fn from_errno(e: nix::errno::Errno) -> OpenError {
    from_io(&std::io::Error::from_raw_os_error(e as i32))
}

/// How files are opened inside the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `openat2(RESOLVE_IN_ROOT)`: the kernel enforces the root.
    Openat2,
    /// A component-by-component walk with `lstat` and `readlink`.
    Walk,
}

/// A regular file opened inside the root.
#[derive(Debug)]
pub struct OpenedFile {
    pub file: File,
    pub meta: Metadata,
}

/// A directory tree used as `/`.
#[derive(Debug)]
pub struct Sysroot {
    root: PathBuf,
    root_fd: Option<OwnedFd>,
    mode: OpenMode,
    /// Canonical in-root paths of directories already walked.
    dirs: Memo<String, Result<String, OpenError>>,
    /// Canonical in-root paths of any path already walked.
    paths: Memo<String, Result<String, OpenError>>,
    /// Sorted names of directories already listed, by canonical path.
    listings: Memo<String, Arc<[String]>>,
    overlay: Option<Overlay>,
}

/// What a container mounts over its root: tmpfs mount points (which hide what the root has
/// there and hold no symlinks) and regular files bound at in-root paths.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    tmpfs: Vec<String>,
    /// in-root path → the file's path on this machine.
    files: BTreeMap<String, PathBuf>,
    /// Directories that exist inside the tmpfs mounts because files are bound below them.
    dirs: BTreeSet<String>,
}

impl Overlay {
    /// A tmpfs mounted at an in-root directory.
    pub fn tmpfs(&mut self, at: &str) {
        let at = normalize(at).into_owned();
        self.dirs.insert(at.clone());
        self.tmpfs.push(at);
    }

    /// A regular file on this machine bound at an in-root path.
    pub fn bind_file(&mut self, at: &str, source: PathBuf) {
        let at = normalize(at).into_owned();
        let mut dir = split_path(&at).0.to_string();
        while self.in_tmpfs(&dir) && self.dirs.insert(dir.clone()) {
            dir = split_path(&dir).0.to_string();
        }
        self.files.insert(at, source);
    }

    fn in_tmpfs(&self, path: &str) -> bool {
        self.tmpfs
            .iter()
            .any(|t| path == t || path.strip_prefix(t.as_str()).is_some_and(|r| r.starts_with('/')))
    }
}

/// A lexically normalised absolute path: no `.`, `..` or repeated slashes (inside a tmpfs mount
/// there are no symlinks, so this is the path the kernel would resolve).
fn normalize(path: &str) -> Cow<'_, str> {
    let clean = path.starts_with('/')
        && (path.len() == 1 || path[1..].split('/').all(|c| !matches!(c, "" | "." | "..")));
    if clean {
        return Cow::Borrowed(path);
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Cow::Owned(format!("/{}", parts.join("/")))
}

/// A directory entry's name as a string (lossily, where it is not UTF-8), without a copy.
fn lossy_name(name: std::ffi::OsString) -> String {
    name.into_string().unwrap_or_else(|name| name.to_string_lossy().into_owned())
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// Splits an in-root path into its parent directory and last component.
pub fn split_path(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    }
}

/// Joins an in-root directory and a name.
pub fn join(dir: &str, name: &str) -> String {
    // Built in place, at its final size: paths are joined on every probe, and `format!` would
    // grow the string piece by piece.
    let mut path = String::with_capacity(dir.len() + 1 + name.len());
    path.push_str(dir);
    if !dir.ends_with('/') {
        path.push('/');
    }
    path.push_str(name);
    path
}

impl Sysroot {
    /// Opens a root directory, using `openat2` when the kernel supports it.
    pub fn open(root: &Path) -> Result<Sysroot, String> {
        let mut s = Self::open_with(root, OpenMode::Openat2)?;
        if s.root_fd.is_none() {
            s.mode = OpenMode::Walk;
        }
        Ok(s)
    }

    /// Opens a root directory with a chosen open mode (`Openat2` falls back to `Walk` when the
    /// kernel lacks it).
    pub fn open_with(root: &Path, mode: OpenMode) -> Result<Sysroot, String> {
        let meta = std::fs::metadata(root).map_err(|e| format!("{}: {}", root.display(), io_reason(&e)))?;
        if !meta.is_dir() {
            return Err(format!("{}: not a directory", root.display()));
        }
        let root =
            std::fs::canonicalize(root).map_err(|e| format!("{}: {}", root.display(), io_reason(&e)))?;
        let root_fd = if mode == OpenMode::Openat2 {
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .ok()
                .filter(|fd| {
                    // Probe: the kernel may be older than 5.6.
                    openat2(
                        fd,
                        ".",
                        OpenHow::new()
                            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
                            .resolve(ResolveFlag::RESOLVE_IN_ROOT),
                    )
                    .is_ok()
                })
        } else {
            None
        };
        let mode = if root_fd.is_some() { OpenMode::Openat2 } else { OpenMode::Walk };
        Ok(Sysroot {
            root,
            root_fd,
            mode,
            dirs: Memo::default(),
            paths: Memo::default(),
            listings: Memo::default(),
            overlay: None,
        })
    }

    /// The root as a container sees it with `overlay` mounted (files are then opened through the
    /// walk, which knows the overlay).
    pub fn with_overlay(mut self, overlay: Overlay) -> Sysroot {
        self.overlay = Some(overlay);
        self.mode = OpenMode::Walk;
        self.dirs.clear();
        self.paths.clear();
        self.listings.clear();
        self
    }

    /// The overlay's answer for a path inside one of its tmpfs mounts; `None` outside them.
    fn in_overlay(&self, path: &str) -> Option<(String, Option<&PathBuf>)> {
        let ov = self.overlay.as_ref()?;
        let n = normalize(path);
        if !ov.in_tmpfs(&n) {
            return None;
        }
        let file = ov.files.get(n.as_ref());
        Some((n.into_owned(), file))
    }

    /// The root directory on this machine.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How this sysroot opens files.
    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    /// The path on this machine of a canonical in-root path.
    pub fn host_path(&self, canonical: &str) -> PathBuf {
        let rel = canonical.trim_start_matches('/');
        let mut path = PathBuf::with_capacity(self.root.as_os_str().len() + 1 + rel.len());
        path.push(&self.root);
        if !rel.is_empty() {
            path.push(rel);
        }
        path
    }

    /// Resolves every symlink of an in-root path with chroot semantics and returns the canonical
    /// in-root path. The last component must exist.
    pub fn canonicalize(&self, path: &str) -> Result<String, OpenError> {
        if let Some(hit) = self.paths.get(path) {
            return hit;
        }
        let result = self.canonicalize_uncached(path);
        self.paths.insert(path.to_string(), result)
    }

    fn canonicalize_uncached(&self, path: &str) -> Result<String, OpenError> {
        if let Some((n, file)) = self.in_overlay(path) {
            let is_dir = self.overlay.as_ref().is_some_and(|ov| ov.dirs.contains(&n));
            return if file.is_some() || is_dir { Ok(n) } else { Err(OpenError::NotFound) };
        }
        let (dir, name) = split_path(path);
        let dir = self.canonical_dir(dir)?;
        if matches!(name, "" | ".") {
            return Ok(dir);
        }
        if name == ".." {
            return Ok(split_path(&dir).0.to_string());
        }
        let key = join(&dir, name);
        if let Some(hit) = self.paths.get(&key) {
            return hit;
        }
        let result = self.walk_from(&dir, name);
        self.paths.insert(key, result)
    }

    fn canonical_dir(&self, dir: &str) -> Result<String, OpenError> {
        if let Some(hit) = self.dirs.get(dir) {
            return hit;
        }
        if let Some((n, _)) = self.in_overlay(dir) {
            let is_dir = self.overlay.as_ref().is_some_and(|ov| ov.dirs.contains(&n));
            return self.dirs.insert(dir.to_string(), if is_dir { Ok(n) } else { Err(OpenError::NotFound) });
        }
        // The parent through this cache, so each directory's last component is looked at once.
        let (parent, name) = split_path(dir);
        let walked = if name.is_empty() || parent == dir {
            self.walk(dir)
        } else {
            self.canonical_dir(parent).and_then(|p| self.walk_from(&p, name))
        };
        let result = walked.and_then(|c| {
            let meta = std::fs::metadata(self.host_path(&c)).map_err(|e| from_io(&e))?;
            if meta.is_dir() { Ok(c) } else { Err(OpenError::NotFound) }
        });
        self.dirs.insert(dir.to_string(), result)
    }

    /// The manual walk: `lstat` each component below the resolved prefix.
    fn walk(&self, path: &str) -> Result<String, OpenError> {
        self.walk_from("/", path)
    }

    /// The walk of `rest` starting in `base`, a canonical in-root directory.
    fn walk_from(&self, base: &str, rest: &str) -> Result<String, OpenError> {
        // `host` is the host path of the resolved prefix: the root, then `/component`s; the
        // in-root path is what follows the root.
        let root = self.root.as_os_str().as_encoded_bytes();
        let root = root.strip_suffix(b"/").unwrap_or(root);
        let mut host: Vec<u8> = Vec::with_capacity(root.len() + base.len() + rest.len() + 16);
        host.extend_from_slice(root);
        let floor = host.len();
        for c in base.split('/').filter(|c| !c.is_empty()) {
            host.push(b'/');
            host.extend_from_slice(c.as_bytes());
        }
        let mut pending: Vec<String> = rest.split('/').rev().map(str::to_string).collect();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    let parent = host[floor..].iter().rposition(|&b| b == b'/').map_or(floor, |i| floor + i);
                    host.truncate(parent);
                    continue;
                }
                _ => {}
            }
            let prefix = host.len();
            host.push(b'/');
            host.extend_from_slice(c.as_bytes());
            let path = Path::new(std::ffi::OsStr::from_bytes(&host));
            // readlink first: one call tells a link (and where it goes) from anything else, which
            // is all the last component needs; one below which the walk goes on must also be a
            // directory.
            match std::fs::read_link(path) {
                Ok(target) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(OpenError::Loop);
                    }
                    let target = target.to_string_lossy();
                    host.truncate(if target.starts_with('/') { floor } else { prefix });
                    pending.extend(target.split('/').rev().map(str::to_string));
                }
                Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                    let below = pending.iter().any(|p| !p.is_empty() && p != ".");
                    if below && !std::fs::symlink_metadata(path).map_err(|e| from_io(&e))?.is_dir() {
                        return Err(OpenError::NotFound);
                    }
                }
                Err(e) => return Err(from_io(&e)),
            }
        }
        host.drain(..floor);
        if host.is_empty() {
            return Ok("/".to_string());
        }
        // The components came from UTF-8 strings; only a lossy link target can make this fail.
        Ok(String::from_utf8(host).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// Opens a regular file for reading. Anything else is an error that names its kind; nothing
    /// is opened that could block or have side effects.
    pub fn open_file(&self, path: &str) -> Result<OpenedFile, OpenError> {
        match (&self.root_fd, self.mode) {
            (Some(fd), OpenMode::Openat2) => {
                let rel = path.trim_start_matches('/');
                let rel = if rel.is_empty() { "." } else { rel };
                let how = |flags| {
                    OpenHow::new()
                        .flags(flags)
                        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
                };
                // O_NONBLOCK: a FIFO opens at once instead of waiting for a writer; O_NOCTTY: a
                // terminal does not become ours. Anything but a regular file is closed unread.
                let fd = openat2(
                    fd,
                    rel,
                    how(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY),
                )
                .map_err(from_errno)?;
                let file = File::from(fd);
                let meta = file.metadata().map_err(|e| from_io(&e))?;
                if !meta.is_file() {
                    return Err(OpenError::NotRegular(kind_of(meta.file_type())));
                }
                Ok(OpenedFile { file, meta })
            }
            _ => {
                let canonical = self.canonicalize(path)?;
                let bound = self.overlay.as_ref().and_then(|ov| ov.files.get(&canonical));
                if self.in_overlay(&canonical).is_some() && bound.is_none() {
                    return Err(OpenError::NotRegular("directory"));
                }
                let host = bound.cloned().unwrap_or_else(|| self.host_path(&canonical));
                let meta = std::fs::symlink_metadata(&host).map_err(|e| from_io(&e))?;
                if !meta.is_file() {
                    return Err(OpenError::NotRegular(kind_of(meta.file_type())));
                }
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW | nix::libc::O_NOCTTY)
                    .open(&host)
                    .map_err(|e| from_io(&e))?;
                let meta = file.metadata().map_err(|e| from_io(&e))?;
                Ok(OpenedFile { file, meta })
            }
        }
    }

    /// Reads a whole regular file of at most `limit` bytes.
    pub fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, OpenError> {
        let opened = self.open_file(path)?;
        if opened.meta.len() > limit {
            return Err(OpenError::Io(format!("larger than {limit} bytes")));
        }
        let mut buf = Vec::with_capacity(opened.meta.len() as usize);
        opened.file.take(limit).read_to_end(&mut buf).map_err(|e| from_io(&e))?;
        Ok(buf)
    }

    /// Whether an in-root path names a directory (after resolving symlinks).
    pub fn is_dir(&self, path: &str) -> bool {
        self.canonical_dir(path).is_ok()
    }

    /// The names in an in-root directory, sorted; empty when it cannot be read. Each directory
    /// is read once (library directories hold a thousand names and several scans look at them).
    pub fn list_dir(&self, path: &str) -> Arc<[String]> {
        let Ok(dir) = self.canonical_dir(path) else {
            return Arc::from([]);
        };
        if let Some(names) = self.listings.get(&dir) {
            return names;
        }
        let names = self.read_dir_names(&dir);
        self.listings.insert(dir, names.into())
    }

    fn read_dir_names(&self, dir: &str) -> Vec<String> {
        if let (Some(ov), Some(_)) = (&self.overlay, self.in_overlay(dir)) {
            let prefix = if dir == "/" { dir.to_string() } else { format!("{dir}/") };
            let children: BTreeSet<String> = ov
                .files
                .keys()
                .chain(ov.dirs.iter())
                .filter_map(|p| p.strip_prefix(&prefix))
                .filter(|rest| !rest.is_empty() && !rest.contains('/'))
                .map(str::to_string)
                .collect();
            return children.into_iter().collect();
        }
        let Ok(entries) = std::fs::read_dir(self.host_path(dir)) else {
            return Vec::new();
        };
        let mut names: Vec<String> =
            entries.filter_map(|e| e.ok()).map(|e| lossy_name(e.file_name())).collect();
        names.sort();
        names
    }

    /// The regular files in an in-root directory, following symlinks inside the root: (name,
    /// canonical in-root path), sorted by name. Uses the directory entries' own types, so a tree
    /// of plain files costs one directory read.
    pub fn regular_files(&self, dir: &str) -> Vec<(String, String)> {
        let Ok(canonical) = self.canonical_dir(dir) else { return Vec::new() };
        if self.in_overlay(&canonical).is_some() {
            return Vec::new();
        }
        let Ok(entries) = std::fs::read_dir(self.host_path(&canonical)) else { return Vec::new() };
        let mut out = Vec::new();
        for e in entries.filter_map(|e| e.ok()) {
            let name = lossy_name(e.file_name());
            match e.file_type() {
                Ok(t) if t.is_file() => out.push((name.clone(), join(&canonical, &name))),
                Ok(t) if t.is_symlink() => {
                    let Ok(real) = self.canonicalize(&join(&canonical, &name)) else { continue };
                    if std::fs::symlink_metadata(self.host_path(&real)).is_ok_and(|m| m.is_file()) {
                        out.push((name, real));
                    }
                }
                _ => {}
            }
        }
        out.sort();
        out
    }

    /// Expands a shell glob (`*`, `?`, `[...]` in any component) inside the root, sorted like
    /// `glob(3)`.
    pub fn glob(&self, pattern: &str) -> Vec<String> {
        let mut found = vec![String::from("/")];
        for component in pattern.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for base in &found {
                if has_glob_chars(component) {
                    for name in self.list_dir(base).iter() {
                        if (!name.starts_with('.') || component.starts_with('.'))
                            && fnmatch(component.as_bytes(), name.as_bytes())
                        {
                            next.push(join(base, name));
                        }
                    }
                } else {
                    next.push(join(base, component));
                }
            }
            found = next;
        }
        found.retain(|p| self.canonicalize(p).is_ok());
        found.sort();
        found
    }
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Shell-style matching of one path component, in O(pattern × name) even for hostile patterns:
/// only the last `*` is ever backtracked to.
fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
            continue;
        }
        if p < pattern.len()
            && let Some(len) = match_one(&pattern[p..], name[n])
        {
            p += len;
            n += 1;
            continue;
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether the pattern element at the start of `pattern` (a byte, `?` or a `[...]` class) matches
/// `c`; its length in the pattern when it does.
fn match_one(pattern: &[u8], c: u8) -> Option<usize> {
    match pattern[0] {
        b'?' => Some(1),
        b'[' => {
            let rest = &pattern[1..];
            let (negate, skip) = match rest.first() {
                Some(b'!' | b'^') => (true, 1),
                _ => (false, 0),
            };
            let body = &rest[skip..];
            // The first ']' after at least one member closes the class; without one, '[' is literal.
            let Some(close) = body.iter().skip(1).position(|&b| b == b']').map(|p| p + 1) else {
                return (c == b'[').then_some(1);
            };
            let class = &body[..close];
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            (hit != negate).then_some(1 + skip + close + 1)
        }
        b => (b == c).then_some(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempdir::TempDir, PathBuf) {
        let t = tempdir::TempDir::new();
        let r = t.path().to_path_buf();
        std::fs::create_dir_all(r.join("usr/lib/x")).unwrap();
        std::fs::write(r.join("usr/lib/x/libreal.so.1"), b"data").unwrap();
        symlink("/usr/lib", r.join("lib")).unwrap();
        symlink("libreal.so.1", r.join("usr/lib/x/libalias.so.1")).unwrap();
        symlink("../../../../../../etc/hostname", r.join("usr/lib/x/escape")).unwrap();
        symlink("/../../etc/hostname", r.join("usr/lib/x/escape2")).unwrap();
        symlink("loop2", r.join("usr/lib/x/loop1")).unwrap();
        symlink("loop1", r.join("usr/lib/x/loop2")).unwrap();
        nix::unistd::mkfifo(&r.join("usr/lib/x/fifo.so"), Mode::from_bits_truncate(0o644)).unwrap();
        std::fs::create_dir(r.join("usr/lib/x/dir.so.1")).unwrap();
        (t, r)
    }

    /// A temporary directory removed on drop, without a crate for it.
    mod tempdir {
        pub struct TempDir(std::path::PathBuf);
        impl TempDir {
            pub fn new() -> TempDir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let p = std::env::temp_dir().join(format!(
                    "graft-sysroot-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                TempDir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn both(root: &Path) -> Vec<Sysroot> {
        vec![
            Sysroot::open_with(root, OpenMode::Openat2).unwrap(),
            Sysroot::open_with(root, OpenMode::Walk).unwrap(),
        ]
    }

    #[test]
    fn chroot_semantics_in_both_modes() {
        let (_t, r) = tree();
        for s in both(&r) {
            assert_eq!(s.canonicalize("/lib/x/libalias.so.1").unwrap(), "/usr/lib/x/libreal.so.1");
            assert_eq!(s.canonicalize("/../../lib/x/../x/libreal.so.1").unwrap(), "/usr/lib/x/libreal.so.1");
            assert!(s.open_file("/lib/x/libalias.so.1").is_ok(), "{:?}", s.mode());
            assert_eq!(s.open_file("/lib/x/escape").unwrap_err(), OpenError::NotFound, "{:?}", s.mode());
            assert_eq!(s.open_file("/lib/x/escape2").unwrap_err(), OpenError::NotFound);
            assert_eq!(s.open_file("/lib/x/loop1").unwrap_err(), OpenError::Loop);
            assert_eq!(s.open_file("/lib/x/fifo.so").unwrap_err(), OpenError::NotRegular("FIFO"));
            assert_eq!(s.open_file("/lib/x/dir.so.1").unwrap_err(), OpenError::NotRegular("directory"));
            assert_eq!(s.open_file("/lib/x/libreal.so.1/x").unwrap_err(), OpenError::NotFound);
        }
    }

    #[test]
    fn overlay_is_the_container_view() {
        let (_t, r) = tree();
        let outside = r.join("usr/lib/x/libreal.so.1");
        let mut ov = Overlay::default();
        ov.tmpfs("/overrides");
        ov.bind_file("/overrides/lib/t/libz.so.1", outside.clone());
        ov.bind_file("/usr/lib/x/libalias.so.1", outside);
        let s = Sysroot::open(&r).unwrap().with_overlay(ov);
        assert!(s.open_file("/overrides/lib/t/libz.so.1").is_ok());
        assert!(s.open_file("/overrides/lib/t/../t/libz.so.1").is_ok());
        assert_eq!(s.open_file("/overrides/lib/t/libq.so.1").unwrap_err(), OpenError::NotFound);
        assert_eq!(s.open_file("/overrides/lib").unwrap_err(), OpenError::NotRegular("directory"));
        assert!(s.is_dir("/overrides/lib/t") && !s.is_dir("/overrides/nope"));
        assert_eq!(*s.list_dir("/overrides/lib"), ["t"]);
        assert_eq!(*s.list_dir("/overrides/lib/t"), ["libz.so.1"]);
        // A bind over a file of the root, reached through a symlink of the root.
        assert!(s.open_file("/lib/x/libalias.so.1").is_ok());
        assert_eq!(s.canonicalize("/lib/x/libalias.so.1").unwrap(), "/usr/lib/x/libreal.so.1");
    }

    #[test]
    fn normalize_borrows_clean_paths() {
        assert!(matches!(normalize("/usr/lib/x"), Cow::Borrowed("/usr/lib/x")));
        assert!(matches!(normalize("/"), Cow::Borrowed("/")));
        for (messy, clean) in [
            ("/usr//lib/", "/usr/lib"),
            ("/usr/./lib/../share", "/usr/share"),
            ("/..", "/"),
            ("usr/lib", "/usr/lib"),
            ("", "/"),
            ("/usr/lib/.", "/usr/lib"),
        ] {
            assert_eq!(normalize(messy), clean, "{messy}");
        }
    }

    #[test]
    fn glob_matches_like_glob3() {
        let (_t, r) = tree();
        let s = Sysroot::open(&r).unwrap();
        assert_eq!(
            s.glob("/usr/lib/x/lib*.so.[0-9]"),
            vec!["/usr/lib/x/libalias.so.1", "/usr/lib/x/libreal.so.1"]
        );
        assert_eq!(s.glob("/lib/*/libreal.so.?"), vec!["/lib/x/libreal.so.1"]);
        assert!(s.glob("/nothing/*").is_empty());
        assert!(fnmatch(b"*.conf", b"a.conf") && !fnmatch(b"*.conf", b"a.con"));
        assert!(fnmatch(b"[!a]x", b"bx") && !fnmatch(b"[!a]x", b"ax"));
        assert!(fnmatch(b"*", b"") && fnmatch(b"a*b*c", b"aXbYc") && !fnmatch(b"a*b*c", b"aXbY"));
        assert!(fnmatch(b"[a-c]?.so", b"b1.so") && fnmatch(b"[x", b"[x"));
        let hostile = [b'*', b'a'].repeat(30);
        assert!(!fnmatch(&hostile, &[b'a'; 200].iter().chain(b"b").copied().collect::<Vec<_>>()));
    }
}
