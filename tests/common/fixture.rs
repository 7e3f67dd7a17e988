//! The declarative fixture model (elf-fixtures/*.json), the sysroot generator and the checker.
//!
//! See elf-fixtures/README.md for the format.

use super::cache::{self, CacheSpec};
use super::elf::{self, ElfSpec};
use super::{RunOutput, TempDir, default_timeout, host_ldconfig, is_root, repo_dir, run_graft};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: String,
    #[serde(default)]
    pub elf: Option<ElfSpec>,
    #[serde(default)]
    pub text: Option<String>,
    /// Raw bytes as hex ("7f454c46...").
    #[serde(default)]
    pub hex: Option<String>,
    /// A file of N zero bytes.
    #[serde(default)]
    pub zeros: Option<usize>,
    #[serde(default)]
    pub symlink: Option<String>,
    /// A hard link to another in-root path (created after regular files).
    #[serde(default)]
    pub hardlink: Option<String>,
    #[serde(default)]
    pub dir: bool,
    #[serde(default)]
    pub fifo: bool,
    #[serde(default)]
    pub socket: bool,
    /// A character device node (major 1, minor 3, like /dev/null). Needs root.
    #[serde(default)]
    pub chardev: bool,
    #[serde(default)]
    pub cache: Option<CacheSpec>,
    /// Permission bits, e.g. 0 for an unreadable file.
    #[serde(default)]
    pub mode: Option<u32>,
    /// In `after_ldconfig`: delete this path.
    #[serde(default)]
    pub remove: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdconfigSpec {
    /// "new", "old" or "compat" (ldconfig's -c).
    #[serde(default)]
    pub format: Option<String>,
    /// Copy the built /etc/ld.so.cache to these in-root paths and delete the original, e.g.
    /// "/var/cache/ldconfig/ld.so.cache".
    #[serde(default)]
    pub move_to: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrExpect {
    pub name: String,
    #[serde(default)]
    pub reason_contains: Vec<String>,
    #[serde(default)]
    pub requested_by: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub file: String,
    #[serde(default)]
    pub about: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Exact: every dep key of the object, with its in-root path as found or null.
    #[serde(default)]
    pub expect: BTreeMap<String, Option<String>>,
    /// Keys whose value may be any of the listed ones (the spec does not fix one answer). They
    /// still count as part of the exact key set.
    #[serde(default)]
    pub one_of: BTreeMap<String, Vec<Option<String>>>,
    #[serde(default)]
    pub exit: i32,
    /// When the spec allows several exit codes (used with `one_of`); overrides `exit`.
    #[serde(default)]
    pub exit_one_of: Vec<i32>,
    #[serde(default)]
    pub errors: Vec<ErrExpect>,
    /// "nonempty" or "empty".
    #[serde(default)]
    pub warnings: Option<String>,
    /// Each string must occur in some warning.
    #[serde(default)]
    pub warnings_contain: Vec<String>,
    /// Expected "arch" of the object.
    #[serde(default)]
    pub arch: Option<String>,
    /// Expected: the object's own "error" is set (true) or null (false).
    #[serde(default)]
    pub object_error: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectCase {
    pub file: String,
    #[serde(default)]
    pub exit: i32,
    /// Every key here must be present in the JSON output with an equal value.
    #[serde(default)]
    pub expect: Option<Value>,
    #[serde(default)]
    pub stderr_contains: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub name: String,
    pub about: String,
    #[serde(default)]
    pub presets: Vec<String>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    #[serde(default)]
    pub ldconfig: Option<LdconfigSpec>,
    #[serde(default)]
    pub after_ldconfig: Vec<FileSpec>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub requires_root: bool,
    #[serde(default)]
    pub cases: Vec<Case>,
    #[serde(default)]
    pub inspect: Vec<InspectCase>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FixtureFile {
    Many { fixtures: Vec<Fixture> },
    One(Box<Fixture>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Preset {
    #[serde(default)]
    #[allow(dead_code)]
    about: Option<String>,
    files: Vec<FileSpec>,
}

pub fn fixtures_dir() -> PathBuf {
    repo_dir().join("elf-fixtures")
}

/// Load every fixture from elf-fixtures/*.json (sorted by file name).
pub fn load_all() -> Vec<(String, Fixture)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("elf-fixtures/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        let ff: FixtureFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        match ff {
            FixtureFile::Many { fixtures } => {
                for f in fixtures {
                    out.push((file.clone(), f));
                }
            }
            FixtureFile::One(f) => out.push((file, *f)),
        }
    }
    let mut names = std::collections::HashSet::new();
    for (file, f) in &out {
        assert!(names.insert(f.name.clone()), "{file}: duplicate fixture name {}", f.name);
    }
    out
}

fn load_preset(name: &str) -> Vec<FileSpec> {
    let p = fixtures_dir().join("presets").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("preset {}: {e}", p.display()));
    let preset: Preset =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("preset {}: {e}", p.display()));
    preset.files
}

/// The in-root path `p` ("/usr/lib/x") under `root`.
pub fn host_path(root: &Path, p: &str) -> PathBuf {
    assert!(p.starts_with('/'), "fixture paths must be absolute: {p}");
    root.join(p.trim_start_matches('/'))
}

/// Refuse to create anything through a symlinked ancestor: an absolute symlink in the fixture
/// would otherwise make us write to the host.
fn check_no_symlink_ancestor(root: &Path, p: &str) {
    let mut cur = root.to_path_buf();
    let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        assert!(*c != "..", "fixture path with ..: {p}");
        cur.push(c);
        if let Ok(m) = std::fs::symlink_metadata(&cur) {
            assert!(
                !m.file_type().is_symlink(),
                "fixture writes {p} through symlink {}; list files under their real directory",
                cur.display()
            );
        }
    }
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn hex_decode(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// Create one non-symlink entry.
fn create_entry(root: &Path, f: &FileSpec) -> Result<(), String> {
    check_no_symlink_ancestor(root, &f.path);
    let hp = host_path(root, &f.path);
    if f.remove {
        // Also used in `files` to drop a preset's entry: nothing to remove is fine.
        let Ok(m) = std::fs::symlink_metadata(&hp) else {
            return Ok(());
        };
        if m.is_dir() {
            std::fs::remove_dir_all(&hp).unwrap();
        } else {
            std::fs::remove_file(&hp).unwrap();
        }
        return Ok(());
    }
    if let Some(parent) = hp.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    if f.dir {
        std::fs::create_dir_all(&hp).unwrap();
    } else if f.fifo {
        nix::unistd::mkfifo(&hp, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .map_err(|e| format!("mkfifo {}: {e}", f.path))?;
    } else if f.socket {
        // Binding creates the socket inode; it stays after the listener is dropped.
        let l = std::os::unix::net::UnixListener::bind(&hp).map_err(|e| format!("bind {}: {e}", f.path))?;
        drop(l);
    } else if f.chardev {
        nix::sys::stat::mknod(
            &hp,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .map_err(|e| format!("mknod {}: {e}", f.path))?;
    } else {
        let bytes = if let Some(e) = &f.elf {
            elf::build(e, basename(&f.path))
        } else if let Some(t) = &f.text {
            t.clone().into_bytes()
        } else if let Some(h) = &f.hex {
            hex_decode(h)
        } else if let Some(n) = f.zeros {
            vec![0; n]
        } else if let Some(c) = &f.cache {
            cache::build(c)
        } else {
            panic!("file {} has no content kind", f.path);
        };
        std::fs::write(&hp, bytes).unwrap();
    }
    if let Some(mode) = f.mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hp, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    Ok(())
}

fn create_links(root: &Path, files: &[&FileSpec]) {
    for f in files.iter().filter(|f| f.hardlink.is_some()) {
        check_no_symlink_ancestor(root, &f.path);
        let hp = host_path(root, &f.path);
        std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
        std::fs::hard_link(host_path(root, f.hardlink.as_ref().unwrap()), &hp).unwrap();
    }
    for f in files.iter().filter(|f| f.symlink.is_some()) {
        check_no_symlink_ancestor(root, &f.path);
        let hp = host_path(root, &f.path);
        std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(f.symlink.as_ref().unwrap(), &hp).unwrap();
    }
}

pub enum Built {
    Ready(TempDir),
    Skipped(String),
}

/// Generate the fixture's sysroot in a fresh temp dir.
pub fn build(fx: &Fixture) -> Result<Built, String> {
    if fx.requires_root && !is_root() {
        return Ok(Built::Skipped("needs root".into()));
    }
    let mut files: Vec<FileSpec> = Vec::new();
    for p in &fx.presets {
        files.extend(load_preset(p));
    }
    for f in &fx.files {
        files.retain(|g| g.path != f.path);
        files.push(f.clone());
    }
    let tmp = TempDir::new(&fx.name);
    let root = tmp.path().to_path_buf();
    let plain: Vec<&FileSpec> =
        files.iter().filter(|f| f.symlink.is_none() && f.hardlink.is_none()).collect();
    for f in &plain {
        create_entry(&root, f)?;
    }
    let links: Vec<&FileSpec> =
        files.iter().filter(|f| f.symlink.is_some() || f.hardlink.is_some()).collect();
    create_links(&root, &links);

    if let Some(lc) = &fx.ldconfig {
        let Some(ldconfig) = host_ldconfig() else {
            return Ok(Built::Skipped("no host ldconfig".into()));
        };
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let out = std::process::Command::new(ldconfig)
            .arg("-r")
            .arg(&root)
            .args(["-X", "-i", "-c", lc.format.as_deref().unwrap_or("new")])
            .output()
            .map_err(|e| format!("ldconfig: {e}"))?;
        let cache = root.join("etc/ld.so.cache");
        if !out.status.success() || !cache.is_file() {
            return Err(format!(
                "ldconfig -r failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if let Some(to) = &lc.move_to {
            check_no_symlink_ancestor(&root, to);
            let dest = host_path(&root, to);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::rename(&cache, dest).unwrap();
        }
    }
    let after_plain: Vec<&FileSpec> =
        fx.after_ldconfig.iter().filter(|f| f.symlink.is_none() && f.hardlink.is_none()).collect();
    for f in &after_plain {
        create_entry(&root, f)?;
    }
    let after_links: Vec<&FileSpec> =
        fx.after_ldconfig.iter().filter(|f| f.symlink.is_some() || f.hardlink.is_some()).collect();
    create_links(&root, &after_links);
    Ok(Built::Ready(tmp))
}

pub fn tree_args(root: &Path, fx: &Fixture, case: &Case) -> Vec<String> {
    let mut a = vec![
        "tree".to_string(),
        "--root".to_string(),
        root.to_string_lossy().into_owned(),
        "--json".to_string(),
    ];
    a.extend(fx.args.iter().cloned());
    a.extend(case.args.iter().cloned());
    a.push(case.file.clone());
    a
}

fn fmt_opt(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("{s:?}"),
        None => "null".into(),
    }
}

/// Check one `tree` case; returns the list of problems (empty = pass).
pub fn check_case(root: &Path, fx: &Fixture, case: &Case) -> Vec<String> {
    let args = tree_args(root, fx, case);
    let out = run_graft(&args, default_timeout());
    let mut probs = Vec::new();
    let ctx = |out: &RunOutput| {
        format!(
            "\n    command: graft {}\n    {}",
            args[1..].join(" "),
            out.describe().replace('\n', "\n    ")
        )
    };
    if out.timed_out {
        probs.push(format!("timed out{}", ctx(&out)));
        return probs;
    }
    if out.panicked() {
        probs.push(format!("panicked{}", ctx(&out)));
        return probs;
    }
    let exits = if case.exit_one_of.is_empty() { vec![case.exit] } else { case.exit_one_of.clone() };
    if !out.code.is_some_and(|c| exits.contains(&c)) {
        probs.push(format!("exit {:?}, expected {exits:?}", out.code));
    }
    let json: Value = match serde_json::from_str(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            probs.push(format!("stdout is not JSON ({e}){}", ctx(&out)));
            return probs;
        }
    };
    let objects = json["objects"].as_array().cloned().unwrap_or_default();
    let obj = objects
        .iter()
        .find(|o| o["path"].as_str() == Some(case.file.as_str()))
        .or_else(|| (objects.len() == 1).then(|| &objects[0]));
    let Some(obj) = obj else {
        probs.push(format!("no object for {}{}", case.file, ctx(&out)));
        return probs;
    };
    let deps: BTreeMap<String, Option<String>> = obj["deps"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string))).collect())
        .unwrap_or_default();
    // Exact key set: expect ∪ one_of.
    for (k, want) in &case.expect {
        match deps.get(k) {
            None => probs.push(format!("dep {k}: missing, expected {}", fmt_opt(want))),
            Some(got) if got != want => {
                probs.push(format!("dep {k}: got {}, expected {}", fmt_opt(got), fmt_opt(want)))
            }
            _ => {}
        }
    }
    for (k, wants) in &case.one_of {
        match deps.get(k) {
            None => probs.push(format!("dep {k}: missing, expected one of {wants:?}")),
            Some(got) if !wants.contains(got) => {
                probs.push(format!("dep {k}: got {}, expected one of {wants:?}", fmt_opt(got)))
            }
            _ => {}
        }
    }
    for (k, v) in &deps {
        if !case.expect.contains_key(k) && !case.one_of.contains_key(k) {
            probs.push(format!("dep {k}: unexpected (got {})", fmt_opt(v)));
        }
    }
    let errors = obj["errors"].as_array().cloned().unwrap_or_default();
    // Every null dep must come with an errors entry naming it.
    for (k, v) in &deps {
        if v.is_none() && !errors.iter().any(|e| e["name"].as_str() == Some(k)) {
            probs.push(format!("dep {k} is null but no errors entry names it"));
        }
    }
    for ee in &case.errors {
        let matching: Vec<&Value> =
            errors.iter().filter(|e| e["name"].as_str() == Some(ee.name.as_str())).collect();
        if matching.is_empty() {
            probs.push(format!("no errors entry for {}", ee.name));
            continue;
        }
        let ok = matching.iter().any(|e| {
            let reason = e["reason"].as_str().unwrap_or("");
            ee.reason_contains.iter().all(|s| reason.contains(s.as_str()))
                && ee.requested_by.as_ref().is_none_or(|r| e["requested_by"].as_str() == Some(r.as_str()))
        });
        if !ok {
            probs.push(format!(
                "errors entry for {}: want reason containing {:?}{}, got {}",
                ee.name,
                ee.reason_contains,
                ee.requested_by.as_ref().map(|r| format!(" requested_by {r}")).unwrap_or_default(),
                Value::Array(matching.into_iter().cloned().collect())
            ));
        }
    }
    let warnings: Vec<String> = obj["warnings"]
        .as_array()
        .map(|a| a.iter().map(|w| w.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default();
    match case.warnings.as_deref() {
        Some("nonempty") if warnings.is_empty() => probs.push("expected warnings, got none".into()),
        Some("empty") if !warnings.is_empty() => {
            probs.push(format!("expected no warnings, got {warnings:?}"))
        }
        _ => {}
    }
    for w in &case.warnings_contain {
        if !warnings.iter().any(|x| x.contains(w.as_str())) {
            probs.push(format!("no warning contains {w:?}; warnings: {warnings:?}"));
        }
    }
    if let Some(a) = &case.arch
        && obj["arch"].as_str() != Some(a.as_str())
    {
        probs.push(format!("arch {}, expected {a}", obj["arch"]));
    }
    if let Some(want) = case.object_error {
        let has = !obj["error"].is_null();
        if has != want {
            probs.push(format!("object error = {}, expected set: {want}", obj["error"]));
        }
    }
    if !probs.is_empty() {
        probs.push(format!("context:{}", ctx(&out)));
    }
    probs
}

/// True when every key of `want` is in `got` with an equal value (recursively for objects).
pub fn json_subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            w.iter().all(|(k, v)| g.get(k).is_some_and(|gv| json_subset(v, gv)))
        }
        _ => want == got,
    }
}

pub fn check_inspect(root: &Path, ic: &InspectCase) -> Vec<String> {
    let hp = host_path(root, &ic.file);
    let args = vec!["inspect".to_string(), hp.to_string_lossy().into_owned(), "--json".to_string()];
    let out = run_graft(&args, default_timeout());
    let mut probs = Vec::new();
    if out.timed_out || out.panicked() {
        probs.push(format!("timed out or panicked: {}", out.describe()));
        return probs;
    }
    if out.code != Some(ic.exit) {
        probs.push(format!("exit {:?}, expected {}", out.code, ic.exit));
    }
    for s in &ic.stderr_contains {
        if !out.stderr.contains(s.as_str()) {
            probs.push(format!("stderr lacks {s:?}"));
        }
    }
    if let Some(want) = &ic.expect {
        match serde_json::from_str::<Value>(&out.stdout) {
            Ok(got) => {
                if !json_subset(want, &got) {
                    probs.push(format!("JSON mismatch: want ⊆ {want}\n got {got}"));
                }
            }
            Err(e) => probs.push(format!("stdout not JSON: {e}")),
        }
    }
    if !probs.is_empty() {
        probs.push(format!(
            "context: graft inspect {} --json\n    {}",
            ic.file,
            out.describe().replace('\n', "\n    ")
        ));
    }
    probs
}
