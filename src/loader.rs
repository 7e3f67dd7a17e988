//! Emulating glibc's dynamic loader for one ABI inside one sysroot: which file each DT_NEEDED
//! becomes, exactly as `ld.so` would decide it (`_dl_map_object`, `_dl_map_object_deps`).
//!
//! - Breadth-first loading with one namespace: a name already loaded (as requested name, path or
//!   SONAME) satisfies later requests without a search; the interpreter is pre-loaded; two paths
//!   to one file (same device and inode) are one object.
//! - The search for a bare name: the DT_RPATH chain from the requester up through its loaders and
//!   the main program (only when the requester has no DT_RUNPATH), `--library-path`
//!   (LD_LIBRARY_PATH), the requester's DT_RUNPATH, ld.so.cache, the default directories
//!   (the last two skipped under DF_1_NODEFLIB); each directory with its hwcaps subdirectories
//!   first; dynamic string tokens expanded.
//! - Candidate validation as `open_verify`: a wrong class or machine is passed over silently; a
//!   short or non-ELF file, a wrong byte order, a directory or a FIFO is fatal, never replaced by a
//!   later candidate.
//!
//! Per-ABI facts of the sysroot (layout, `$LIB`, default directories, cache, glibc version) live in
//! [`AbiContext`], computed once. File probes and ELF facts are cached across resolutions, so one
//! [`Resolver`] can resolve many files quickly.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use crate::abi::{self, Abi};
use crate::elf::{ElfFacts, Ident};
use crate::ldcache::{CacheEntry, LdCache};
use crate::ldconf;
use crate::memo::{FastMap, Memo};
use crate::sysroot::{OpenError, Sysroot, join, split_path};

/// Which glibc-hwcaps subdirectories to search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Hwcaps {
    /// Those this CPU supports, as the loader running here would.
    #[default]
    Native,
    /// Those at or below a named level (e.g. `x86-64-v3`).
    Level(String),
    /// None: a baseline CPU.
    None,
}

/// How to emulate the loader.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// LD_LIBRARY_PATH, as in-root directories.
    pub library_path: Vec<String>,
    pub hwcaps: Hwcaps,
    /// `$PLATFORM`; the ABI's usual AT_PLATFORM when not given.
    pub platform: Option<String>,
}

/// The identity the loader de-duplicates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// A file's identity as a cache key: device, inode, size and modification time.
type FileKey = (FileId, u64, i64);

fn file_key(meta: &std::fs::Metadata) -> FileKey {
    (
        FileId { dev: meta.dev(), ino: meta.ino() },
        meta.size(),
        meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
    )
}

/// ELF facts by file identity. Cloning gives a handle on the same table, so resolvers over
/// different views of the same files (a plan's host and runtime, the container view that
/// verifies it) read each file's facts once.
#[derive(Debug, Clone, Default)]
pub struct FactsCache(Arc<Memo<FileKey, Arc<ElfFacts>>>);

/// What the loader would do with one candidate path.
#[derive(Debug, Clone)]
enum Candidate {
    /// ENOENT: try the next one.
    Missing,
    /// EACCES: try the next one, remember why.
    Denied,
    /// Another open error: the rest of this directory list is skipped (`open_path` returns).
    EndOfList(String),
    /// Wrong class or machine: passed over silently.
    Skip(String),
    /// The load fails here.
    Fatal(String),
    Accept(Arc<Object>),
}

/// A file the loader accepted.
#[derive(Debug)]
pub struct Object {
    pub id: FileId,
    pub facts: Arc<ElfFacts>,
}

/// Where a dependency was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Main,
    Interpreter,
    /// A DT_NEEDED with a slash: that path, no search.
    Path,
    Rpath,
    LibraryPath,
    Runpath,
    Cache,
    DefaultDirs,
}

/// One object of a load closure.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The name first requested (a DT_NEEDED string; the file for the main object; the SONAME
    /// for the interpreter).
    pub name: Arc<str>,
    /// The in-root path where the loader finds it, as found (symlinks not resolved).
    pub path: Option<Arc<str>>,
    pub object: Option<Arc<Object>>,
    /// The object whose DT_NEEDED first pulled this one in.
    pub loader: Option<usize>,
    pub source: Option<Source>,
    /// Why it is missing or unloadable.
    pub error: Option<String>,
    /// Whether ld.so would abort the whole load here (not just report "not found").
    pub fatal: bool,
}

/// The result of loading one file.
#[derive(Debug, Clone)]
pub struct Closure {
    pub abi: &'static Abi,
    /// Load order: the main object first, then the interpreter (if any), then breadth-first.
    pub objects: Vec<Loaded>,
    /// Edges: (requester, needed name, object index).
    pub edges: Vec<(usize, Arc<str>, usize)>,
    pub warnings: Vec<String>,
    /// Version needs that the loaded provider does not define (`elf/dl-version.c`).
    pub version_problems: Vec<VersionProblem>,
}

/// A version an object needs that the object loaded for that file does not define.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionProblem {
    /// The needing object (index into `Closure::objects`).
    pub object: usize,
    /// The providing object.
    pub provider: usize,
    /// The Verneed file name (a DT_NEEDED string).
    pub file: String,
    pub version: String,
    /// A weak need only warns.
    pub weak: bool,
}

impl Closure {
    /// Whether every dependency was found and loadable and every non-weak version need is met.
    pub fn complete(&self) -> bool {
        self.objects.iter().all(|o| o.error.is_none()) && self.version_problems.iter().all(|p| p.weak)
    }

    /// The loader's version check over the finished graph: each Verneed is matched against the
    /// object loaded under that name; a provider without version definitions is accepted.
    fn check_versions(&mut self, names: &FastMap<Arc<str>, usize>) {
        for (i, o) in self.objects.iter().enumerate() {
            let Some(obj) = &o.object else { continue };
            for need in &obj.facts.version_needs {
                let Some(&p) = names.get(need.file.as_str()) else { continue };
                let Some(provider) = &self.objects[p].object else { continue };
                if provider.facts.version_definitions.is_empty() {
                    continue;
                }
                for v in &need.versions {
                    if !provider.facts.defines_need(v) {
                        self.version_problems.push(VersionProblem {
                            object: i,
                            provider: p,
                            file: need.file.clone(),
                            version: v.name.clone(),
                            weak: v.weak,
                        });
                    }
                }
            }
        }
    }
}

/// Per-ABI facts of the sysroot.
#[derive(Debug)]
pub struct AbiContext {
    pub abi: &'static Abi,
    /// `$LIB`.
    pub lib: String,
    /// The loader's built-in system directories, without trailing slash.
    pub default_dirs: Vec<String>,
    /// The sysroot's cache, or ldconfig's index emulated from ld.so.conf when there is no
    /// usable one (then `cache_path` is `None`).
    pub cache: Option<Arc<LdCache>>,
    pub cache_path: Option<String>,
    /// `glibc-hwcaps/NAME` and legacy subdirectories, best first.
    pub subdirs: Vec<String>,
    /// The glibc-hwcaps names active for cache lookups.
    pub glibc_hwcaps: Vec<String>,
    pub glibc_version: Option<(u32, u32)>,
    pub platform: String,
    pub warnings: Vec<String>,
}

/// The loader emulation over one sysroot, for any ABI; caches are shared by every resolution.
pub struct Resolver<'s> {
    sysroot: &'s Sysroot,
    options: Options,
    /// Per ABI (indexed as [`abi::ABIS`]): in-root path → what its loader does with the file.
    probes: Vec<Memo<String, Candidate>>,
    facts: FactsCache,
    contexts: Memo<&'static str, Arc<AbiContext>>,
    /// Closures by the main file's identity, for files whose closure does not depend on their
    /// path (see [`Resolver::resolve`]).
    closures: Memo<FileKey, Arc<Closure>>,
    /// [`Resolver::facts`] by in-root path.
    path_facts: Memo<String, Result<(FileKey, Arc<ElfFacts>), String>>,
    /// [`Resolver::ld_cache`] by in-root path.
    ld_caches: Memo<String, CacheFile>,
}

/// What an ld.so.cache path holds.
#[derive(Debug, Clone)]
enum CacheFile {
    Missing,
    Unreadable(String),
    Invalid(String),
    Parsed(Arc<LdCache>),
}

/// Largest libc read when looking for its version banner.
const MAX_LIBC_BYTES: u64 = 64 << 20;

impl<'s> Resolver<'s> {
    pub fn new(sysroot: &'s Sysroot, options: Options) -> Resolver<'s> {
        Resolver::with_facts(sysroot, options, FactsCache::default())
    }

    /// A resolver that reads ELF facts through `facts`, a table it shares with other resolvers.
    pub fn with_facts(sysroot: &'s Sysroot, options: Options, facts: FactsCache) -> Resolver<'s> {
        Resolver {
            sysroot,
            options,
            probes: abi::ABIS.iter().map(|_| Memo::default()).collect(),
            facts,
            contexts: Memo::default(),
            closures: Memo::default(),
            path_facts: Memo::default(),
            ld_caches: Memo::default(),
        }
    }

    pub fn sysroot(&self) -> &Sysroot {
        self.sysroot
    }

    /// Reads the ELF facts of an in-root file, cached by identity.
    pub fn facts(&self, path: &str) -> Result<(FileId, Arc<ElfFacts>), String> {
        self.keyed_facts(path).map(|((id, _, _), facts)| (id, facts))
    }

    /// [`Resolver::facts`] with the file's whole identity; asking again for a path costs nothing
    /// (discovery looks at each module file, and the plan then loads it).
    fn keyed_facts(&self, path: &str) -> Result<(FileKey, Arc<ElfFacts>), String> {
        if let Some(known) = self.path_facts.get(path) {
            return known;
        }
        // A link's facts are its target's: asked for under another name (Mesa's drivers are a
        // dozen links to one file), the target is not opened again.
        let read = match self.sysroot.canonicalize(path) {
            Ok(real) if real != path => match self.path_facts.get(&real) {
                Some(known) => known,
                None => {
                    let read = self.keyed_facts_uncached(&real);
                    self.path_facts.insert(real, read)
                }
            },
            _ => self.keyed_facts_uncached(path),
        };
        self.path_facts.insert(path.to_string(), read)
    }

    fn keyed_facts_uncached(&self, path: &str) -> Result<(FileKey, Arc<ElfFacts>), String> {
        let opened = self.sysroot.open_file(path).map_err(|e| e.to_string())?;
        let key = file_key(&opened.meta);
        if let Some(f) = self.facts.0.get(&key) {
            return Ok((key, f));
        }
        let facts = Arc::new(ElfFacts::read_opened(&opened.file, &opened.meta).map_err(|e| e.0)?);
        Ok((key, self.facts.0.insert(key, facts)))
    }

    /// The object the loader of `abi` accepts at `path` (probes are cached, so asking again for a
    /// file a resolution already met costs nothing).
    pub fn load(&self, path: &str, abi: &'static Abi) -> Option<Arc<Object>> {
        match self.probe(path, abi) {
            Candidate::Accept(o) => Some(o),
            _ => None,
        }
    }

    /// `open_verify`: what the loader of `abi` does with the file at `path`.
    fn probe(&self, path: &str, abi: &'static Abi) -> Candidate {
        let probes = &self.probes[abi.index()];
        if let Some(c) = probes.get(path) {
            return c;
        }
        probes.insert(path.to_string(), self.probe_uncached(path, abi))
    }

    fn probe_uncached(&self, path: &str, abi: &'static Abi) -> Candidate {
        let opened = match self.sysroot.open_file(path) {
            Ok(o) => o,
            Err(OpenError::NotFound) => return Candidate::Missing,
            Err(OpenError::PermissionDenied) => return Candidate::Denied,
            Err(OpenError::NotRegular("directory")) => {
                return Candidate::Fatal(format!("{path}: cannot read file data: Is a directory"));
            }
            Err(OpenError::NotRegular("FIFO")) => {
                return Candidate::Fatal(format!("{path}: is a FIFO; ld.so would block opening it"));
            }
            Err(OpenError::NotRegular(kind @ ("character device" | "block device"))) => {
                return Candidate::Fatal(format!("{path}: file too short (a {kind})"));
            }
            Err(e) => return Candidate::EndOfList(format!("{path}: {e}")),
        };
        let ehdr_len = if abi.class64 { 64 } else { 52 };
        if opened.meta.len() < ehdr_len as u64 {
            return Candidate::Fatal(format!("{path}: file too short"));
        }
        // The header is read through the reader the facts will come from: one read for both.
        let mut reader = crate::elf::Reader::file(&opened.file, opened.meta.len());
        let header: [u8; 64] = match reader.bytes(0, ehdr_len as u64) {
            Ok(b) => {
                let mut h = [0; 64];
                h[..b.len()].copy_from_slice(b);
                h
            }
            Err(crate::elf::Miss::Io(e)) => {
                return Candidate::Fatal(format!("{path}: cannot read file data: {e}"));
            }
            Err(crate::elf::Miss::Outside) => return Candidate::Fatal(format!("{path}: file too short")),
        };
        let header = &header[..ehdr_len];
        let fatal = |why: &str| Candidate::Fatal(format!("{path}: {why}"));
        if header[..4] != [0x7f, b'E', b'L', b'F'] {
            return fatal("invalid ELF header");
        }
        let Some(id) = Ident::parse(header) else {
            // Bad class or data byte.
            return if header[4] != 1 && header[4] != 2 {
                Candidate::Skip(format!("{path}: wrong ELF class"))
            } else {
                fatal("ELF file data encoding invalid")
            };
        };
        if id.class64 != abi.class64 {
            return Candidate::Skip(format!(
                "{path}: wrong ELF class: ELFCLASS{}",
                if id.class64 { 64 } else { 32 }
            ));
        }
        if id.big_endian != abi.big_endian {
            return fatal(if abi.big_endian {
                "ELF file data encoding not big-endian"
            } else {
                "ELF file data encoding not little-endian"
            });
        }
        if id.version != 1 {
            return fatal("ELF file version ident does not match current one");
        }
        if id.osabi != 0 && id.osabi != 3 {
            return fatal("ELF file OS ABI invalid");
        }
        if id.abiversion > if id.osabi == 3 { 4 } else { 0 } {
            return fatal("ELF file ABI version invalid");
        }
        if !id.padding_zero {
            return fatal("nonzero padding in e_ident");
        }
        if id.e_version != 1 {
            return fatal("ELF file version does not match current one");
        }
        if !abi.accepts(id.class64, id.e_machine) {
            return Candidate::Skip(format!("{path}: wrong machine {}", id.e_machine));
        }
        if id.e_type != 2 && id.e_type != 3 {
            return fatal("only ET_DYN and ET_EXEC can be loaded");
        }
        if id.e_phentsize != if abi.class64 { 56 } else { 32 } {
            return fatal("ELF file's phentsize not the expected size");
        }
        let key = file_key(&opened.meta);
        let facts = match self.facts.0.get(&key) {
            Some(f) => f,
            None => match ElfFacts::parse_from(&mut reader) {
                Ok(f) => self.facts.0.insert(key, Arc::new(f)),
                Err(e) => return fatal(&e.0),
            },
        };
        Candidate::Accept(Arc::new(Object { id: key.0, facts }))
    }

    /// The per-ABI facts of this sysroot, computed once.
    pub fn context(&self, abi: &'static Abi) -> Arc<AbiContext> {
        if let Some(c) = self.contexts.get(abi.tuple) {
            return c;
        }
        self.contexts.insert(abi.tuple, Arc::new(self.build_context(abi)))
    }

    fn build_context(&self, abi: &'static Abi) -> AbiContext {
        let mut warnings = Vec::new();
        let (lib, default_dirs) = self.layout(abi);
        let mut cache = None;
        let mut cache_path = None;
        let candidates = [
            "/etc/ld.so.cache".to_string(),
            "/var/cache/ldconfig/ld.so.cache".to_string(),
            format!("/etc/ld-{}.cache", abi.tuple),
        ];
        for path in &candidates {
            match self.ld_cache(path) {
                CacheFile::Parsed(c) => {
                    cache = Some(c);
                    cache_path = Some(path.clone());
                    break;
                }
                CacheFile::Invalid(e) => {
                    warnings.push(format!("{path}: {e}"));
                    break;
                }
                CacheFile::Unreadable(e) => warnings.push(format!("{path}: {e}")),
                CacheFile::Missing => {}
            }
        }
        let platform = self.options.platform.clone().unwrap_or_else(|| abi.platform.to_string());
        let mut ctx = AbiContext {
            abi,
            lib,
            default_dirs,
            cache,
            cache_path,
            subdirs: Vec::new(),
            glibc_hwcaps: Vec::new(),
            glibc_version: None,
            platform,
            warnings: Vec::new(),
        };
        ctx.glibc_version = self.glibc_version(&ctx);
        let version = ctx.glibc_version.unwrap_or((2, 99));
        if version >= (2, 33) {
            ctx.glibc_hwcaps = self.active_glibc_hwcaps(abi);
            ctx.subdirs = ctx.glibc_hwcaps.iter().map(|h| format!("glibc-hwcaps/{h}")).collect();
        }
        if version < (2, 37) {
            ctx.subdirs.extend(legacy_subdirs(&ctx.platform, abi.legacy_hwcaps));
        }
        if ctx.cache.is_none() {
            warnings.push(format!(
                "no usable ld.so.cache in this root for {}: emulating ldconfig over /etc/ld.so.conf and the system directories",
                abi.tuple
            ));
            ctx.cache = Some(Arc::new(self.emulate_ldconfig(&ctx)));
        }
        ctx.warnings = warnings;
        ctx
    }

    /// The ld.so.cache at `path`, read and parsed once for every ABI (one file serves them all).
    fn ld_cache(&self, path: &str) -> CacheFile {
        if let Some(known) = self.ld_caches.get(path) {
            return known;
        }
        let file = match self.sysroot.read_file(path, 256 << 20) {
            Ok(bytes) => match LdCache::parse(&bytes) {
                Ok(c) => CacheFile::Parsed(Arc::new(c)),
                Err(e) => CacheFile::Invalid(e),
            },
            Err(OpenError::NotFound) => CacheFile::Missing,
            Err(e) => CacheFile::Unreadable(e.to_string()),
        };
        self.ld_caches.insert(path.to_string(), file)
    }

    /// `$LIB` and the system directories, inferred from where the ABI's libc.so.6 lives: Debian
    /// multiarch (`lib/<tuple>`), a real `lib64` or `lib32` directory (Fedora, Arch's lib32), or
    /// plain `lib`. A `lib64` that is only a link to `/usr/lib` (Arch) is not a lib64 layout, and
    /// where `/lib` is `/usr/lib` and nothing else is apart (Arch) only `/usr/lib` is built in.
    fn layout(&self, abi: &'static Abi) -> (String, Vec<String>) {
        let t = abi.tuple;
        let canonical = |d: &str| self.sysroot.canonicalize(d).ok();
        let usr_lib = canonical("/usr/lib");
        let has_libc = |d: &str| matches!(self.probe(&join(d, "libc.so.6"), abi), Candidate::Accept(_));
        let apart = |d: &str| canonical(d).is_some_and(|c| Some(&c) != usr_lib.as_ref());
        let multiarch = [format!("/lib/{t}"), format!("/usr/lib/{t}")];
        if multiarch.iter().any(|d| has_libc(d)) {
            let [a, b] = multiarch;
            return (format!("lib/{t}"), vec![a, b, "/lib".into(), "/usr/lib".into()]);
        }
        let (wide, wide_dirs) = if abi.class64 {
            ("lib64", ["/lib64", "/usr/lib64"])
        } else {
            ("lib32", ["/usr/lib32", "/lib32"])
        };
        if wide_dirs.iter().any(|d| apart(d) && has_libc(d)) {
            // Fedora's glibc builds in both /lib64 and /usr/lib64 even when one links to the
            // other; Arch's lib32 glibc only /usr/lib32.
            let dirs = if abi.class64 { wide_dirs.to_vec() } else { vec!["/usr/lib32"] };
            return (wide.into(), dirs.into_iter().map(String::from).collect());
        }
        let merged = canonical("/lib") == usr_lib && !apart("/lib64");
        let dirs = if merged { vec!["/usr/lib".into()] } else { vec!["/lib".into(), "/usr/lib".into()] };
        ("lib".into(), dirs)
    }

    /// The sysroot glibc's release, as far as the hwcaps rules need it (2.33 brought glibc-hwcaps,
    /// 2.37 removed legacy hwcaps): the newest `GLIBC_2.x` libc.so.6 defines is a lower bound of
    /// the release, exact enough outside 2.32..2.36 (2.37 and some later releases defined no new
    /// version on every architecture); in that range the version banner in libc decides.
    fn glibc_version(&self, ctx: &AbiContext) -> Option<(u32, u32)> {
        let path = ctx
            .cache
            .as_ref()
            .and_then(|c| {
                c.lookup("libc.so.6", |f| ctx.abi.accepts_cache_flags(f), &[]).map(|e| e.value.clone())
            })
            .into_iter()
            .chain(ctx.default_dirs.iter().map(|d| join(d, "libc.so.6")))
            .find(|p| matches!(self.probe(p, ctx.abi), Candidate::Accept(_)))?;
        let Candidate::Accept(obj) = self.probe(&path, ctx.abi) else { return None };
        let newest = obj
            .facts
            .defined_versions()
            .filter_map(|v| v.strip_prefix("GLIBC_"))
            .filter_map(parse_version)
            .max();
        if newest.is_some_and(|v| !((2, 32)..(2, 37)).contains(&v)) {
            return newest;
        }
        let bytes = self.sysroot.read_file(&path, MAX_LIBC_BYTES).ok()?;
        let needle = b"release version ";
        let banner = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| &bytes[i + needle.len()..(i + needle.len() + 8).min(bytes.len())])
            .and_then(|v| parse_version(&String::from_utf8_lossy(v)));
        banner.or(newest)
    }

    fn active_glibc_hwcaps(&self, abi: &'static Abi) -> Vec<String> {
        let all = abi.glibc_hwcaps;
        let active: &[&str] = match &self.options.hwcaps {
            Hwcaps::None => &[],
            Hwcaps::Level(level) => match all.iter().position(|h| h == level) {
                Some(i) => &all[i..],
                None => &[],
            },
            Hwcaps::Native if abi.tuple == "x86_64-linux-gnu" => abi::native_x86_64_hwcaps(),
            Hwcaps::Native => &[],
        };
        active.iter().map(|s| s.to_string()).collect()
    }

    /// ldconfig's scan: ld.so.conf directories, then the system directories, each with its
    /// `glibc-hwcaps/*` subdirectories; for one SONAME the first directory wins.
    fn emulate_ldconfig(&self, ctx: &AbiContext) -> LdCache {
        let mut dirs = ldconf::directories(self.sysroot, "/etc/ld.so.conf");
        dirs.extend(ctx.default_dirs.iter().cloned());
        let flags = ctx.abi.cache_flags[ctx.abi.cache_flags.len() - 1];
        let mut seen_dirs = std::collections::HashSet::new();
        let mut seen_names = std::collections::HashSet::new();
        let mut entries = Vec::new();
        for dir in dirs {
            let Ok(canonical) = self.sysroot.canonicalize(&dir) else { continue };
            if !seen_dirs.insert(canonical) {
                continue;
            }
            let hwcaps_root = join(&dir, "glibc-hwcaps");
            let hwcaps_dirs: Vec<(Option<String>, String)> = self
                .sysroot
                .list_dir(&hwcaps_root)
                .iter()
                .map(|h| (Some(h.clone()), join(&hwcaps_root, h)))
                .collect();
            for (hwcaps, scan) in hwcaps_dirs.into_iter().chain(std::iter::once((None, dir.clone()))) {
                for name in self.sysroot.list_dir(&scan).iter() {
                    if !(name.starts_with("lib") || name.starts_with("ld-")) || !name.contains(".so") {
                        continue;
                    }
                    let path = join(&scan, name);
                    let Candidate::Accept(obj) = self.probe(&path, ctx.abi) else { continue };
                    let soname = obj.facts.soname.clone().unwrap_or(name.clone());
                    if !seen_names.insert((soname.clone(), hwcaps.clone())) {
                        continue;
                    }
                    let linked = join(&scan, &soname);
                    let value = if self.sysroot.canonicalize(&linked).is_ok() { linked } else { path };
                    entries.push(CacheEntry {
                        flags,
                        key: soname,
                        value,
                        hwcap: 0,
                        hwcaps_subdir: hwcaps.clone(),
                    });
                }
            }
        }
        LdCache::from_entries("emulated", entries)
    }

    /// Loads `file` (an in-root path) as the main program, like `ld.so --list FILE`.
    ///
    /// A file's closure is computed once: loading the same file from another path gives the
    /// same objects whenever the path cannot matter, that is when the file has no DT_RPATH or
    /// DT_RUNPATH (whose `$ORIGIN` is the file's directory), `--library-path` has no dynamic
    /// string token, and no object of the closure names a DT_NEEDED by path. (The Mesa drivers
    /// of one ABI, a dozen names for one file, are one closure.)
    pub fn resolve(&self, file: &str) -> Result<Closure, String> {
        let (key, main_facts) = self.keyed_facts(file)?;
        if let Some(known) = self.closures.get(&key) {
            let mut closure = Closure::clone(&known);
            let file: Arc<str> = Arc::from(file);
            closure.objects[0].name = file.clone();
            closure.objects[0].path = Some(file);
            return Ok(closure);
        }
        let closure = self.resolve_uncached(file, key.0, main_facts.clone())?;
        let path_free = file.starts_with('/')
            && main_facts.rpath.is_none()
            && main_facts.runpath.is_none()
            && !self.options.library_path.iter().any(|d| d.contains('$'))
            && closure
                .objects
                .iter()
                .filter_map(|o| o.object.as_ref())
                .all(|o| o.facts.needed.iter().all(|n| !n.contains('/')));
        if path_free {
            self.closures.insert(key, Arc::new(closure.clone()));
        }
        Ok(closure)
    }

    fn resolve_uncached(
        &self,
        file: &str,
        main_id: FileId,
        main_facts: Arc<ElfFacts>,
    ) -> Result<Closure, String> {
        let abi = main_facts.abi().ok_or_else(|| {
            format!(
                "ELF{} {} machine {} is not an ABI graft knows",
                if main_facts.class64 { 64 } else { 32 },
                if main_facts.big_endian { "big-endian" } else { "little-endian" },
                main_facts.machine
            )
        })?;
        let ctx = self.context(abi);
        let mut ns = Namespace {
            objects: Vec::new(),
            names: FastMap::with_capacity_and_hasher(128, Default::default()),
            ids: FastMap::with_capacity_and_hasher(64, Default::default()),
            edges: Vec::new(),
            warnings: ctx.warnings.clone(),
        };
        let main_origin = if main_facts.interpreter.is_some() || main_facts.e_type == 2 {
            self.sysroot
                .canonicalize(file)
                .map(|c| split_path(&c).0.to_string())
                .unwrap_or_else(|_| split_path(file).0.to_string())
        } else {
            split_path(file).0.to_string()
        };
        let file_name: Arc<str> = Arc::from(file);
        ns.add(Loaded {
            name: file_name.clone(),
            path: Some(file_name),
            object: Some(Arc::new(Object { id: main_id, facts: main_facts.clone() })),
            loader: None,
            source: Some(Source::Main),
            error: None,
            fatal: false,
        });
        if !main_facts.dynamic {
            return Ok(ns.into_closure(abi));
        }
        let interp = main_facts.interpreter.clone().unwrap_or_else(|| abi.interpreter.to_string());
        match self.probe(&interp, abi) {
            Candidate::Accept(obj) => {
                let soname = obj.facts.soname.clone().unwrap_or_else(|| split_path(&interp).1.to_string());
                if !ns.ids.contains_key(&obj.id) {
                    ns.add(Loaded {
                        name: soname.into(),
                        path: Some(interp.into()),
                        object: Some(obj),
                        loader: None,
                        source: Some(Source::Interpreter),
                        error: None,
                        fatal: false,
                    });
                }
            }
            _ if main_facts.interpreter.is_some() => {
                ns.warnings.push(format!("interpreter {interp} is missing or unusable in this root"));
            }
            _ => {}
        }
        let mut next = 0;
        while next < ns.objects.len() {
            let requester = next;
            next += 1;
            let Some(obj) = ns.objects[requester].object.clone() else { continue };
            if ns.objects[requester].source == Some(Source::Interpreter) {
                continue;
            }
            let origin = if requester == 0 {
                main_origin.clone()
            } else {
                split_path(ns.objects[requester].path.as_deref().unwrap_or("/")).0.to_string()
            };
            let here = ns.objects[requester].path.clone().unwrap_or_default();
            for (tag, list) in [("DT_RPATH", &obj.facts.rpath), ("DT_RUNPATH", &obj.facts.runpath)] {
                for element in list.iter().flat_map(|l| l.split(':')) {
                    if !expand_dst(element, &origin, &ctx).is_some_and(|d| d.starts_with('/')) {
                        ns.warnings.push(format!(
                            "{here}: {tag} element '{element}' is relative or empty: it means the working directory of the process, which graft does not search"
                        ));
                    }
                }
            }
            for name in &obj.facts.needed {
                if let Some((known, &idx)) = ns.names.get_key_value(name.as_str()) {
                    ns.edges.push((requester, known.clone(), idx));
                    continue;
                }
                let needed: Arc<str> = Arc::from(name.as_str());
                let found = if name.contains('/') {
                    let path = expand_dst(name, &origin, &ctx).unwrap_or_else(|| name.clone());
                    match self.probe(&path, abi) {
                        Candidate::Accept(o) => Found::Object(path, o, Source::Path),
                        Candidate::Fatal(e) => Found::Fatal(e),
                        Candidate::Skip(e) | Candidate::EndOfList(e) => Found::Missing(Some(e)),
                        Candidate::Denied => Found::Missing(Some(format!("{path}: Permission denied"))),
                        Candidate::Missing => Found::Missing(None),
                    }
                } else {
                    self.search(&ns, requester, &main_origin, name, &ctx)
                };
                let idx = match found {
                    Found::Object(path, o, source) => match ns.ids.get(&o.id) {
                        Some(&existing) => existing,
                        None => ns.add(Loaded {
                            name: needed.clone(),
                            path: Some(path.into()),
                            object: Some(o),
                            loader: Some(requester),
                            source: Some(source),
                            error: None,
                            fatal: false,
                        }),
                    },
                    Found::Missing(why) => ns.add(Loaded {
                        name: needed.clone(),
                        path: None,
                        object: None,
                        loader: Some(requester),
                        source: None,
                        error: Some(match why {
                            Some(w) => format!("not found ({w})"),
                            None => "not found".to_string(),
                        }),
                        fatal: false,
                    }),
                    Found::Fatal(e) => ns.add(Loaded {
                        name: needed.clone(),
                        path: None,
                        object: None,
                        loader: Some(requester),
                        source: None,
                        error: Some(e),
                        fatal: true,
                    }),
                };
                ns.names.entry(needed.clone()).or_insert(idx);
                ns.edges.push((requester, needed, idx));
            }
        }
        Ok(ns.into_closure(abi))
    }

    /// Where `dlopen(name)` of a bare name finds it for this ABI in a program without DT_RPATH or
    /// DT_RUNPATH: `--library-path`, the cache, the default directories. This is how a manifest's
    /// `library_path` that is only a SONAME is found.
    pub fn find_library(&self, abi: &'static Abi, name: &str) -> Result<String, String> {
        let ctx = self.context(abi);
        let ns = Namespace {
            objects: vec![Loaded {
                name: Arc::from(""),
                path: None,
                object: None,
                loader: None,
                source: Some(Source::Main),
                error: None,
                fatal: false,
            }],
            names: FastMap::default(),
            ids: FastMap::default(),
            edges: Vec::new(),
            warnings: Vec::new(),
        };
        match self.search(&ns, 0, "/", name, &ctx) {
            Found::Object(path, _, _) => Ok(path),
            Found::Missing(Some(why)) => Err(format!("{name}: not found ({why})")),
            Found::Missing(None) => Err(format!("{name}: not found")),
            Found::Fatal(e) => Err(e),
        }
    }

    /// The search for a bare name requested by `requester` (`_dl_map_object`).
    fn search(
        &self,
        ns: &Namespace,
        requester: usize,
        main_origin: &str,
        name: &str,
        ctx: &AbiContext,
    ) -> Found {
        let mut search = Search { resolver: self, ctx, name, last_reason: None };
        let req = ns.facts(requester);
        let origin_of = |i: usize| {
            if i == 0 {
                main_origin.to_string()
            } else {
                split_path(ns.objects[i].path.as_deref().unwrap_or("/")).0.to_string()
            }
        };
        if req.runpath.is_none() {
            let mut at = Some(requester);
            let mut main_seen = false;
            while let Some(i) = at {
                let f = ns.facts(i);
                main_seen |= i == 0;
                if f.runpath.is_none()
                    && let Some(rpath) = &f.rpath
                    && let Some(found) = search.in_list(rpath, &origin_of(i), Source::Rpath)
                {
                    return found;
                }
                at = ns.objects[i].loader;
            }
            let main = ns.facts(0);
            if !main_seen
                && main.runpath.is_none()
                && let Some(rpath) = &main.rpath
                && let Some(found) = search.in_list(rpath, main_origin, Source::Rpath)
            {
                return found;
            }
        }
        if !self.options.library_path.is_empty() {
            let list = self.options.library_path.join(":");
            if let Some(found) = search.in_list(&list, main_origin, Source::LibraryPath) {
                return found;
            }
        }
        if let Some(runpath) = &req.runpath
            && let Some(found) = search.in_list(runpath, &origin_of(requester), Source::Runpath)
        {
            return found;
        }
        let nodeflib = req.nodeflib();
        let cached = ctx.cache.as_ref().and_then(|c| {
            c.lookup(name, |f| ctx.abi.accepts_cache_flags(f), &ctx.glibc_hwcaps).map(|e| e.value.clone())
        });
        if let Some(path) = cached {
            let in_system_dir = ctx
                .default_dirs
                .iter()
                .any(|d| path.strip_prefix(d.as_str()).is_some_and(|r| r.starts_with('/')));
            if !(nodeflib && in_system_dir) {
                match self.probe(&path, ctx.abi) {
                    Candidate::Accept(o) => return Found::Object(path, o, Source::Cache),
                    Candidate::Fatal(e) => return Found::Fatal(e),
                    Candidate::Skip(e) | Candidate::EndOfList(e) => search.last_reason = Some(e),
                    Candidate::Denied => search.last_reason = Some(format!("{path}: Permission denied")),
                    Candidate::Missing => {}
                }
            }
        }
        if !nodeflib {
            let dirs = ctx.default_dirs.join(":");
            if let Some(found) = search.in_list(&dirs, main_origin, Source::DefaultDirs) {
                return found;
            }
        }
        Found::Missing(search.last_reason)
    }
}

enum Found {
    Object(String, Arc<Object>, Source),
    Missing(Option<String>),
    Fatal(String),
}

struct Namespace {
    objects: Vec<Loaded>,
    /// Requested names, paths and SONAMEs → object.
    names: FastMap<Arc<str>, usize>,
    ids: FastMap<FileId, usize>,
    edges: Vec<(usize, Arc<str>, usize)>,
    warnings: Vec<String>,
}

impl Namespace {
    fn into_closure(mut self, abi: &'static Abi) -> Closure {
        self.drop_unrequested_interpreter();
        let mut closure = Closure {
            abi,
            objects: self.objects,
            edges: self.edges,
            warnings: self.warnings,
            version_problems: Vec::new(),
        };
        closure.check_versions(&self.names);
        closure
    }

    fn add(&mut self, loaded: Loaded) -> usize {
        let idx = self.objects.len();
        self.names.entry(loaded.name.clone()).or_insert(idx);
        if let Some(path) = &loaded.path {
            self.names.entry(path.clone()).or_insert(idx);
        }
        if let Some(obj) = &loaded.object {
            if let Some(soname) = &obj.facts.soname {
                self.names.entry(Arc::from(soname.as_str())).or_insert(idx);
            }
            self.ids.insert(obj.id, idx);
        }
        self.objects.push(loaded);
        idx
    }

    /// `dl_main` takes the loader's own entry out of the list after mapping the dependencies and
    /// puts it back only if some object named it: an interpreter nobody needs is not in the closure.
    fn drop_unrequested_interpreter(&mut self) {
        let Some(interp) = self.objects.iter().position(|o| o.source == Some(Source::Interpreter)) else {
            return;
        };
        if self.edges.iter().any(|&(_, _, to)| to == interp) {
            return;
        }
        self.objects.remove(interp);
        let shift = |i: usize| if i > interp { i - 1 } else { i };
        for o in &mut self.objects {
            o.loader = o.loader.map(shift);
        }
        for e in &mut self.edges {
            e.0 = shift(e.0);
            e.2 = shift(e.2);
        }
        self.names.retain(|_, i| *i != interp);
        for i in self.names.values_mut() {
            *i = shift(*i);
        }
        self.ids.retain(|_, i| *i != interp);
        for i in self.ids.values_mut() {
            *i = shift(*i);
        }
    }

    fn facts(&self, i: usize) -> Arc<ElfFacts> {
        self.objects[i].object.as_ref().map(|o| o.facts.clone()).unwrap_or_default()
    }
}

/// One search through directory lists for one name.
struct Search<'r, 's> {
    resolver: &'r Resolver<'s>,
    ctx: &'r AbiContext,
    name: &'r str,
    last_reason: Option<String>,
}

impl Search<'_, '_> {
    /// `open_path` over one colon-separated list: each directory's hwcaps subdirectories, then
    /// the directory. `None` to go on with the next list.
    fn in_list(&mut self, list: &str, origin: &str, source: Source) -> Option<Found> {
        for element in list.split(':') {
            let Some(dir) = expand_dst(element, origin, self.ctx) else { continue };
            if !dir.starts_with('/') {
                // Relative and empty elements mean the process's working directory, which a
                // static view cannot know; they are reported by `tree` and skipped here.
                continue;
            }
            let dir = if dir.len() > 1 { dir.trim_end_matches('/') } else { &dir };
            let dir = if dir.is_empty() { "/" } else { dir };
            let mut last_open_error = None;
            let mut tried = Vec::new();
            for sub in self.ctx.subdirs.iter().map(String::as_str).chain(std::iter::once("")) {
                let here = if sub.is_empty() { dir.to_string() } else { join(dir, sub) };
                // Like ld.so, which marks a directory that does not exist and never tries it
                // again: a hwcaps subdirectory that is not there holds nothing.
                if !sub.is_empty() && !self.resolver.sysroot.is_dir(&here) {
                    continue;
                }
                let path = join(&here, self.name);
                last_open_error = None;
                match self.resolver.probe(&path, self.ctx.abi) {
                    Candidate::Accept(o) => return Some(Found::Object(path, o, source)),
                    Candidate::Fatal(e) => return Some(Found::Fatal(e)),
                    Candidate::Missing => {}
                    Candidate::Denied => self.last_reason = Some(format!("{path}: Permission denied")),
                    Candidate::Skip(e) => self.last_reason = Some(e),
                    Candidate::EndOfList(e) => last_open_error = Some(e),
                }
                tried.push(here);
            }
            // `open_path`: after a directory's last try failed with an error other than ENOENT
            // or EACCES, the rest of the list is given up, but only if one of the directories
            // tried exists (a looping or dangling directory counts as missing).
            if let Some(e) = last_open_error {
                self.last_reason = Some(e);
                if tried.iter().any(|d| self.resolver.sysroot.is_dir(d)) {
                    return None;
                }
            }
        }
        None
    }
}

/// Expands `$ORIGIN`, `$LIB`, `$PLATFORM` (and the braced forms) as `_dl_dst_substitute` does.
/// A `$` that starts no known token, or a token followed by an identifier character, stays
/// literal. `None` when a token cannot be substituted (the element is dropped).
pub fn expand_dst(input: &str, origin: &str, ctx: &AbiContext) -> Option<String> {
    if !input.contains('$') {
        return Some(input.to_string());
    }
    let mut out = String::with_capacity(input.len() + origin.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let mut matched = None;
        for (token, value) in
            [("ORIGIN", origin), ("PLATFORM", ctx.platform.as_str()), ("LIB", ctx.lib.as_str())]
        {
            if let Some(len) = dst_len(after, token) {
                matched = Some((len, value));
                break;
            }
        }
        match matched {
            Some((_, "")) => return None,
            Some((len, value)) => {
                out.push_str(value);
                rest = &after[len..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// `is_dst`: the length of `token` (braced or not) at the start of `s`, if it is one.
fn dst_len(s: &str, token: &str) -> Option<usize> {
    let ident = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
    if let Some(inner) = s.strip_prefix('{') {
        return (inner.starts_with(token) && inner.as_bytes().get(token.len()) == Some(&b'}'))
            .then_some(token.len() + 2);
    }
    (s.starts_with(token) && !ident(s.as_bytes().get(token.len()).copied())).then_some(token.len())
}

/// Legacy hwcaps subdirectories (glibc < 2.37): `tls` and the platform and important hwcap
/// names, longest combinations first.
fn legacy_subdirs(platform: &str, hwcaps: &[&str]) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    if !platform.is_empty() {
        names.push(platform);
    }
    names.extend(hwcaps.iter().copied());
    let n = names.len();
    let mut out: Vec<String> = Vec::new();
    for tls in [true, false] {
        for mask in (0..1u32 << n).rev() {
            let mut parts: Vec<&str> = Vec::new();
            if tls {
                parts.push("tls");
            }
            parts.extend((0..n).filter(|b| mask & (1 << b) != 0).map(|b| names[b]));
            let s = parts.join("/");
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// `2.41` or `2.41.3` or `2.31-13+deb11u11` → (2, 41).
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> AbiContext {
        AbiContext {
            abi: Abi::by_tuple("x86_64-linux-gnu").unwrap(),
            lib: "lib/x86_64-linux-gnu".into(),
            default_dirs: vec![],
            cache: None,
            cache_path: None,
            subdirs: vec![],
            glibc_hwcaps: vec![],
            glibc_version: None,
            platform: "x86_64".into(),
            warnings: vec![],
        }
    }

    #[test]
    fn dynamic_string_tokens() {
        let c = ctx();
        assert_eq!(expand_dst("$ORIGIN/../lib", "/opt/app/bin", &c).unwrap(), "/opt/app/bin/../lib");
        assert_eq!(expand_dst("${ORIGIN}/x", "/o", &c).unwrap(), "/o/x");
        assert_eq!(expand_dst("/usr/$LIB/x", "/o", &c).unwrap(), "/usr/lib/x86_64-linux-gnu/x");
        assert_eq!(expand_dst("/p/$PLATFORM", "/o", &c).unwrap(), "/p/x86_64");
        assert_eq!(expand_dst("$ORIGINX/a", "/o", &c).unwrap(), "$ORIGINX/a");
        assert_eq!(expand_dst("${ORIGIN/a", "/o", &c).unwrap(), "${ORIGIN/a");
        assert_eq!(expand_dst("/a/$HOME/b", "/o", &c).unwrap(), "/a/$HOME/b");
        assert_eq!(expand_dst("$ORIGIN_x", "/o", &c).unwrap(), "$ORIGIN_x");
    }

    #[test]
    fn legacy_hwcaps_order_matches_glibc_2_36() {
        assert_eq!(
            legacy_subdirs("x86_64", &["x86_64"]),
            vec!["tls/x86_64/x86_64", "tls/x86_64", "tls", "x86_64/x86_64", "x86_64"]
        );
    }

    /// One ld.so.cache serves every ABI: it is parsed once, and a broken one is reported for each
    /// ABI (and the ABI falls back to emulating ldconfig) without being read again.
    #[test]
    fn one_ld_so_cache_parse_serves_every_abi() {
        let x86_64 = Abi::by_tuple("x86_64-linux-gnu").unwrap();
        let i386 = Abi::by_tuple("i386-linux-gnu").unwrap();
        let host = std::path::Path::new(crate::drivers::testutil::TESTBED).join("host");
        if host.join("etc/ld.so.cache").exists() {
            let sysroot = Sysroot::open(&host).unwrap();
            let resolver = Resolver::new(&sysroot, Options::default());
            let (a, b) = (resolver.context(x86_64), resolver.context(i386));
            assert!(Arc::ptr_eq(a.cache.as_ref().unwrap(), b.cache.as_ref().unwrap()));
            assert_eq!(a.cache_path.as_deref(), Some("/etc/ld.so.cache"));
        } else {
            eprintln!("skipped the test bed part: {} has no ld.so.cache", host.display());
        }

        let dir = std::env::temp_dir().join(format!("graft-ldcache-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/ld.so.cache"), b"not a cache").unwrap();
        let sysroot = Sysroot::open(&dir).unwrap();
        let resolver = Resolver::new(&sysroot, Options::default());
        for abi in [x86_64, i386] {
            let ctx = resolver.context(abi);
            assert_eq!(ctx.cache_path, None);
            assert!(ctx.warnings[0].starts_with("/etc/ld.so.cache: "), "{:?}", ctx.warnings);
            assert!(ctx.warnings[1].contains("emulating ldconfig"), "{:?}", ctx.warnings);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("2.41."), Some((2, 41)));
        assert_eq!(parse_version("2.31-13+deb11u11"), Some((2, 31)));
        assert_eq!(parse_version("2.2.5"), Some((2, 2)));
        assert_eq!(parse_version("x"), None);
    }
}
