//! Acceptance of `graft check` and `graft why` on the real test bed (issue 4): runtime =
//! bullseye, host = trixie with Mesa 25. A second host is a hard-linked copy of the first with the
//! i386 libLLVM removed (the test bed itself is never changed).
//!
//! Without the test bed a test prints a skip line and passes, unless `GRAFT_REQUIRE_TESTBED=1`.

mod common;

use common::testbed::{is_built, skip_or_fail, testbed_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn testbed() -> Option<(PathBuf, PathBuf)> {
    let dir = testbed_dir();
    let (runtime, host) = (dir.join("runtime"), dir.join("host"));
    if is_built(&runtime) && is_built(&host) {
        return Some((runtime, host));
    }
    skip_or_fail(
        "GRAFT_REQUIRE_TESTBED=1 but the test bed is not built (scripts/testbed.sh)",
        "acceptance_check: skipped, test bed not built (scripts/testbed.sh)",
    );
    None
}

fn scratch(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("acceptance-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn graft(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_graft")).args(args).output().expect("run graft");
    let o = Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!o.stderr.contains("panicked"), "graft panicked: {}", o.stderr);
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn check_runtime_pair_has_no_error() {
    let Some((runtime, host)) = testbed() else { return };
    let staging = scratch("ok");
    let out =
        graft(&["check", "--runtime", s(&runtime), "--host", s(&host), "--staging", s(&staging), "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).expect("check --json");
    let errors: Vec<&Value> =
        v["issues"].as_array().unwrap().iter().filter(|i| i["severity"] == "error").collect();
    for sum in v["summaries"].as_array().unwrap() {
        println!("check {}: {} ok, {} unusable", sum["arch"], sum["ok"], sum["unusable"]);
    }
    assert_eq!(out.code, Some(0), "errors: {errors:#?}");
    assert!(errors.is_empty());
    let archs: Vec<&str> =
        v["summaries"].as_array().unwrap().iter().map(|s| s["arch"].as_str().unwrap()).collect();
    assert_eq!(archs, ["x86_64-linux-gnu", "i386-linux-gnu"]);
    for arch in archs {
        let lvp = v["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["arch"] == arch && d["kind"] == "vulkan-icd" && d["name"] == "lvp_icd.json")
            .unwrap_or_else(|| panic!("no lavapipe for {arch}"));
        assert_eq!(lvp["status"], "ok");
    }
    std::fs::remove_dir_all(staging).ok();
}

#[test]
fn check_names_missing_i386_llvm_and_keeps_x86_64() {
    let Some((runtime, host)) = testbed() else { return };
    let dir = scratch("nollvm");
    let copy = dir.join("host");
    // A hard-linked copy costs no space; deleting one link leaves the test bed untouched.
    let cp = Command::new("cp").arg("-al").arg(&host).arg(&copy).status().expect("cp");
    assert!(cp.success(), "cp -al {} {} failed (needs one filesystem)", host.display(), copy.display());
    std::fs::remove_file(copy.join("usr/lib/i386-linux-gnu/libLLVM.so.19.1")).unwrap();
    let staging = dir.join("staging");
    let out = graft(&["check", "--runtime", s(&runtime), "--host", s(&copy), "--staging", s(&staging)]);
    println!(
        "{}",
        out.stdout
            .lines()
            .filter(|l| l.contains("error") || l.starts_with("summary"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(out.code, Some(1));
    let errors: Vec<&str> = out.stdout.lines().filter(|l| l.trim_start().starts_with("error")).collect();
    assert!(!errors.is_empty());
    for e in &errors {
        assert!(e.contains("i386-linux-gnu") && e.contains("libLLVM.so.19.1"), "{e}");
    }
    assert!(errors.iter().any(|e| e.contains("lvp_icd.json")), "lavapipe not named: {errors:#?}");
    let json =
        graft(&["check", "--runtime", s(&runtime), "--host", s(&copy), "--staging", s(&staging), "--json"]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    let drivers = v["drivers"].as_array().unwrap();
    assert!(drivers.iter().filter(|d| d["arch"] == "x86_64-linux-gnu").all(|d| d["status"] == "ok"));
    let lvp386 = drivers
        .iter()
        .find(|d| d["arch"] == "i386-linux-gnu" && d["name"] == "lvp_icd.json")
        .expect("i386 lavapipe listed");
    assert_eq!(lvp386["status"], "unusable");
    assert!(lvp386["reason"].as_str().unwrap().contains("libLLVM.so.19.1"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn why_libstdcxx_names_the_deciding_versions() {
    let Some((runtime, host)) = testbed() else { return };
    let staging = scratch("why");
    let out = graft(&[
        "why",
        "libstdc++.so.6",
        "--runtime",
        s(&runtime),
        "--host",
        s(&host),
        "--staging",
        s(&staging),
    ]);
    println!("{}", out.stdout);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for arch in ["x86_64-linux-gnu", "i386-linux-gnu"] {
        assert!(out.stdout.contains(&format!("libstdc++.so.6 [{arch}]: host (version-definitions)")));
    }
    assert!(out.stdout.contains("GLIBCXX_3.4.29..3.4.33"), "{}", out.stdout);
    assert!(out.stdout.contains("libstdc++.so.6.0.33") && out.stdout.contains("libstdc++.so.6.0.28"));
    let json = graft(&[
        "why",
        "libstdc++.so.6",
        "--runtime",
        s(&runtime),
        "--host",
        s(&host),
        "--staging",
        s(&staging),
        "--json",
    ]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    let d = &v["decisions"][0];
    assert_eq!(d["rule"], "version-definitions");
    assert!(d["needed_by"].as_array().unwrap().iter().any(|n| {
        n["only_chosen"].as_array().unwrap().iter().any(|x| x.as_str().unwrap().starts_with("GLIBCXX_3.4.3"))
    }));
    std::fs::remove_dir_all(staging).ok();
}

#[test]
fn check_on_this_machine_never_exits_2() {
    let out = graft(&["check"]);
    println!("{}", out.stdout.lines().last().unwrap_or(""));
    assert!(matches!(out.code, Some(0) | Some(1)), "exit {:?}: {}", out.code, out.stderr);
    assert!(out.stdout.contains("summary:"));
}

#[test]
fn nvidia_host_brings_its_dlopened_userspace_and_verifies() {
    let Some((runtime, host)) = testbed() else { return };
    let nvidia = host.with_file_name("host-nvidia");
    if !nvidia.join(".graft-testbed").is_file() {
        assert!(std::env::var("GRAFT_REQUIRE_TESTBED").as_deref() != Ok("1"), "host-nvidia is not built");
        println!("nvidia: skipped, host-nvidia not built");
        return;
    }
    let staging = scratch("nvidia");
    let out = graft(&["plan", "--runtime", s(&runtime), "--host", s(&nvidia), "--staging", s(&staging)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    for arch in ["x86_64-linux-gnu", "i386-linux-gnu"] {
        let host_libs: Vec<&str> = v["libraries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["arch"] == arch && l["chosen"] == "host")
            .map(|l| l["soname"].as_str().unwrap())
            .collect();
        // Loaded with dlopen by libGLX_nvidia / libEGL_nvidia, named by no DT_NEEDED.
        for lib in
            ["libnvidia-eglcore.so.535.261.03", "libnvidia-glvkspirv.so.535.261.03", "libGLX_nvidia.so.0"]
        {
            assert!(host_libs.contains(&lib), "{arch}: {lib} not imported: {host_libs:?}");
        }
        let icd = v["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["arch"] == arch && d["name"] == "nvidia_icd.json")
            .unwrap_or_else(|| panic!("{arch}: no nvidia_icd.json"));
        assert_eq!(icd["status"], "ok");
        println!("nvidia {arch}: {} host libraries, nvidia_icd.json ok", host_libs.len());
    }
    let check = graft(&["check", "--runtime", s(&runtime), "--host", s(&nvidia), "--staging", s(&staging)]);
    println!("{}", check.stdout.lines().last().unwrap_or(""));
    assert_eq!(check.code, Some(0), "{}", check.stdout);
    std::fs::remove_dir_all(staging).ok();
}
