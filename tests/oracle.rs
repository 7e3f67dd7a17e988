//! The loader oracle: graft's `tree` against the sysroot's own glibc `ld.so`.
//!
//! For every sysroot of the test bed (`scripts/testbed.sh`) and for both ABIs, every ELF object
//! under `/usr/lib/<tuple>/` (recursively) and `/usr/bin/` is given to the sysroot's own `ldd`,
//! run inside bubblewrap with the sysroot as `/`, and to one `graft tree --root ROOT --json`
//! invocation. Per object, the sets of (needed name -> canonical in-root path, or not found) must
//! be equal. Paths are canonicalised with chroot semantics by a small resolver in this file.
//!
//! Without the test bed the test prints a skip line and passes, unless `GRAFT_REQUIRE_TESTBED=1`.
//! `GRAFT_ORACLE_SYSROOTS=host,runtime` restricts the sysroots (a debugging aid).

mod common;

use common::Watched;
use common::testbed::{self, ABIS, for_each_object_file, resolve_in_root, skip_or_fail, tool_present};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MAX_REPORTED: usize = 20;
const BEGIN: &str = "@@graft-oracle-begin@@ ";
const RC: &str = "@@graft-oracle-rc@@ ";
const ERR: &str = "@@graft-oracle-stderr@@ ";

// ---------------------------------------------------------------------------------------------
// Test bed discovery

/// The sysroot's directory, or `None` (after printing why) when the test should be skipped.
fn sysroot(name: &str) -> Option<PathBuf> {
    if let Ok(only) = std::env::var("GRAFT_ORACLE_SYSROOTS")
        && !only.split(',').any(|n| n.trim() == name)
    {
        println!("oracle {name}: not selected by GRAFT_ORACLE_SYSROOTS");
        return None;
    }
    let dir = testbed::sysroot("oracle", name)?;
    if !tool_present("bwrap") {
        let msg = "oracle: bwrap is not installed (apt-get install bubblewrap)";
        skip_or_fail(msg, &format!("{msg}; skipped"));
        return None;
    }
    Some(dir)
}

// ---------------------------------------------------------------------------------------------
// Chroot-semantics path resolution

/// Memoising wrapper around [`resolve_in_root`]; unresolvable paths are kept as given, marked.
struct Canon<'a> {
    root: &'a Path,
    cache: HashMap<String, String>,
    sonames: HashMap<String, Option<String>>,
}

impl<'a> Canon<'a> {
    fn new(root: &'a Path) -> Self {
        Canon { root, cache: HashMap::new(), sonames: HashMap::new() }
    }

    fn get(&mut self, path: &str) -> String {
        if let Some(c) = self.cache.get(path) {
            return c.clone();
        }
        let c = resolve_in_root(self.root, path).unwrap_or_else(|| format!("{path} (unresolvable)"));
        self.cache.insert(path.to_string(), c.clone());
        c
    }
}

// ---------------------------------------------------------------------------------------------
// Enumerating the test bed's ELF objects

#[derive(Clone, Copy, PartialEq, Eq)]
enum Abi {
    X86_64,
    I386,
    Other,
}

fn abi_of(ident: &[u8]) -> Abi {
    // EI_CLASS at 4, EI_DATA at 5, e_machine at 18 (little endian on both ABIs we know).
    let machine = u16::from_le_bytes([ident[18], ident[19]]);
    match (ident[4], ident[5], machine) {
        (2, 1, 62) => Abi::X86_64,
        (1, 1, 3) => Abi::I386,
        _ => Abi::Other,
    }
}

/// Every regular ELF file (by magic) under the in-root directories `/usr/lib/<tuple>/`
/// (recursively) and `/usr/bin/`, de-duplicated by inode, grouped by ABI (from the ELF header,
/// whatever directory the file is in). In-root paths, sorted.
fn enumerate(root: &Path) -> BTreeMap<&'static str, Vec<String>> {
    let mut out: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for_each_object_file(root, &mut |inroot, host| {
        let mut ident = [0u8; 20];
        let Ok(mut f) = std::fs::File::open(host) else {
            return;
        };
        if f.read_exact(&mut ident).is_err() || &ident[..4] != b"\x7fELF" {
            return;
        }
        match abi_of(&ident) {
            Abi::X86_64 => out.entry(ABIS[0]).or_default().push(inroot.to_string()),
            Abi::I386 => out.entry(ABIS[1]).or_default().push(inroot.to_string()),
            Abi::Other => {}
        }
    });
    for v in out.values_mut() {
        v.sort();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Running things

struct Output {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    elapsed: Duration,
}

fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut watched = Watched::new(child);
    let (status, timed_out) = watched.wait(start, timeout, Duration::from_millis(20));
    if timed_out {
        panic!("{cmd:?} ran longer than {timeout:?}");
    }
    let (stdout, stderr) = watched.output();
    Output { code: status.code(), stdout, stderr, elapsed: start.elapsed() }
}

// ---------------------------------------------------------------------------------------------
// The two views

/// One object's resolved closure: needed name -> canonical in-root path (`None`: not found).
type Deps = BTreeMap<String, Option<String>>;

#[derive(Default)]
struct View {
    deps: Deps,
    /// Fatal loader error (ldd) or graft's per-object errors, for the report.
    notes: Vec<String>,
    /// ld.so aborted the load (ldd printed "error while loading shared libraries").
    fatal: bool,
}

/// The shell loop run inside bwrap: one delimiter line per file, then ldd's stdout, then its
/// stderr with a prefix, then its exit status.
const LDD_LOOP: &str = r#"
for f in "$@"; do
  printf '%s%s\n' "$B" "$f"
  timeout 30 ldd "$f" 2>/tmp/ldd.err
  rc=$?
  while IFS= read -r l; do printf '%s%s\n' "$E" "$l"; done </tmp/ldd.err
  printf '%s%s\n' "$R" "$rc"
done
"#;

fn ldd_views(root: &Path, files: &[String], canon: &mut Canon) -> (HashMap<String, View>, Duration) {
    let out = run(
        Command::new("bwrap")
            .args(["--ro-bind"])
            .arg(root)
            .args(["/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
            .args(["--setenv", "B", BEGIN, "--setenv", "R", RC, "--setenv", "E", ERR])
            .args(["--setenv", "LC_ALL", "C", "/bin/sh", "-c", LDD_LOOP, "sh"])
            .args(files),
        Duration::from_secs(900),
    );
    assert!(
        out.code == Some(0),
        "bwrap ldd loop failed ({:?}): {}",
        out.code,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut views: HashMap<String, View> = HashMap::new();
    let mut current: Option<(String, Vec<String>, Vec<String>)> = None;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix(BEGIN) {
            current = Some((f.to_string(), Vec::new(), Vec::new()));
        } else if let Some(rc) = line.strip_prefix(RC) {
            let (file, lines, errs) = current.take().expect("rc line without begin line");
            let view = parse_ldd(root, &file, &lines, &errs, rc.trim(), canon);
            views.insert(file, view);
        } else if let Some(e) = line.strip_prefix(ERR) {
            if let Some(c) = current.as_mut() {
                c.2.push(e.to_string());
            }
        } else if let Some(c) = current.as_mut() {
            c.1.push(line.to_string());
        }
    }
    (views, out.elapsed)
}

fn parse_ldd(
    root: &Path,
    file: &str,
    lines: &[String],
    errs: &[String],
    rc: &str,
    canon: &mut Canon,
) -> View {
    let mut view = View::default();
    let interps = interpreter_paths(root, file, canon);
    for raw in lines {
        let line = raw.trim();
        if line.is_empty() || line == "statically linked" || line == "not a dynamic executable" {
            continue;
        }
        // Strip the load address suffix " (0x...)".
        let body = match line.rfind(" (0x") {
            Some(i) if line.ends_with(')') => &line[..i],
            _ => line,
        };
        if let Some((name, target)) = body.split_once(" => ") {
            let name = name.trim();
            let target = target.trim();
            if target == "not found" {
                view.deps.insert(name.to_string(), None);
            } else {
                let c = canon.get(target);
                view.deps.insert(name.to_string(), Some(c));
            }
        } else if body.starts_with('/') {
            // A bare path: the interpreter, or a DT_NEEDED entry with a slash.
            let c = canon.get(body);
            let key = if interps.contains(&c) {
                let soname = canon.sonames.entry(c.clone()).or_insert_with(|| soname_of(root, &c));
                soname.clone().unwrap_or_else(|| basename(body).to_string())
            } else {
                body.to_string()
            };
            view.deps.insert(key, Some(c));
        } else if body == "linux-vdso.so.1" || body == "linux-gate.so.1" || body.starts_with("linux-vdso") {
            continue;
        } else {
            view.notes.push(format!("unparsed ldd line: {raw:?}"));
        }
    }
    for e in errs {
        if e.contains("error while loading shared libraries") {
            view.fatal = true;
        }
        if !e.contains("you do not have execution permission") {
            view.notes.push(format!("ldd stderr: {e}"));
        }
    }
    if rc != "0" && rc != "1" {
        view.notes.push(format!("ldd exit status {rc}"));
    }
    view
}

/// Canonical paths that ldd prints as the interpreter for `file`: its PT_INTERP and the ABIs'
/// standard loaders.
fn interpreter_paths(root: &Path, file: &str, canon: &mut Canon) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for p in ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux.so.2"] {
        set.insert(canon.get(p));
    }
    if let Some(interp) = pt_interp(root, file) {
        set.insert(canon.get(&interp));
    }
    set
}

fn read_host(root: &Path, inroot: &str) -> Option<Vec<u8>> {
    std::fs::read(root.join(inroot.trim_start_matches('/'))).ok()
}

fn pt_interp(root: &Path, file: &str) -> Option<String> {
    // Program headers are at the start of the file; read a bounded prefix first.
    let mut f = std::fs::File::open(root.join(file.trim_start_matches('/'))).ok()?;
    let mut buf = Vec::new();
    f.by_ref().take(1 << 16).read_to_end(&mut buf).ok()?;
    let parse = |bytes: &[u8]| -> Option<Option<String>> {
        use goblin::elf::{Elf, program_header::ProgramHeader};
        let header = Elf::parse_header(bytes).ok()?;
        let ctx = goblin::container::Ctx::new(
            if header.e_ident[4] == 2 {
                goblin::container::Container::Big
            } else {
                goblin::container::Container::Little
            },
            if header.e_ident[5] == 2 {
                goblin::container::Endian::Big
            } else {
                goblin::container::Endian::Little
            },
        );
        let phdrs =
            ProgramHeader::parse(bytes, header.e_phoff as usize, header.e_phnum as usize, ctx).ok()?;
        for ph in phdrs {
            if ph.p_type == goblin::elf::program_header::PT_INTERP {
                let start = ph.p_offset as usize;
                let end = start.checked_add(ph.p_filesz as usize)?;
                let raw = bytes.get(start..end)?;
                let raw = raw.split(|&b| b == 0).next().unwrap_or(raw);
                return Some(Some(String::from_utf8_lossy(raw).into_owned()));
            }
        }
        Some(None)
    };
    match parse(&buf) {
        Some(r) => r,
        None => parse(&read_host(root, file)?).flatten(),
    }
}

fn soname_of(root: &Path, file: &str) -> Option<String> {
    let bytes = read_host(root, file)?;
    let elf = goblin::elf::Elf::parse(&bytes).ok()?;
    elf.soname.map(str::to_string)
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn graft_views(root: &Path, files: &[String], canon: &mut Canon) -> (HashMap<String, View>, Duration) {
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_graft"))
            .arg("tree")
            .arg("--root")
            .arg(root)
            .arg("--json")
            .args(files),
        Duration::from_secs(300),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "graft tree --json printed no JSON (exit {:?}, {e}); stderr: {}",
            out.code,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        matches!(out.code, Some(0) | Some(1)),
        "graft tree exit status {:?}; stderr: {}",
        out.code,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut views = HashMap::new();
    for obj in json["objects"].as_array().expect("objects array") {
        let path = obj["path"].as_str().expect("object path").to_string();
        let mut view = View::default();
        if let Some(deps) = obj["deps"].as_object() {
            for (name, target) in deps {
                let t = target.as_str().map(|t| canon.get(t));
                view.deps.insert(name.clone(), t);
            }
        }
        if let Some(e) = obj["error"].as_str() {
            view.fatal = true;
            view.notes.push(format!("error: {e}"));
        }
        for e in obj["errors"].as_array().into_iter().flatten() {
            let reason = e["reason"].as_str().unwrap_or("");
            if reason != "not found" {
                view.fatal = true;
            }
            view.notes.push(format!(
                "{} (requested by {}): {}",
                e["name"].as_str().unwrap_or("?"),
                e["requested_by"].as_str().unwrap_or("?"),
                reason
            ));
        }
        views.insert(path, view);
    }
    (views, out.elapsed)
}

// ---------------------------------------------------------------------------------------------
// Comparison

fn agree(ldd: &View, graft: &View) -> bool {
    if ldd.fatal {
        // ld.so gave up on the whole load; graft must report a problem, not a clean closure.
        return graft.fatal || !graft.notes.is_empty();
    }
    ldd.deps == graft.deps
}

fn show(view: &View) -> String {
    let mut s = String::new();
    for (k, v) in &view.deps {
        s.push_str(&format!("      {k} => {}\n", v.as_deref().unwrap_or("not found")));
    }
    if view.deps.is_empty() {
        s.push_str("      (no dependencies)\n");
    }
    for n in &view.notes {
        s.push_str(&format!("      ! {n}\n"));
    }
    s
}

fn diff(ldd: &View, graft: &View) -> String {
    let mut s = String::new();
    let keys: BTreeSet<&String> = ldd.deps.keys().chain(graft.deps.keys()).collect();
    for k in keys {
        let a = ldd.deps.get(k);
        let b = graft.deps.get(k);
        if a != b {
            let fmt = |x: Option<&Option<String>>| match x {
                None => "(absent)".to_string(),
                Some(None) => "not found".to_string(),
                Some(Some(p)) => p.clone(),
            };
            s.push_str(&format!("      {k}: ldd {} | graft {}\n", fmt(a), fmt(b)));
        }
    }
    s
}

fn oracle(name: &str) {
    let Some(root) = sysroot(name) else { return };
    let started = Instant::now();
    let by_abi = enumerate(&root);
    let all: Vec<String> = by_abi.values().flatten().cloned().collect();
    assert!(!all.is_empty(), "oracle {name}: no ELF objects found under {}", root.display());

    // ldd per ABI (one bwrap each) and graft over everything (one process), concurrently.
    let (ldd, graft) = std::thread::scope(|s| {
        let ldd_handles: Vec<_> = by_abi
            .iter()
            .map(|(abi, files)| {
                let root = &root;
                s.spawn(move || {
                    let mut canon = Canon::new(root);
                    (*abi, ldd_views(root, files, &mut canon))
                })
            })
            .collect();
        let graft = s.spawn(|| {
            let mut canon = Canon::new(&root);
            graft_views(&root, &all, &mut canon)
        });
        let ldd: Vec<_> = ldd_handles.into_iter().map(|h| h.join().unwrap()).collect();
        (ldd, graft.join().unwrap())
    });
    let (graft_views, graft_time) = graft;

    let mut failures = Vec::new();
    for (abi, (ldd_views, ldd_time)) in &ldd {
        let files = &by_abi[abi];
        let mut agreeing = 0;
        let mut bad = Vec::new();
        for f in files {
            let l = ldd_views.get(f);
            let g = graft_views.get(f);
            match (l, g) {
                (Some(l), Some(g)) if agree(l, g) => agreeing += 1,
                (Some(l), Some(g)) => bad.push(format!(
                    "  {f}\n    ldd:\n{}    graft:\n{}    difference:\n{}",
                    show(l),
                    show(g),
                    diff(l, g)
                )),
                (None, _) => bad.push(format!("  {f}\n    ldd printed nothing for it\n")),
                (_, None) => bad.push(format!("  {f}\n    graft's JSON has no object for it\n")),
            }
        }
        println!(
            "oracle {name} {abi}: {agreeing}/{} objects agree (ldd {:.1}s)",
            files.len(),
            ldd_time.as_secs_f64()
        );
        for b in bad.iter().take(MAX_REPORTED) {
            print!("{b}");
        }
        if bad.len() > MAX_REPORTED {
            println!("  ... and {} more", bad.len() - MAX_REPORTED);
        }
        if !bad.is_empty() {
            failures.push(format!("{abi}: {} of {} objects disagree", bad.len(), files.len()));
        }
    }
    println!(
        "oracle {name}: graft {:.2}s for {} objects, total {:.1}s",
        graft_time.as_secs_f64(),
        all.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "oracle {name}: {}", failures.join("; "));
}

#[test]
fn oracle_runtime() {
    oracle("runtime");
}

#[test]
fn oracle_host() {
    oracle("host");
}

#[test]
fn oracle_host_nvidia() {
    oracle("host-nvidia");
}

#[test]
fn resolver_uses_chroot_semantics() {
    let dir = std::env::temp_dir().join(format!("graft-oracle-resolver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("usr/lib/x")).unwrap();
    std::fs::write(dir.join("usr/lib/x/libz.so.1.2"), b"z").unwrap();
    std::os::unix::fs::symlink("/usr/lib", dir.join("lib")).unwrap();
    std::os::unix::fs::symlink("libz.so.1.2", dir.join("usr/lib/x/libz.so.1")).unwrap();
    std::os::unix::fs::symlink("../../../../../lib/x/libz.so.1", dir.join("usr/lib/x/up")).unwrap();
    std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
    assert_eq!(resolve_in_root(&dir, "/lib/x/libz.so.1").as_deref(), Some("/usr/lib/x/libz.so.1.2"));
    assert_eq!(resolve_in_root(&dir, "/usr/lib/x/up").as_deref(), Some("/usr/lib/x/libz.so.1.2"));
    assert_eq!(
        resolve_in_root(&dir, "/lib/./x/../x//libz.so.1.2").as_deref(),
        Some("/usr/lib/x/libz.so.1.2")
    );
    assert_eq!(resolve_in_root(&dir, "/loop"), None);
    assert_eq!(resolve_in_root(&dir, "/lib/x/missing"), None);
    std::fs::remove_dir_all(&dir).unwrap();
}
