//! `graft plan` decisions on small synthetic host and runtime trees: the rules of issue 3
//! ("Decide, per ABI, with a reason for every library"), the acceptance fixtures of issue 4 and
//! the contract's JSON shape (../shared/CONTRACT.md).
//!
//! Each test writes a host tree and a runtime tree (x86_64 and i386 ELF files from
//! `tests/common/elf.rs`, a dynamic loader at the ABI's interpreter path, a libc.so.6 with
//! `GLIBC_2.x` version definitions, Debian multiarch directories, and an ld.so.cache from
//! `tests/common/cache.rs` or none), runs the built `graft plan --format json` on them with a
//! deadline, and compares exact values. Expected values follow from the issue's rules and the
//! trees, never from graft's output.
//!
//! Every plan is also checked for least privilege ([`check_invariants`]): each bind mount's source
//! is an existing regular file on this machine, inside the host tree or the staging directory; each
//! destination is under /overrides/ or is the runtime's real loader file; every generated file
//! exists in the staging directory.
//!
//!     cargo test --test plan_rules
//!     GRAFT_KEEP_FIXTURES=1 cargo test --test plan_rules   # keep the trees in target/tmp

mod common;

use common::trees::{I386, ICD_DIR, Tree, X64, X64_LIB, X64_OVR, graft, two_abi_host};
use common::{RunOutput, TempDir, default_timeout, is_root, no_panic_no_hang, run_graft};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Running graft plan

struct PlanRun {
    out: RunOutput,
    plan: Value,
    staging: PathBuf,
    _staging_dir: TempDir,
}

impl PlanRun {
    fn ctx(&self) -> String {
        self.out.describe()
    }

    /// The one `libraries[]` entry for (soname, arch).
    fn lib(&self, soname: &str, arch: &str) -> &Value {
        let found: Vec<&Value> = self.plan["libraries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["soname"] == soname && l["arch"] == arch)
            .collect();
        assert_eq!(found.len(), 1, "libraries[] entries for {soname} {arch}: {found:?}\n{}", self.ctx());
        found[0]
    }

    fn sonames(&self, arch: &str) -> BTreeSet<String> {
        self.plan["libraries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["arch"] == arch)
            .map(|l| l["soname"].as_str().unwrap().to_string())
            .collect()
    }

    /// The one `drivers[]` entry for (name, arch).
    fn driver(&self, name: &str, arch: &str) -> &Value {
        let found: Vec<&Value> = self.plan["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["name"] == name && d["arch"] == arch)
            .collect();
        assert_eq!(found.len(), 1, "drivers[] entries for {name} {arch}: {found:?}\n{}", self.ctx());
        found[0]
    }

    fn issues(&self) -> Vec<(String, String, String)> {
        self.plan["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["severity"].as_str().unwrap().to_string(),
                    i["code"].as_str().unwrap().to_string(),
                    i["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Issues other than `info`, as (severity, code).
    fn problems(&self) -> Vec<(String, String)> {
        self.issues().into_iter().filter(|(s, _, _)| s != "info").map(|(s, c, _)| (s, c)).collect()
    }

    /// The issue with this severity and code whose message contains every string.
    fn expect_issue(&self, severity: &str, code: &str, contains: &[&str]) {
        let ok = self
            .issues()
            .iter()
            .any(|(s, c, m)| s == severity && c == code && contains.iter().all(|w| m.contains(w)));
        assert!(ok, "no {severity} issue {code} whose message contains {contains:?}\n{}", self.ctx());
    }

    /// (source, destination) of every bind mount.
    fn binds(&self) -> BTreeSet<(String, String)> {
        self.plan["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "bind")
            .map(|m| {
                (m["source"].as_str().unwrap().to_string(), m["destination"].as_str().unwrap().to_string())
            })
            .collect()
    }

    fn env(&self) -> BTreeMap<String, String> {
        self.plan["env"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    }

    /// The staged copy of a generated file, by its container path under /overrides.
    fn staged(&self, container: &str) -> Value {
        let rel = container.strip_prefix("/overrides/").unwrap();
        let p = self.staging.join(rel);
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}\n{}", p.display(), self.ctx()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", p.display()))
    }
}

/// Runs `graft plan --format json` on the two trees; expects exit 0 and JSON, and checks the
/// least-privilege invariants.
fn plan(host: &Tree, runtime: &Tree, extra: &[&str]) -> PlanRun {
    let staging_dir = TempDir::new("staging");
    let staging = staging_dir.path().join("stage");
    let mut args: Vec<String> = vec![
        "plan".into(),
        "--runtime".into(),
        runtime.root().display().to_string(),
        "--host".into(),
        host.root().display().to_string(),
        "--staging".into(),
        staging.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = graft("graft plan", &args);
    assert_eq!(out.code, Some(0), "graft plan: expected exit 0\n{}", out.describe());
    let plan: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("graft plan: stdout is not JSON ({e})\n{}", out.describe()));
    let run = PlanRun { out, plan, staging, _staging_dir: staging_dir };
    check_invariants(&run, host, runtime);
    run
}

/// Case 7, least privilege, for every plan: every bind mount's source is an existing regular file
/// (not a directory, not a symlink) in the host tree or the staging directory; every destination
/// is under /overrides/ or is the runtime's real interpreter file; every staged file exists.
fn check_invariants(run: &PlanRun, host: &Tree, runtime: &Tree) {
    let ctx = || run.ctx();
    assert_eq!(run.plan["version"], 1, "{}", ctx());
    assert_eq!(run.plan["host"], host.canonical_root().display().to_string(), "{}", ctx());
    assert_eq!(run.plan["runtime"], runtime.canonical_root().display().to_string(), "{}", ctx());
    let host_root = host.canonical_root();
    let loaders: Vec<String> = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux.so.2"]
        .iter()
        .filter_map(|p| in_root_real_path(runtime.root(), p))
        .collect();
    let mounts = run.plan["mounts"].as_array().expect("mounts[]");
    assert_eq!(
        mounts.first().map(|m| (m["type"].clone(), m["destination"].clone())),
        Some((json!("tmpfs"), json!("/overrides"))),
        "the first mount is the /overrides tmpfs\n{}",
        ctx()
    );
    let mut destinations = BTreeSet::new();
    for m in mounts {
        let dest = m["destination"].as_str().unwrap();
        assert!(destinations.insert(dest.to_string()), "destination {dest} mounted twice\n{}", ctx());
        if m["type"] != "bind" {
            assert_eq!(m["type"], "tmpfs", "mount {m}\n{}", ctx());
            continue;
        }
        let src = m["source"].as_str().unwrap();
        let meta = std::fs::symlink_metadata(src)
            .unwrap_or_else(|e| panic!("bind source {src} does not exist: {e}\n{}", ctx()));
        assert!(
            meta.is_file(),
            "bind source {src} is not a regular file ({:?})\n{}",
            meta.file_type(),
            ctx()
        );
        let p = Path::new(src);
        assert!(
            p.starts_with(&host_root) || p.starts_with(&run.staging),
            "bind source {src} is neither in the host tree nor in staging\n{}",
            ctx()
        );
        assert!(
            dest.starts_with("/overrides/") || loaders.iter().any(|l| l == dest),
            "bind destination {dest} is outside /overrides and not the runtime's loader {loaders:?}\n{}",
            ctx()
        );
        assert!(
            m["options"].as_array().unwrap().iter().any(|o| o == "ro"),
            "bind {src} -> {dest} is not read-only\n{}",
            ctx()
        );
        if p.starts_with(&run.staging) {
            let rel = p.strip_prefix(&run.staging).unwrap();
            assert_eq!(dest, format!("/overrides/{}", rel.display()), "staged file placement\n{}", ctx());
        }
    }
}

/// The in-root path `p` with every symlink resolved inside `root` (absolute targets relative to
/// the root, `..` stopping at it), as the runtime's own loader sees it; `None` when it does not
/// exist.
fn in_root_real_path(root: &Path, p: &str) -> Option<String> {
    let mut todo: Vec<String> = p.split('/').filter(|c| !c.is_empty()).rev().map(String::from).collect();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        cur.push(c);
        let here = root.join(cur.join("/"));
        let meta = std::fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = std::fs::read_link(&here).ok()?.display().to_string();
            cur.pop();
            if target.starts_with('/') {
                cur.clear();
            }
            todo.extend(target.split('/').filter(|c| !c.is_empty()).rev().map(String::from));
        }
    }
    Some(format!("/{}", cur.join("/")))
}

/// Asserts every listed field of a `libraries[]` or `drivers[]` entry.
fn assert_fields(what: &str, got: &Value, want: Value, run: &PlanRun) {
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&got[k], v, "{what}: field {k}\n entry: {got:#}\n{}", run.ctx());
    }
}

fn assert_reason_contains(what: &str, got: &Value, parts: &[&str], run: &PlanRun) {
    let reason = got["reason"].as_str().unwrap_or_default();
    for p in parts {
        assert!(reason.contains(p), "{what}: reason {reason:?} lacks {p:?}\n{}", run.ctx());
    }
}

fn host_file(host: &Tree, p: &str) -> String {
    host.canonical_root().join(p.trim_start_matches('/')).display().to_string()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Case 1: absent, version definitions, file name, runtime newer

/// Host glibc 2.31 and runtime glibc 2.36 (so glibc stays the runtime's), and one Vulkan ICD
/// whose closure holds one library per rule.
fn rules_trees() -> (Tree, Tree) {
    let host = Tree::new("rules-host");
    host.glibc("x86_64", "2.31");
    host.lib("x86_64", X64_LIB, "libabsent.so.1.0.0", json!({"soname": "libabsent.so.1"}));
    host.lib(
        "x86_64",
        X64_LIB,
        "libfoo.so.1.0.0",
        json!({"soname": "libfoo.so.1", "verdefs": ["FOO_1.0", "FOO_1.1", "FOO_1.2"]}),
    );
    host.lib("x86_64", X64_LIB, "libbar.so.1.10.0", json!({"soname": "libbar.so.1"}));
    host.lib(
        "x86_64",
        X64_LIB,
        "libnewer.so.1.0.0",
        json!({"soname": "libnewer.so.1", "verdefs": ["NEW_1"]}),
    );
    host.lib("x86_64", X64_LIB, "libqux.so.1.2.3", json!({"soname": "libqux.so.1"}));
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_x.so",
        json!({"soname": "libvulkan_x.so",
               "needed": ["libabsent.so.1", "libfoo.so.1", "libbar.so.1", "libnewer.so.1", "libqux.so.1", "libc.so.6"],
               "verneeds": [{"file": "libfoo.so.1", "versions": ["FOO_1.0"]},
                            {"file": "libnewer.so.1", "versions": ["NEW_1"]},
                            {"file": "libc.so.6", "versions": ["GLIBC_2.2.5"]}]}),
    );
    host.icd("x.json", "libvulkan_x.so").write_cache();

    let rt = Tree::new("rules-runtime");
    rt.glibc("x86_64", "2.36");
    rt.lib(
        "x86_64",
        X64_LIB,
        "libfoo.so.1.0.0",
        json!({"soname": "libfoo.so.1", "verdefs": ["FOO_1.0", "FOO_1.1"]}),
    );
    rt.lib("x86_64", X64_LIB, "libbar.so.1.2.3", json!({"soname": "libbar.so.1"}));
    rt.lib(
        "x86_64",
        X64_LIB,
        "libnewer.so.1.0.0",
        json!({"soname": "libnewer.so.1", "verdefs": ["NEW_1", "NEW_2"]}),
    );
    rt.lib("x86_64", X64_LIB, "libqux.so.1.10.0", json!({"soname": "libqux.so.1"}));
    // No ld.so.cache in the runtime: graft emulates ldconfig over the system directories.
    (host, rt)
}

#[test]
fn case1_absent_versions_file_name_and_runtime_newer() {
    let (host, rt) = rules_trees();
    let run = plan(&host, &rt, &[]);
    assert_eq!(run.plan["architectures"], json!([X64]), "{}", run.ctx());
    assert_eq!(
        run.sonames(X64),
        set(&[
            "ld-linux-x86-64.so.2",
            "libabsent.so.1",
            "libbar.so.1",
            "libc.so.6",
            "libfoo.so.1",
            "libnewer.so.1",
            "libqux.so.1"
        ]),
        "{}",
        run.ctx()
    );
    let at = |s: &str| format!("{X64_LIB}/{s}");
    let ovr = |s: &str| format!("{X64_OVR}/{s}");
    assert_fields(
        "libabsent.so.1",
        run.lib("libabsent.so.1", X64),
        json!({"chosen": "host", "rule": "absent", "reason": "absent from the runtime",
               "host_path": at("libabsent.so.1"), "runtime_path": null,
               "container_path": ovr("libabsent.so.1")}),
        &run,
    );
    assert_fields(
        "libfoo.so.1",
        run.lib("libfoo.so.1", X64),
        json!({"chosen": "host", "rule": "version-definitions",
               "reason": "host defines FOO_1.2 that the runtime lacks",
               "host_path": at("libfoo.so.1"), "runtime_path": at("libfoo.so.1"),
               "container_path": ovr("libfoo.so.1")}),
        &run,
    );
    assert_fields(
        "libbar.so.1",
        run.lib("libbar.so.1", X64),
        json!({"chosen": "host", "rule": "file-name",
               "reason": "host libbar.so.1.10.0 is newer than runtime libbar.so.1.2.3",
               "host_path": at("libbar.so.1"), "runtime_path": at("libbar.so.1"),
               "container_path": ovr("libbar.so.1")}),
        &run,
    );
    assert_fields(
        "libnewer.so.1",
        run.lib("libnewer.so.1", X64),
        json!({"chosen": "runtime", "rule": "version-definitions",
               "reason": "runtime defines NEW_2 that the host lacks",
               "host_path": at("libnewer.so.1"), "runtime_path": at("libnewer.so.1"),
               "container_path": at("libnewer.so.1")}),
        &run,
    );
    assert_fields(
        "libqux.so.1",
        run.lib("libqux.so.1", X64),
        json!({"chosen": "runtime", "rule": "file-name",
               "reason": "runtime libqux.so.1.10.0 is newer than host libqux.so.1.2.3",
               "runtime_path": at("libqux.so.1"), "container_path": at("libqux.so.1")}),
        &run,
    );
    assert_fields(
        "libc.so.6",
        run.lib("libc.so.6", X64),
        json!({"chosen": "runtime", "rule": "glibc",
               "reason": "runtime glibc GLIBC_2.36 is newer than host GLIBC_2.31",
               "host_path": "/lib/x86_64-linux-gnu/libc.so.6",
               "runtime_path": "/lib/x86_64-linux-gnu/libc.so.6",
               "container_path": "/lib/x86_64-linux-gnu/libc.so.6"}),
        &run,
    );
    let ld = run.lib("ld-linux-x86-64.so.2", X64);
    assert_fields("ld-linux-x86-64.so.2", ld, json!({"chosen": "runtime", "rule": "glibc"}), &run);
    assert_reason_contains("ld-linux-x86-64.so.2", ld, &["libc.so.6", "GLIBC_2.36"], &run);

    assert_fields(
        "x.json",
        run.driver("x.json", X64),
        json!({"kind": "vulkan-icd", "status": "ok", "reason": "",
               "manifest": format!("{ICD_DIR}/x.json"), "library": at("libvulkan_x.so"),
               "container_path": ovr("libvulkan_x.so")}),
        &run,
    );
    assert_eq!(run.plan["drivers"].as_array().unwrap().len(), 1, "{}", run.ctx());
    assert_eq!(run.problems(), vec![], "{}", run.ctx());

    // Exactly the host files chosen, each bound on its own, plus the rewritten manifest.
    let staged = run.staging.join("share/vulkan/icd.d/x.json").display().to_string();
    let want: BTreeSet<(String, String)> = [
        (host_file(&host, &at("libabsent.so.1.0.0")), ovr("libabsent.so.1")),
        (host_file(&host, &at("libfoo.so.1.0.0")), ovr("libfoo.so.1")),
        (host_file(&host, &at("libbar.so.1.10.0")), ovr("libbar.so.1")),
        (host_file(&host, &at("libvulkan_x.so")), ovr("libvulkan_x.so")),
        (staged, "/overrides/share/vulkan/icd.d/x.json".to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(run.binds(), want, "{}", run.ctx());
    let icd_files = "/overrides/share/vulkan/icd.d/x.json".to_string();
    let want_env: BTreeMap<String, String> = [
        ("LD_LIBRARY_PATH".to_string(), X64_OVR.to_string()),
        ("VK_DRIVER_FILES".to_string(), icd_files.clone()),
        ("VK_ICD_FILENAMES".to_string(), icd_files),
    ]
    .into_iter()
    .collect();
    assert_eq!(run.env(), want_env, "{}", run.ctx());
    // A bare SONAME in the manifest is found through LD_LIBRARY_PATH: it stays bare.
    assert_eq!(
        run.staged("/overrides/share/vulkan/icd.d/x.json"),
        json!({"file_format_version": "1.0.0", "ICD": {"library_path": "libvulkan_x.so", "api_version": "1.3.0"}}),
        "{}",
        run.ctx()
    );
}

/// An EGL vendor manifest in /usr/share/glvnd/egl_vendor.d is planned like an ICD.
#[test]
fn case1_egl_vendor_manifest() {
    let host = Tree::new("egl-host");
    host.glibc("x86_64", "2.36");
    host.lib("x86_64", X64_LIB, "libfoo.so.1.0.0", json!({"soname": "libfoo.so.1", "verdefs": ["FOO_1"]}));
    host.lib(
        "x86_64",
        X64_LIB,
        "libEGL_x.so.0.0.0",
        json!({"soname": "libEGL_x.so.0", "needed": ["libfoo.so.1", "libc.so.6"],
               "verneeds": [{"file": "libfoo.so.1", "versions": ["FOO_1"]}]}),
    );
    host.text(
        "/usr/share/glvnd/egl_vendor.d/50_x.json",
        r#"{"file_format_version": "1.0.0", "ICD": {"library_path": "libEGL_x.so.0"}}"#,
    );
    host.write_cache();
    let rt = Tree::new("egl-runtime");
    rt.glibc("x86_64", "2.36").write_cache();
    let run = plan(&host, &rt, &[]);
    assert_fields(
        "50_x.json",
        run.driver("50_x.json", X64),
        json!({"kind": "egl-vendor", "status": "ok", "reason": "",
               "manifest": "/usr/share/glvnd/egl_vendor.d/50_x.json",
               "container_path": format!("{X64_OVR}/libEGL_x.so.0")}),
        &run,
    );
    assert_fields(
        "libfoo.so.1",
        run.lib("libfoo.so.1", X64),
        json!({"chosen": "host", "rule": "absent", "runtime_path": null}),
        &run,
    );
    let manifest = "/overrides/share/glvnd/egl_vendor.d/50_x.json";
    assert_eq!(
        run.env().get("__EGL_VENDOR_LIBRARY_FILENAMES").map(String::as_str),
        Some(manifest),
        "{}",
        run.ctx()
    );
    assert_eq!(run.staged(manifest)["ICD"]["library_path"], "libEGL_x.so.0", "{}", run.ctx());
    let b = (host_file(&host, &format!("{X64_LIB}/libEGL_x.so.0.0.0")), format!("{X64_OVR}/libEGL_x.so.0"));
    assert!(run.binds().contains(&b), "no bind {b:?}\n{}", run.ctx());
    assert_eq!(run.problems(), vec![], "{}", run.ctx());
}

// ---------------------------------------------------------------------------------------------
// Case 2: glibc rule, the family follows, the loader bound over the runtime's real loader file

/// Host glibc `host_rel`, runtime glibc `rt_rel`; an ICD needing libstdc++ (newer on the host by
/// GLIBCXX definitions), libm and libc.
fn glibc_trees(host_rel: &str, rt_rel: &str, host_cache: bool) -> (Tree, Tree) {
    let host = Tree::new("glibc-host");
    host.glibc("x86_64", host_rel);
    host.lib(
        "x86_64",
        X64_LIB,
        "libstdc++.so.6.0.30",
        json!({"soname": "libstdc++.so.6", "needed": ["libm.so.6", "libc.so.6"],
               "verdefs": ["GLIBCXX_3.4", "GLIBCXX_3.4.28", "GLIBCXX_3.4.29", "GLIBCXX_3.4.30", "CXXABI_1.3"],
               "verneeds": [{"file": "libc.so.6", "versions": ["GLIBC_2.2.5"]}]}),
    );
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_x.so",
        json!({"soname": "libvulkan_x.so", "needed": ["libstdc++.so.6", "libm.so.6", "libc.so.6"],
               "verneeds": [{"file": "libstdc++.so.6", "versions": ["GLIBCXX_3.4.29"]},
                            {"file": "libm.so.6", "versions": ["GLIBC_2.2.5"]},
                            {"file": "libc.so.6", "versions": ["GLIBC_2.2.5", "GLIBC_2.29"]}]}),
    );
    host.text(&format!("{X64_LIB}/gconv/gconv-modules"), "module INTERNAL UTF-16// UTF-16 1\n");
    host.elf(&format!("{X64_LIB}/gconv/UTF-16.so"), json!({"arch": "x86_64", "needed": ["libc.so.6"]}));
    host.icd("x.json", "libvulkan_x.so");
    if host_cache {
        host.write_cache();
    }
    let rt = Tree::new("glibc-runtime");
    rt.glibc("x86_64", rt_rel);
    rt.lib(
        "x86_64",
        X64_LIB,
        "libstdc++.so.6.0.28",
        json!({"soname": "libstdc++.so.6", "needed": ["libm.so.6", "libc.so.6"],
               "verdefs": ["GLIBCXX_3.4", "GLIBCXX_3.4.28", "CXXABI_1.3"]}),
    );
    rt.write_cache();
    (host, rt)
}

#[test]
fn case2_host_glibc_newer_family_follows_and_loader_is_bound() {
    let (host, rt) = glibc_trees("2.41", "2.31", true);
    let run = plan(&host, &rt, &[]);
    let why = "host glibc GLIBC_2.41 is newer than runtime GLIBC_2.31";
    let family = format!("glibc family follows libc.so.6: {why}");
    assert_fields(
        "libc.so.6",
        run.lib("libc.so.6", X64),
        json!({"chosen": "host", "rule": "glibc", "reason": why,
               "host_path": "/lib/x86_64-linux-gnu/libc.so.6", "runtime_path": "/lib/x86_64-linux-gnu/libc.so.6",
               "container_path": format!("{X64_OVR}/libc.so.6")}),
        &run,
    );
    // libm is in the closure, libpthread only in the host's cache: both follow libc.
    for soname in ["libm.so.6", "libpthread.so.0"] {
        assert_fields(
            soname,
            run.lib(soname, X64),
            json!({"chosen": "host", "rule": "glibc", "reason": family,
                   "host_path": format!("/lib/x86_64-linux-gnu/{soname}"),
                   "runtime_path": format!("/lib/x86_64-linux-gnu/{soname}"),
                   "container_path": format!("{X64_OVR}/{soname}")}),
            &run,
        );
    }
    let ld = run.lib("ld-linux-x86-64.so.2", X64);
    assert_fields("ld-linux-x86-64.so.2", ld, json!({"chosen": "host", "rule": "glibc"}), &run);
    assert_reason_contains("ld-linux-x86-64.so.2", ld, &["libc.so.6", "GLIBC_2.41"], &run);
    assert_fields(
        "libstdc++.so.6",
        run.lib("libstdc++.so.6", X64),
        json!({"chosen": "host", "rule": "version-definitions",
               "reason": "host defines GLIBCXX_3.4.29..3.4.30 that the runtime lacks",
               "container_path": format!("{X64_OVR}/libstdc++.so.6")}),
        &run,
    );
    assert_eq!(
        run.sonames(X64),
        set(&["ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libpthread.so.0", "libstdc++.so.6"]),
        "{}",
        run.ctx()
    );
    // The host loader over the runtime's real loader file (/lib64/ld-linux-x86-64.so.2 ->
    // /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 -> ld-2.31.so).
    let binds = run.binds();
    let loader_bind = (
        host_file(&host, "/lib/x86_64-linux-gnu/ld-2.41.so"),
        "/lib/x86_64-linux-gnu/ld-2.31.so".to_string(),
    );
    assert!(binds.contains(&loader_bind), "no bind {loader_bind:?}\n{}", run.ctx());
    for (soname, real) in [
        ("libc.so.6", "libc-2.41.so"),
        ("libm.so.6", "libm-2.41.so"),
        ("libpthread.so.0", "libpthread-2.41.so"),
    ] {
        let b = (host_file(&host, &format!("/lib/x86_64-linux-gnu/{real}")), format!("{X64_OVR}/{soname}"));
        assert!(binds.contains(&b), "no bind {b:?}\n{}", run.ctx());
    }
    // No other mount outside /overrides.
    let outside: Vec<&(String, String)> =
        binds.iter().filter(|(_, d)| !d.starts_with("/overrides/")).collect();
    assert_eq!(outside, vec![&loader_bind], "{}", run.ctx());
    // gconv modules come along, each file on its own.
    for name in ["gconv-modules", "UTF-16.so"] {
        let b = (host_file(&host, &format!("{X64_LIB}/gconv/{name}")), format!("{X64_OVR}/gconv/{name}"));
        assert!(binds.contains(&b), "no bind {b:?}\n{}", run.ctx());
    }
    let env = run.env();
    assert_eq!(
        env.get("GCONV_PATH").map(String::as_str),
        Some(&*format!("{X64_OVR}/gconv")),
        "{}",
        run.ctx()
    );
    assert_eq!(env.get("LD_LIBRARY_PATH").map(String::as_str), Some(X64_OVR), "{}", run.ctx());
    assert_eq!(run.driver("x.json", X64)["status"], "ok", "{}", run.ctx());
    run.expect_issue("info", "host-glibc", &[X64]);
    assert_eq!(run.problems(), vec![], "{}", run.ctx());
}

#[test]
fn case2_host_glibc_family_without_host_cache() {
    // The same with no ld.so.cache on the host: the emulated ldconfig index still lists the family.
    let (host, rt) = glibc_trees("2.41", "2.31", false);
    let run = plan(&host, &rt, &[]);
    assert_fields(
        "libpthread.so.0",
        run.lib("libpthread.so.0", X64),
        json!({"chosen": "host", "rule": "glibc"}),
        &run,
    );
    let loader_bind = (
        host_file(&host, "/lib/x86_64-linux-gnu/ld-2.41.so"),
        "/lib/x86_64-linux-gnu/ld-2.31.so".to_string(),
    );
    assert!(run.binds().contains(&loader_bind), "no bind {loader_bind:?}\n{}", run.ctx());
}

#[test]
fn case2_runtime_glibc_newer_whole_family_stays() {
    let (host, rt) = glibc_trees("2.31", "2.41", true);
    let run = plan(&host, &rt, &[]);
    let why = "runtime glibc GLIBC_2.41 is newer than host GLIBC_2.31";
    assert_fields(
        "libc.so.6",
        run.lib("libc.so.6", X64),
        json!({"chosen": "runtime", "rule": "glibc", "reason": why,
               "container_path": "/lib/x86_64-linux-gnu/libc.so.6"}),
        &run,
    );
    assert_fields(
        "libm.so.6",
        run.lib("libm.so.6", X64),
        json!({"chosen": "runtime", "rule": "glibc", "reason": format!("glibc family follows libc.so.6: {why}"),
               "container_path": "/lib/x86_64-linux-gnu/libm.so.6"}),
        &run,
    );
    assert_fields(
        "ld-linux-x86-64.so.2",
        run.lib("ld-linux-x86-64.so.2", X64),
        json!({"chosen": "runtime", "rule": "glibc"}),
        &run,
    );
    // Not in any closure and glibc stays the runtime's: libpthread is not listed.
    assert_eq!(
        run.sonames(X64),
        set(&["ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libstdc++.so.6"]),
        "{}",
        run.ctx()
    );
    for (src, dest) in run.binds() {
        assert!(
            dest.starts_with("/overrides/"),
            "bind {src} -> {dest} with the runtime's glibc\n{}",
            run.ctx()
        );
        assert!(!src.contains("gconv") && !src.contains("ld-2."), "glibc file {src} imported\n{}", run.ctx());
    }
    assert!(!run.env().contains_key("GCONV_PATH"), "{}", run.ctx());
    assert!(!run.issues().iter().any(|(_, c, _)| c == "host-glibc"), "{}", run.ctx());
    assert_eq!(run.driver("x.json", X64)["status"], "ok", "{}", run.ctx());
    assert_eq!(run.problems(), vec![], "{}", run.ctx());
}

// ---------------------------------------------------------------------------------------------
// Case 3: the satisfaction rule switches a choice

#[test]
fn case3_newer_by_file_name_lacks_needed_version_and_the_choice_switches() {
    let host = Tree::new("satisfy-host");
    host.glibc("x86_64", "2.36");
    // libbaz: the runtime's copy is newer by file name (1.10 > 1.2) and neither version set
    // contains the other, but only the host's defines BAZ_2, which the driver needs.
    host.lib(
        "x86_64",
        X64_LIB,
        "libbaz.so.1.2",
        json!({"soname": "libbaz.so.1", "verdefs": ["BAZ_1", "BAZ_2"]}),
    );
    // libzap: the host's copy is newer by file name, but a runtime library needs ZAP_OLD, which
    // only the runtime's copy defines.
    host.lib(
        "x86_64",
        X64_LIB,
        "libzap.so.1.5",
        json!({"soname": "libzap.so.1", "verdefs": ["ZAP_1", "ZAP_NEW"]}),
    );
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_x.so",
        json!({"soname": "libvulkan_x.so", "needed": ["libbaz.so.1", "libzap.so.1", "libc.so.6"],
               "verneeds": [{"file": "libbaz.so.1", "versions": ["BAZ_1", "BAZ_2"]},
                            {"file": "libzap.so.1", "versions": ["ZAP_1"]}]}),
    );
    host.icd("x.json", "libvulkan_x.so").write_cache();

    let rt = Tree::new("satisfy-runtime");
    rt.glibc("x86_64", "2.31");
    rt.lib(
        "x86_64",
        X64_LIB,
        "libbaz.so.1.10",
        json!({"soname": "libbaz.so.1", "verdefs": ["BAZ_1", "BAZ_3"]}),
    );
    rt.lib(
        "x86_64",
        X64_LIB,
        "libzap.so.1.2",
        json!({"soname": "libzap.so.1", "verdefs": ["ZAP_1", "ZAP_OLD"]}),
    );
    rt.lib(
        "x86_64",
        X64_LIB,
        "libuser.so.1.0",
        json!({"soname": "libuser.so.1", "needed": ["libzap.so.1", "libc.so.6"],
               "verneeds": [{"file": "libzap.so.1", "versions": ["ZAP_OLD"]}]}),
    );
    rt.write_cache();

    let run = plan(&host, &rt, &[]);
    let baz = run.lib("libbaz.so.1", X64);
    assert_fields(
        "libbaz.so.1",
        baz,
        json!({"chosen": "host", "rule": "satisfaction",
               "host_path": format!("{X64_LIB}/libbaz.so.1"), "runtime_path": format!("{X64_LIB}/libbaz.so.1"),
               "container_path": format!("{X64_OVR}/libbaz.so.1")}),
        &run,
    );
    assert_reason_contains("libbaz.so.1", baz, &[&format!("{X64_LIB}/libvulkan_x.so"), "BAZ_2"], &run);
    let zap = run.lib("libzap.so.1", X64);
    assert_fields(
        "libzap.so.1",
        zap,
        json!({"chosen": "runtime", "rule": "satisfaction", "container_path": format!("{X64_LIB}/libzap.so.1")}),
        &run,
    );
    assert_reason_contains("libzap.so.1", zap, &[&format!("{X64_LIB}/libuser.so.1"), "ZAP_OLD"], &run);
    assert!(
        run.binds().contains(&(
            host_file(&host, &format!("{X64_LIB}/libbaz.so.1.2")),
            format!("{X64_OVR}/libbaz.so.1")
        )),
        "{}",
        run.ctx()
    );
    assert!(!run.binds().iter().any(|(_, d)| d.ends_with("/libzap.so.1")), "{}", run.ctx());
    assert_fields("x.json", run.driver("x.json", X64), json!({"status": "ok", "reason": ""}), &run);
    assert_eq!(run.problems(), vec![], "{}", run.ctx());
}

// ---------------------------------------------------------------------------------------------
// Case 4: a version neither side provides

#[test]
fn case4_version_neither_side_provides() {
    let host = Tree::new("unsat-host");
    host.glibc("x86_64", "2.36");
    host.lib("x86_64", X64_LIB, "libfoo.so.1.0.0", json!({"soname": "libfoo.so.1", "verdefs": ["FOO_1"]}));
    host.lib(
        "x86_64",
        X64_LIB,
        "libqux.so.1.0.0",
        json!({"soname": "libqux.so.1", "verdefs": ["QUX_1", "QUX_2"]}),
    );
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_x.so",
        json!({"soname": "libvulkan_x.so", "needed": ["libfoo.so.1", "libc.so.6"],
               "verneeds": [{"file": "libfoo.so.1", "versions": ["FOO_1"]}]}),
    );
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_y.so",
        json!({"soname": "libvulkan_y.so", "needed": ["libqux.so.1", "libc.so.6"],
               "verneeds": [{"file": "libqux.so.1", "versions": ["QUX_1", "QUX_3"]}]}),
    );
    host.icd("x.json", "libvulkan_x.so").icd("y.json", "libvulkan_y.so").write_cache();
    let rt = Tree::new("unsat-runtime");
    rt.glibc("x86_64", "2.36");
    rt.lib("x86_64", X64_LIB, "libqux.so.1.0.0", json!({"soname": "libqux.so.1", "verdefs": ["QUX_1"]}));
    rt.write_cache();

    let run = plan(&host, &rt, &[]);
    let y = run.driver("y.json", X64);
    assert_fields("y.json", y, json!({"kind": "vulkan-icd", "status": "unusable"}), &run);
    assert_reason_contains("y.json", y, &["QUX_3", "libqux.so.1"], &run);
    assert_fields(
        "x.json",
        run.driver("x.json", X64),
        json!({"kind": "vulkan-icd", "status": "ok", "reason": ""}),
        &run,
    );
    // The unusable module is not imported; the usable one is.
    let binds = run.binds();
    assert!(!binds.iter().any(|(_, d)| d.contains("libvulkan_y")), "{}", run.ctx());
    assert!(binds.contains(&(
        host_file(&host, &format!("{X64_LIB}/libvulkan_x.so")),
        format!("{X64_OVR}/libvulkan_x.so")
    )));
    assert_eq!(
        run.env().get("VK_DRIVER_FILES").map(String::as_str),
        Some("/overrides/share/vulkan/icd.d/x.json")
    );
    // Issue 3: "if no copy satisfies it, the needing module is unusable with the missing version
    // in the reason, and the plan carries an error issue"; issue 4 asks for an exact code.
    run.expect_issue("error", "version-unsatisfied", &["QUX_3"]);
}

/// The host's copy lacks a version the driver needs and the runtime's copy (newer, a strict
/// superset) defines it: a copy satisfies the need, so by the satisfaction rule the driver works
/// with the runtime's copy; it is not unusable and there is no error.
#[test]
fn case4_host_copy_lacks_version_that_the_runtime_copy_defines() {
    let host = Tree::new("rt-sat-host");
    host.glibc("x86_64", "2.36");
    host.lib("x86_64", X64_LIB, "libqux.so.1.0.0", json!({"soname": "libqux.so.1", "verdefs": ["QUX_1"]}));
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_y.so",
        json!({"soname": "libvulkan_y.so", "needed": ["libqux.so.1", "libc.so.6"],
               "verneeds": [{"file": "libqux.so.1", "versions": ["QUX_1", "QUX_3"]}]}),
    );
    host.icd("y.json", "libvulkan_y.so").write_cache();
    let rt = Tree::new("rt-sat-runtime");
    rt.glibc("x86_64", "2.36");
    rt.lib(
        "x86_64",
        X64_LIB,
        "libqux.so.1.0.0",
        json!({"soname": "libqux.so.1", "verdefs": ["QUX_1", "QUX_3"]}),
    );
    rt.write_cache();

    let run = plan(&host, &rt, &[]);
    assert_fields("y.json", run.driver("y.json", X64), json!({"status": "ok", "reason": ""}), &run);
    assert_fields(
        "libqux.so.1",
        run.lib("libqux.so.1", X64),
        json!({"chosen": "runtime", "rule": "version-definitions",
               "reason": "runtime defines QUX_3 that the host lacks",
               "container_path": format!("{X64_LIB}/libqux.so.1")}),
        &run,
    );
    assert_eq!(run.problems(), vec![], "{}", run.ctx());
}

// ---------------------------------------------------------------------------------------------
// Case 5: closure complete on x86_64, broken on i386

#[test]
fn case5_complete_on_x86_64_broken_on_i386() {
    let host = two_abi_host("i386-broken-host", false);
    let rt = Tree::new("i386-broken-runtime");
    rt.glibc("x86_64", "2.31").glibc("i386", "2.31").write_cache();

    let run = plan(&host, &rt, &[]);
    assert_eq!(run.plan["architectures"], json!([X64, I386]), "{}", run.ctx());
    assert_fields(
        "x.json x86_64",
        run.driver("x.json", X64),
        json!({"kind": "vulkan-icd", "status": "ok", "reason": "",
               "container_path": format!("{X64_OVR}/libvulkan_x.so")}),
        &run,
    );
    let i = run.driver("x.json", I386);
    assert_fields("x.json i386", i, json!({"kind": "vulkan-icd", "status": "unusable"}), &run);
    assert_reason_contains("x.json i386", i, &["libfoo.so.1"], &run);
    assert_fields(
        "libfoo.so.1 x86_64",
        run.lib("libfoo.so.1", X64),
        json!({"chosen": "host", "rule": "absent", "container_path": format!("{X64_OVR}/libfoo.so.1")}),
        &run,
    );
    assert!(!run.sonames(I386).contains("libfoo.so.1"), "{}", run.ctx());
    let i386_module = format!("/overrides/lib/{I386}/libvulkan_x.so");
    assert!(!run.binds().iter().any(|(_, d)| *d == i386_module), "{}", run.ctx());
    run.expect_issue("warning", "driver-unusable", &[I386, "x.json", "libfoo.so.1"]);
    assert!(
        !run.issues().iter().any(|(_, _, m)| m.contains(X64) && m.contains("x.json")),
        "an issue blames the x86_64 driver\n{}",
        run.ctx()
    );
}

/// With no usable i386 module (and no i386 loader library), no i386 library is in the closure of
/// an imported module, so nothing is decided or imported for i386: issue 3 decides "every library
/// in the closure of an imported module", and the contract's `libraries` lists "every SONAME in
/// the closure of any imported module". In particular the host's i386 glibc (newer here) must not
/// be imported, nor its loader bound over the runtime's.
#[test]
fn case5_nothing_usable_on_i386_imports_nothing_for_i386() {
    let host = two_abi_host("i386-none-host", false);
    let rt = Tree::new("i386-none-runtime");
    rt.glibc("x86_64", "2.31").glibc("i386", "2.31").write_cache();
    let run = plan(&host, &rt, &[]);
    assert_eq!(run.driver("x.json", I386)["status"], "unusable", "{}", run.ctx());
    assert_eq!(
        run.sonames(I386),
        set(&[]),
        "i386 libraries decided with no i386 module imported\n{}",
        run.ctx()
    );
    for (src, dest) in run.binds() {
        assert!(
            !dest.starts_with("/overrides/lib/i386-linux-gnu/") && !dest.starts_with("/lib/i386-linux-gnu/"),
            "i386 bind {src} -> {dest} with no i386 module imported\n{}",
            run.ctx()
        );
    }
    assert_eq!(run.env().get("LD_LIBRARY_PATH").map(String::as_str), Some(X64_OVR), "{}", run.ctx());
}

#[test]
fn case5_control_both_abis_complete() {
    let host = two_abi_host("i386-ok-host", true);
    let rt = Tree::new("i386-ok-runtime");
    rt.glibc("x86_64", "2.31").glibc("i386", "2.31").write_cache();
    let run = plan(&host, &rt, &[]);
    for arch in [X64, I386] {
        assert_fields(
            "x.json",
            run.driver("x.json", arch),
            json!({"status": "ok", "container_path": format!("/overrides/lib/{arch}/libvulkan_x.so")}),
            &run,
        );
        assert_fields(
            "libfoo.so.1",
            run.lib("libfoo.so.1", arch),
            json!({"chosen": "host", "rule": "absent"}),
            &run,
        );
    }
    assert_eq!(
        run.env().get("LD_LIBRARY_PATH").map(String::as_str),
        Some("/overrides/lib/x86_64-linux-gnu:/overrides/lib/i386-linux-gnu"),
        "{}",
        run.ctx()
    );
    assert_eq!(run.problems(), vec![], "{}", run.ctx());
}

// ---------------------------------------------------------------------------------------------
// Case 6: bad input

fn plan_raw(host: &Path, runtime: &Path, staging: &Path) -> RunOutput {
    let args = [
        "plan".to_string(),
        "--runtime".into(),
        runtime.display().to_string(),
        "--host".into(),
        host.display().to_string(),
        "--staging".into(),
        staging.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    run_graft(&args, default_timeout())
}

fn simple_host(label: &str) -> Tree {
    let host = Tree::new(label);
    host.glibc("x86_64", "2.36");
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_x.so",
        json!({"soname": "libvulkan_x.so", "needed": ["libc.so.6"]}),
    );
    host.icd("x.json", "libvulkan_x.so");
    host
}

#[test]
fn case6_missing_runtime_or_host_directory() {
    let host = simple_host("missing-rt-host");
    host.write_cache();
    let gone = TempDir::new("gone");
    let staging = TempDir::new("staging");
    let missing = gone.path().join("no-such-runtime");
    for (what, h, r, named) in [
        ("missing runtime", host.root().to_path_buf(), missing.clone(), missing.clone()),
        ("missing host", missing.clone(), host.root().to_path_buf(), missing.clone()),
        (
            "runtime is a file",
            host.root().to_path_buf(),
            host.path("/etc/ld.so.cache"),
            host.path("/etc/ld.so.cache"),
        ),
    ] {
        let out = plan_raw(&h, &r, &staging.path().join("s"));
        no_panic_no_hang(what, &out);
        assert_eq!(out.code, Some(2), "{what}: expected exit 2\n{}", out.describe());
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: expected one stderr line\n{}", out.describe());
        assert!(
            lines[0].contains(&*named.display().to_string()),
            "{what}: stderr does not name {}\n{}",
            named.display(),
            out.describe()
        );
        assert!(out.stdout.is_empty(), "{what}: a plan was printed\n{}", out.describe());
    }
}

#[test]
fn case6_runtime_without_i386_loader_skips_i386() {
    let host = two_abi_host("no-i386-host", true);
    let rt = Tree::new("no-i386-runtime");
    rt.glibc("x86_64", "2.31").write_cache();
    let run = plan(&host, &rt, &[]);
    assert_eq!(run.plan["architectures"], json!([X64]), "{}", run.ctx());
    run.expect_issue("warning", "abi-skipped", &[I386, "runtime", "/lib/ld-linux.so.2"]);
    assert_eq!(run.driver("x.json", X64)["status"], "ok", "{}", run.ctx());
    assert!(run.plan["drivers"].as_array().unwrap().iter().all(|d| d["arch"] == X64), "{}", run.ctx());
    assert!(run.sonames(I386).is_empty(), "{}", run.ctx());
    assert!(run.out.stderr.contains("abi-skipped"), "the warning is not on stderr\n{}", run.ctx());

    // A file of the wrong class at the i386 interpreter path is no i386 loader either.
    let rt2 = Tree::new("wrong-i386-runtime");
    rt2.glibc("x86_64", "2.31");
    rt2.elf("/lib/ld-linux.so.2", json!({"arch": "x86_64", "soname": "ld-linux.so.2"}));
    rt2.write_cache();
    let run = plan(&host, &rt2, &[]);
    assert_eq!(run.plan["architectures"], json!([X64]), "{}", run.ctx());
    run.expect_issue("warning", "abi-skipped", &[I386]);
}

#[test]
fn case6_unparsable_manifest_and_text_library() {
    let host = simple_host("bad-manifest-host");
    host.text(
        &format!("{ICD_DIR}/bad.json"),
        "{\"file_format_version\": \"1.0.0\", \"ICD\": {\"library_path\": ",
    );
    host.text(&format!("{ICD_DIR}/shape.json"), "{\"file_format_version\": \"1.0.0\", \"ICD\": [1, 2]}");
    host.text(&format!("{X64_LIB}/libvulkan_text.so"), "this is not an ELF file\n");
    host.icd("text.json", &format!("{X64_LIB}/libvulkan_text.so"));
    host.write_cache();
    let rt = Tree::new("bad-manifest-runtime");
    rt.glibc("x86_64", "2.31").write_cache();

    let run = plan(&host, &rt, &[]);
    for name in ["bad.json", "shape.json"] {
        let d = run.driver(name, X64);
        assert_fields(name, d, json!({"kind": "vulkan-icd", "status": "unusable"}), &run);
        let path = format!("{ICD_DIR}/{name}");
        assert!(
            d["reason"].as_str().unwrap().starts_with(&path),
            "{name}: reason does not start with the manifest path {path}\n{}",
            run.ctx()
        );
    }
    let t = run.driver("text.json", X64);
    assert_fields("text.json", t, json!({"kind": "vulkan-icd", "status": "unusable"}), &run);
    assert_reason_contains("text.json", t, &[&format!("{X64_LIB}/libvulkan_text.so")], &run);
    assert_fields("x.json", run.driver("x.json", X64), json!({"status": "ok", "reason": ""}), &run);
    assert!(!run.binds().iter().any(|(s, _)| s.contains("libvulkan_text")), "{}", run.ctx());
    for name in ["bad.json", "shape.json", "text.json"] {
        run.expect_issue("warning", "driver-unusable", &[name]);
    }
    assert_eq!(
        run.env().get("VK_DRIVER_FILES").map(String::as_str),
        Some("/overrides/share/vulkan/icd.d/x.json")
    );
}

#[test]
fn case6_unreadable_manifest_and_library() {
    let host = simple_host("unreadable-host");
    // A manifest graft must never open (a FIFO would block a reader forever).
    let fifo = host.path(&format!("{ICD_DIR}/fifo.json"));
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // Mode 0: unreadable for anyone but root.
    host.icd("locked.json", "libvulkan_locked.so");
    host.mode(&format!("{ICD_DIR}/locked.json"), 0);
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_locked.so",
        json!({"soname": "libvulkan_locked.so", "needed": ["libc.so.6"]}),
    );
    // An unreadable library behind a readable manifest.
    host.lib(
        "x86_64",
        X64_LIB,
        "libvulkan_nolib.so",
        json!({"soname": "libvulkan_nolib.so", "needed": ["libc.so.6"]}),
    );
    host.mode(&format!("{X64_LIB}/libvulkan_nolib.so"), 0);
    host.icd("nolib.json", &format!("{X64_LIB}/libvulkan_nolib.so"));
    host.write_cache();
    let rt = Tree::new("unreadable-runtime");
    rt.glibc("x86_64", "2.31").write_cache();

    let run = plan(&host, &rt, &[]);
    let f = run.driver("fifo.json", X64);
    assert_fields("fifo.json", f, json!({"status": "unusable"}), &run);
    assert!(f["reason"].as_str().unwrap().starts_with(&format!("{ICD_DIR}/fifo.json")), "{}", run.ctx());
    assert_fields("x.json", run.driver("x.json", X64), json!({"status": "ok"}), &run);
    if is_root() {
        // Root reads mode-0 files: both are honest, working drivers then.
        println!("running as root: mode-0 files are readable; checking they are planned as usable");
        assert_fields("locked.json", run.driver("locked.json", X64), json!({"status": "ok"}), &run);
        assert_fields("nolib.json", run.driver("nolib.json", X64), json!({"status": "ok"}), &run);
    } else {
        let l = run.driver("locked.json", X64);
        assert_fields("locked.json", l, json!({"status": "unusable"}), &run);
        assert!(
            l["reason"].as_str().unwrap().starts_with(&format!("{ICD_DIR}/locked.json")),
            "{}",
            run.ctx()
        );
        let n = run.driver("nolib.json", X64);
        assert_fields("nolib.json", n, json!({"status": "unusable"}), &run);
        assert_reason_contains("nolib.json", n, &["libvulkan_nolib.so"], &run);
    }
}

// ---------------------------------------------------------------------------------------------
// Case 8: the other formats render the same plan

fn plan_format(host: &Tree, rt: &Tree, staging: &Path, format: &[&str]) -> RunOutput {
    let mut args: Vec<String> = vec![
        "plan".into(),
        "--runtime".into(),
        rt.root().display().to_string(),
        "--host".into(),
        host.root().display().to_string(),
        "--staging".into(),
        staging.display().to_string(),
    ];
    args.extend(format.iter().map(|s| s.to_string()));
    let out = run_graft(&args, default_timeout());
    no_panic_no_hang(&format.join(" "), &out);
    assert_eq!(out.code, Some(0), "{format:?}\n{}", out.describe());
    out
}

#[test]
fn case8_render_formats_carry_the_same_plan() {
    // The host-glibc trees: a loader bind outside /overrides, gconv, several variables.
    let (host, rt) = glibc_trees("2.41", "2.31", true);
    let run = plan(&host, &rt, &[]);
    let staging = run.staging.clone();
    let mounts = run.plan["mounts"].as_array().unwrap().clone();
    let env = run.env();

    let mut want: Vec<String> = Vec::new();
    for m in &mounts {
        let s = |k: &str| m[k].as_str().unwrap().to_string();
        if m["type"] == "tmpfs" {
            want.extend(["--tmpfs".into(), s("destination")]);
        } else {
            want.extend(["--ro-bind".into(), s("source"), s("destination")]);
        }
    }
    for s in run.plan["symlinks"].as_array().unwrap() {
        want.extend([
            "--symlink".into(),
            s["target"].as_str().unwrap().into(),
            s["link"].as_str().unwrap().into(),
        ]);
    }
    for (k, v) in &env {
        want.extend(["--setenv".into(), k.clone(), v.clone()]);
    }
    assert_eq!(&want[..2], ["--tmpfs", "/overrides"]);

    let out = plan_format(&host, &rt, &staging, &["--format", "bwrap"]);
    assert!(out.stdout.ends_with('\n') && !out.stdout.contains('\0'), "{}", out.describe());
    let lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    assert_eq!(lines, want, "--format bwrap\n{}", out.describe());

    let out = plan_format(&host, &rt, &staging, &["--format", "bwrap", "-0"]);
    assert!(out.stdout.ends_with('\0') && !out.stdout.contains('\n'), "{}", out.describe());
    let args: Vec<String> = out.stdout.trim_end_matches('\0').split('\0').map(str::to_string).collect();
    assert_eq!(args, want, "--format bwrap -0\n{}", out.describe());

    let out = plan_format(&host, &rt, &staging, &["--format", "env"]);
    let want_env: Vec<String> = env.iter().map(|(k, v)| format!("export {k}='{v}'")).collect();
    assert_eq!(out.stdout.lines().map(str::to_string).collect::<Vec<_>>(), want_env, "{}", out.describe());

    let env_list: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let triples = |list: &[Value], src: &str, dst: &str| -> Vec<(Value, Value, Value)> {
        list.iter().map(|m| (m[src].clone(), m[dst].clone(), m["type"].clone())).collect()
    };
    let want_mounts = triples(&mounts, "source", "destination");

    let out = plan_format(&host, &rt, &staging, &["--format", "oci"]);
    let oci: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("oci: {e}\n{}", out.describe()));
    assert_eq!(triples(oci["mounts"].as_array().unwrap(), "source", "destination"), want_mounts);
    for m in oci["mounts"].as_array().unwrap().iter().filter(|m| m["type"] == "bind") {
        assert!(m["options"].as_array().unwrap().contains(&json!("ro")), "oci mount {m}");
    }
    let oci_env: Vec<String> =
        oci["process"]["env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(oci_env, env_list, "{}", out.describe());

    let out = plan_format(&host, &rt, &staging, &["--format", "cdi"]);
    let cdi: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("cdi: {e}\n{}", out.describe()));
    let edits = &cdi["containerEdits"];
    assert_eq!(triples(edits["mounts"].as_array().unwrap(), "hostPath", "containerPath"), want_mounts);
    let cdi_env: Vec<String> =
        edits["env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(cdi_env, env_list, "{}", out.describe());
    assert!(cdi["cdiVersion"].is_string() && cdi["kind"].is_string(), "{}", out.describe());

    // -o FILE writes the same JSON plan to the file and nothing to stdout.
    let dest = staging.parent().unwrap().join("plan.json");
    let out = plan_format(&host, &rt, &staging, &["--format", "json", "-o", &dest.display().to_string()]);
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&dest).unwrap()).unwrap();
    assert_eq!(written["mounts"], run.plan["mounts"]);
    assert_eq!(written["libraries"], run.plan["libraries"]);

    // -o into a directory that does not exist: exit 2, one line naming the file.
    let missing = staging.parent().unwrap().join("no-such-dir/plan.json");
    let (rt_root, host_root) = (rt.root().display().to_string(), host.root().display().to_string());
    let (staging_dir, dest) = (staging.display().to_string(), missing.display().to_string());
    let args = ["plan", "--runtime", &rt_root, "--host", &host_root, "--staging", &staging_dir, "-o", &dest];
    let out = run_graft(&args.map(String::from), default_timeout());
    no_panic_no_hang("-o missing dir", &out);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let line = format!("graft: {}: No such file or directory", missing.display());
    assert!(out.stderr.lines().any(|l| l.starts_with(&line)), "{}", out.describe());
}

/// NVIDIA's libraries that its GLX/EGL/Vulkan libraries `dlopen` (named by no DT_NEEDED) come
/// along once an NVIDIA module is imported, those of the same driver version only: a file of an
/// older driver left on disk is not imported (bug classes, "NVIDIA").
#[test]
fn nvidia_dlopened_userspace_of_the_same_version_only() {
    let host = Tree::new("nvidia-host");
    host.glibc("x86_64", "2.36");
    let dir = format!("/usr/lib/{X64}");
    host.lib(
        "x86_64",
        &dir,
        "libGLX_nvidia.so.535.1.2",
        json!({"soname": "libGLX_nvidia.so.0", "needed": ["libc.so.6"]}),
    )
    .lib("x86_64", &dir, "libnvidia-glcore.so.535.1.2", json!({"soname": "libnvidia-glcore.so.535.1.2"}))
    .lib("x86_64", &dir, "libnvidia-eglcore.so.535.1.2", json!({"soname": "libnvidia-eglcore.so.535.1.2"}))
    .lib("x86_64", &dir, "libnvidia-glcore.so.470.9.9", json!({"soname": "libnvidia-glcore.so.470.9.9"}))
    .lib("x86_64", &dir, "libnvidia-egl-wayland.so.1.1.10", json!({"soname": "libnvidia-egl-wayland.so.1"}))
    .icd("nvidia_icd.json", "libGLX_nvidia.so.0")
    .write_cache();
    let rt = Tree::new("nvidia-runtime");
    rt.glibc("x86_64", "2.31").write_cache();

    let run = plan(&host, &rt, &[]);
    assert_fields("nvidia_icd.json", run.driver("nvidia_icd.json", X64), json!({"status": "ok"}), &run);
    let libs = run.sonames(X64);
    for lib in ["libnvidia-glcore.so.535.1.2", "libnvidia-eglcore.so.535.1.2", "libnvidia-egl-wayland.so.1"] {
        assert!(libs.contains(lib), "{lib} not imported\n{}", run.ctx());
        assert_fields(lib, run.lib(lib, X64), json!({"chosen": "host", "rule": "driver"}), &run);
    }
    assert!(
        !libs.contains("libnvidia-glcore.so.470.9.9"),
        "a stale driver version was imported\n{}",
        run.ctx()
    );
    check_invariants(&run, &host, &rt);
}
