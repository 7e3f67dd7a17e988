//! Acceptance of `graft plan` and `graft run` on the real test bed (issue 3): host = trixie with
//! Mesa 25 (`host`), runtime = bullseye with Mesa 20.3.5 (`runtime`), both built by
//! `scripts/testbed.sh`, which also installs the probes (`probes/*.c`) into the runtime's
//! `/usr/local/bin` as `vkprobe-{x86_64,i386}` and `eglprobe-{x86_64,i386}`.
//!
//! Each check runs a program twice where that makes sense: in the bare runtime (bubblewrap with
//! the runtime as `/`, nothing imported) and through `graft run`, and prints the figures it saw.
//! The glxinfo check starts its own Xvfb server.
//!
//! Without the test bed, the probes, bwrap (or Xvfb for the glxinfo check) a test prints a skip
//! line and passes, unless `GRAFT_REQUIRE_TESTBED=1`. `GRAFT_ACCEPTANCE_TIMEOUT` (seconds, default
//! 120) bounds every command; `GRAFT_KEEP_FIXTURES` keeps the staging directories.

mod common;

use common::Watched;
use common::testbed::{ABIS, is_built, skip_or_fail, testbed_dir, tool_present};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PROBES: [&str; 4] = ["vkprobe-x86_64", "vkprobe-i386", "eglprobe-x86_64", "eglprobe-i386"];

/// Variables that would steer the graphics stack of a child; removed from every command so the
/// results depend only on the trees and on what graft sets.
const SCRUBBED_ENV: [&str; 20] = [
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "LIBGL_DRIVERS_PATH",
    "LIBGL_ALWAYS_SOFTWARE",
    "LIBGL_ALWAYS_INDIRECT",
    "MESA_LOADER_DRIVER_OVERRIDE",
    "GALLIUM_DRIVER",
    "VK_ICD_FILENAMES",
    "VK_DRIVER_FILES",
    "VK_ADD_DRIVER_FILES",
    "VK_LAYER_PATH",
    "VK_ADD_LAYER_PATH",
    "VK_INSTANCE_LAYERS",
    "VK_LOADER_LAYERS_ENABLE",
    "__EGL_VENDOR_LIBRARY_FILENAMES",
    "__EGL_VENDOR_LIBRARY_DIRS",
    "__GLX_VENDOR_LIBRARY_NAME",
    "EGL_PLATFORM",
    "DISPLAY",
    "WAYLAND_DISPLAY",
];

// ---------------------------------------------------------------------------------------------
// Test bed discovery

/// Fails the test under `GRAFT_REQUIRE_TESTBED=1`, else prints a skip line.
fn skip(test: &str, why: &str) {
    skip_or_fail(&format!("{test}: GRAFT_REQUIRE_TESTBED=1 but {why}"), &format!("{test}: skipped, {why}"));
}

struct Bed {
    runtime: PathBuf,
    host: PathBuf,
}

/// The test bed, or `None` (after [`skip`]) when something it needs is missing.
fn bed(test: &str) -> Option<Bed> {
    let dir = testbed_dir();
    let bed = Bed { runtime: dir.join("runtime"), host: dir.join("host") };
    for (name, root) in [("runtime", &bed.runtime), ("host", &bed.host)] {
        if !is_built(root) {
            skip(
                test,
                &format!("sysroot '{name}' is not built at {} (run scripts/testbed.sh)", root.display()),
            );
            return None;
        }
    }
    for probe in PROBES {
        let p = bed.runtime.join("usr/local/bin").join(probe);
        if !p.is_file() {
            skip(test, &format!("probe {} is missing (run scripts/testbed.sh probes)", p.display()));
            return None;
        }
    }
    if !tool_present("bwrap") {
        skip(test, "bwrap is not installed (apt-get install bubblewrap)");
        return None;
    }
    Some(bed)
}

// ---------------------------------------------------------------------------------------------
// Running commands

fn timeout() -> Duration {
    let s = std::env::var("GRAFT_ACCEPTANCE_TIMEOUT").ok().and_then(|v| v.parse().ok()).unwrap_or(120);
    Duration::from_secs(s)
}

struct Out {
    what: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
    elapsed: Duration,
}

impl Out {
    fn describe(&self) -> String {
        format!(
            "{}\nexit={:?} timed_out={} elapsed={:.2?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.code,
            self.timed_out,
            self.elapsed,
            clip(&self.stdout, 6000),
            clip(&self.stderr, 4000)
        )
    }

    fn ok(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// The rest of the first stdout line starting with `prefix`.
    fn field(&self, prefix: &str) -> Option<&str> {
        self.stdout.lines().find_map(|l| l.strip_prefix(prefix)).map(str::trim)
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} more bytes]", &s[..end], s.len() - end)
}

/// Runs `cmd` with no stdin and the graphics environment scrubbed (then `env` applied), killing
/// it when the deadline passes.
fn run(mut cmd: Command, env: &[(&str, &str)]) -> Out {
    for v in SCRUBBED_ENV {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let what = format!(
        "$ {}{} {}",
        env.iter().map(|(k, v)| format!("{k}={v} ")).collect::<String>(),
        cmd.get_program().to_string_lossy(),
        cmd.get_args().map(|a| format!("{:?}", a.to_string_lossy())).collect::<Vec<_>>().join(" ")
    );
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut watched = Watched::new(child);
    let (status, timed_out) = watched.wait(start, timeout(), Duration::from_millis(10));
    let (stdout, stderr) = watched.output();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    Out { what, code: status.code(), stdout, stderr, timed_out, elapsed: start.elapsed() }
}

/// A per-test staging directory under Cargo's target/tmp, removed on drop unless
/// `GRAFT_KEEP_FIXTURES` is set.
struct Staging(PathBuf);

impl Staging {
    fn new(label: &str) -> Staging {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("acceptance-{label}-{}-{n}", std::process::id()));
        if p.exists() {
            std::fs::remove_dir_all(&p).unwrap();
        }
        std::fs::create_dir_all(&p).unwrap();
        Staging(p)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if std::env::var_os("GRAFT_KEEP_FIXTURES").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `graft run --runtime R --host H --staging S -- argv...`
fn graft_run(bed: &Bed, label: &str, argv: &[&str], env: &[(&str, &str)]) -> Out {
    let staging = Staging::new(label);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_graft"));
    cmd.arg("run")
        .arg("--runtime")
        .arg(&bed.runtime)
        .arg("--host")
        .arg(&bed.host)
        .arg("--staging")
        .arg(&staging.0)
        .arg("--")
        .args(argv)
        .env("RUST_BACKTRACE", "0");
    run(cmd, env)
}

/// `bwrap --ro-bind R / --proc /proc --dev /dev --tmpfs /tmp [extra...] argv...`: the bare runtime.
fn bare_run(bed: &Bed, extra: &[&str], argv: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new("bwrap");
    cmd.arg("--ro-bind")
        .arg(&bed.runtime)
        .arg("/")
        .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
        .args(extra)
        .args(argv);
    run(cmd, env)
}

// ---------------------------------------------------------------------------------------------
// Vulkan probe

/// `(name, api)` of every `device: NAME api X.Y.Z` line.
fn vk_devices(out: &Out) -> Vec<(String, String)> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("device: "))
        .filter_map(|l| l.rsplit_once(" api "))
        .map(|(n, a)| (n.trim().to_string(), a.trim().to_string()))
        .collect()
}

fn vulkan_check(test: &str, arch: &str) {
    let Some(bed) = bed(test) else { return };
    let probe = format!("/usr/local/bin/vkprobe-{arch}");

    let bare = bare_run(&bed, &[], &[&probe], &[]);
    println!(
        "{test}: bare runtime: exit={:?} devices={:?} stderr={:?}",
        bare.code,
        vk_devices(&bare),
        bare.stderr.lines().last().unwrap_or("")
    );

    let via = graft_run(&bed, test, &[&probe], &[]);
    let devices = vk_devices(&via);
    println!("{test}: graft run: exit={:?} devices={devices:?}", via.code);

    assert!(
        !bare.ok() && vk_devices(&bare).is_empty(),
        "{test}: the bare runtime has no Vulkan driver, so the probe must fail there:\n{}",
        bare.describe()
    );
    assert!(via.ok(), "{test}: graft run of the Vulkan probe failed:\n{}", via.describe());
    assert!(
        devices.iter().any(|(name, api)| name.starts_with("llvmpipe (LLVM 19") && api.starts_with("1.4.")),
        "{test}: expected a device `llvmpipe (LLVM 19…)` with API 1.4.x through graft run:\n{}",
        via.describe()
    );
}

#[test]
fn vulkan_probe_x86_64_sees_host_lavapipe() {
    vulkan_check("vulkan_probe_x86_64", "x86_64");
}

#[test]
fn vulkan_probe_i386_sees_host_lavapipe() {
    vulkan_check("vulkan_probe_i386", "i386");
}

// ---------------------------------------------------------------------------------------------
// EGL probe

fn egl_check(test: &str, arch: &str) {
    let Some(bed) = bed(test) else { return };
    let probe = format!("/usr/local/bin/eglprobe-{arch}");

    let bare = bare_run(&bed, &[], &[&probe], &[]);
    println!(
        "{test}: bare runtime: exit={:?} GL_RENDERER={:?} GL_VERSION={:?}",
        bare.code,
        bare.field("GL_RENDERER:"),
        bare.field("GL_VERSION:")
    );
    let via = graft_run(&bed, test, &[&probe], &[]);
    println!(
        "{test}: graft run: exit={:?} GL_RENDERER={:?} GL_VERSION={:?}",
        via.code,
        via.field("GL_RENDERER:"),
        via.field("GL_VERSION:")
    );

    assert!(
        bare.ok() && bare.field("GL_VERSION:").is_some_and(|v| v.contains("Mesa 20.3.5")),
        "{test}: the bare runtime should give the runtime's Mesa 20.3.5:\n{}",
        bare.describe()
    );
    assert!(via.ok(), "{test}: graft run of the EGL probe failed:\n{}", via.describe());
    assert!(
        via.field("GL_VERSION:").is_some_and(|v| v.contains("Mesa 25.0")),
        "{test}: expected a GL_VERSION with `Mesa 25.0` (the host's Mesa) through graft run:\n{}",
        via.describe()
    );
}

#[test]
fn egl_probe_x86_64_gets_host_mesa() {
    egl_check("egl_probe_x86_64", "x86_64");
}

#[test]
fn egl_probe_i386_gets_host_mesa() {
    egl_check("egl_probe_i386", "i386");
}

// ---------------------------------------------------------------------------------------------
// glxinfo against Xvfb

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIGTERM: i32 = 15;

/// An Xvfb server on a free display, stopped (SIGTERM, then SIGKILL) on drop.
struct Xvfb {
    child: Child,
    display: u32,
    log: PathBuf,
}

impl Xvfb {
    fn start(log_dir: &Path) -> Result<Xvfb, String> {
        let mut tried = Vec::new();
        for display in 97..200u32 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
            let lock = PathBuf::from(format!("/tmp/.X{display}-lock"));
            if socket.exists() || lock.exists() {
                continue;
            }
            let log = log_dir.join(format!("xvfb-{display}.log"));
            let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let child = Command::new("Xvfb")
                .arg(format!(":{display}"))
                .args(["-nolisten", "tcp", "-screen", "0", "640x480x24"])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
                .stderr(log_file)
                .spawn()
                .map_err(|e| format!("cannot start Xvfb: {e}"))?;
            let mut x = Xvfb { child, display, log };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if socket.exists() {
                    return Ok(x);
                }
                if let Ok(Some(status)) = x.child.try_wait() {
                    tried.push(format!(
                        ":{display} exited ({status}): {}",
                        std::fs::read_to_string(&x.log).unwrap_or_default().trim()
                    ));
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if tried.len() >= 3 {
                break;
            }
        }
        Err(format!("no Xvfb server could be started: {tried:?}"))
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait()
            && let Ok(pid) = i32::try_from(self.child.id())
        {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe { kill(pid, SIGTERM) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{}", self.display));
            let _ = std::fs::remove_file(format!("/tmp/.X{}-lock", self.display));
        }
    }
}

/// The version strings glxinfo -B printed, for the report.
fn glx_figures(out: &Out) -> String {
    out.stdout
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("direct rendering:")
                || l.starts_with("OpenGL renderer string:")
                || (l.starts_with("OpenGL") && l.contains("version string:") && !l.contains("shading"))
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn glxinfo_through_xvfb_gets_host_mesa() {
    let test = "glxinfo_xvfb";
    let Some(bed) = bed(test) else { return };
    if !tool_present("Xvfb") {
        skip(test, "Xvfb is not installed (apt-get install xvfb)");
        return;
    }
    if !bed.runtime.join("usr/bin/glxinfo").is_file() {
        skip(test, "the runtime has no /usr/bin/glxinfo (mesa-utils)");
        return;
    }
    let logs = Staging::new("xvfb-logs");
    let xvfb = Xvfb::start(&logs.0).unwrap_or_else(|e| panic!("{test}: {e}"));
    let display = format!(":{}", xvfb.display);
    println!("{test}: Xvfb on {display}");
    let env = [("DISPLAY", display.as_str())];

    let bare = bare_run(&bed, &["--bind", "/tmp/.X11-unix", "/tmp/.X11-unix"], &["glxinfo", "-B"], &env);
    println!("{test}: bare runtime: exit={:?} {}", bare.code, glx_figures(&bare));
    let via = graft_run(&bed, test, &["glxinfo", "-B"], &env);
    println!("{test}: graft run: exit={:?} {}", via.code, glx_figures(&via));
    drop(xvfb);

    assert!(
        bare.ok() && bare.field("OpenGL version string:").is_some_and(|v| v.contains("Mesa 20.3.5")),
        "{test}: the runtime's glxinfo in the bare runtime should report Mesa 20.3.5:\n{}",
        bare.describe()
    );
    assert!(via.ok(), "{test}: graft run glxinfo -B failed:\n{}", via.describe());
    assert!(
        via.field("OpenGL version string:").is_some_and(|v| v.contains("Mesa 25.0")),
        "{test}: expected `OpenGL version string: … Mesa 25.0` through graft run:\n{}",
        via.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// graft run's exit status

#[test]
fn run_exit_status_is_commands() {
    let test = "run_exit_status";
    let Some(bed) = bed(test) else { return };
    let via = graft_run(&bed, test, &["/bin/sh", "-c", "echo out; echo err >&2; exit 7"], &[]);
    println!("{test}: graft run: exit={:?} stdout={:?} stderr={:?}", via.code, via.stdout, via.stderr);
    assert!(
        via.code == Some(7)
            && via.stdout.lines().any(|l| l == "out")
            && via.stderr.lines().any(|l| l == "err"),
        "{test}: graft run must exit with COMMAND's status (7) and pass stdout/stderr through:\n{}",
        via.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// The JSON plan

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn plan_json_chooses_host_and_binds_only_files() {
    let test = "plan_json";
    let Some(bed) = bed(test) else { return };
    let staging = Staging::new(test);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_graft"));
    cmd.arg("plan")
        .arg("--runtime")
        .arg(&bed.runtime)
        .arg("--host")
        .arg(&bed.host)
        .arg("--staging")
        .arg(&staging.0)
        .args(["--format", "json"])
        .env("RUST_BACKTRACE", "0");
    let out = run(cmd, &[]);
    assert!(out.ok(), "{test}: graft plan failed:\n{}", out.describe());
    let plan: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{test}: plan is not JSON ({e}):\n{}", out.describe()));
    let empty = Vec::new();
    let list = |key: &str| plan.get(key).and_then(Value::as_array).unwrap_or(&empty);
    println!(
        "{test}: version={} architectures={} libraries={} drivers={} mounts={} symlinks={} issues={} in {:.2?}",
        plan.get("version").unwrap_or(&Value::Null),
        plan.get("architectures").unwrap_or(&Value::Null),
        list("libraries").len(),
        list("drivers").len(),
        list("mounts").len(),
        list("symlinks").len(),
        list("issues").len(),
        out.elapsed
    );

    let mut failures = Vec::new();

    if plan.get("version").and_then(Value::as_u64) != Some(1) {
        failures.push(format!("version is {:?}, expected 1", plan.get("version")));
    }
    for abi in ABIS {
        if !plan
            .get("architectures")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(abi)))
        {
            failures.push(format!("architectures lacks {abi}"));
        }
    }

    // libraries: the host's libc, libstdc++ and libLLVM for both ABIs.
    for soname in ["libc.so.6", "libstdc++.so.6", "libLLVM.so.19.1"] {
        for abi in ABIS {
            let entries: Vec<&Value> = list("libraries")
                .iter()
                .filter(|l| s(l, "soname") == soname && s(l, "arch") == abi)
                .collect();
            for e in &entries {
                println!(
                    "{test}: library {soname} {abi}: chosen={} host_path={} runtime_path={} container_path={} reason={:?}",
                    e.get("chosen").unwrap_or(&Value::Null),
                    e.get("host_path").unwrap_or(&Value::Null),
                    e.get("runtime_path").unwrap_or(&Value::Null),
                    e.get("container_path").unwrap_or(&Value::Null),
                    s(e, "reason")
                );
            }
            match entries.as_slice() {
                [] => failures.push(format!("libraries has no entry for {soname} {abi}")),
                [e] if s(e, "chosen") == "host" => {}
                [e] => {
                    failures.push(format!("{soname} {abi}: chosen={:?}, expected \"host\"", e.get("chosen")))
                }
                many => failures.push(format!("{soname} {abi}: {} entries, expected one", many.len())),
            }
        }
    }

    // drivers: lavapipe, ok, for both ABIs.
    for abi in ABIS {
        let icds: Vec<&Value> =
            list("drivers").iter().filter(|d| s(d, "kind") == "vulkan-icd" && s(d, "arch") == abi).collect();
        for d in &icds {
            println!(
                "{test}: vulkan-icd {abi}: name={} library={} status={} reason={:?}",
                s(d, "name"),
                s(d, "library"),
                s(d, "status"),
                s(d, "reason")
            );
        }
        let lvp: Vec<&&Value> =
            icds.iter().filter(|d| s(d, "library").ends_with("libvulkan_lvp.so")).collect();
        if lvp.is_empty() {
            failures
                .push(format!("drivers has no vulkan-icd for {abi} whose library ends in libvulkan_lvp.so"));
        } else if !lvp.iter().any(|d| s(d, "status") == "ok") {
            failures.push(format!(
                "lavapipe vulkan-icd for {abi} is not ok: {}",
                lvp.iter()
                    .map(|d| format!("{}: {}", s(d, "status"), s(d, "reason")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }

    // mounts: least privilege (files only, except tmpfs), every source exists.
    let host = std::fs::canonicalize(&bed.host).unwrap_or_else(|_| bed.host.clone());
    let mut files = 0;
    for m in list("mounts") {
        if s(m, "type") == "tmpfs" {
            println!(
                "{test}: tmpfs mount at {} options={}",
                s(m, "destination"),
                m.get("options").unwrap_or(&Value::Null)
            );
            continue;
        }
        let Some(source) = m.get("source").and_then(Value::as_str) else {
            failures.push(format!("mount without a source: {m}"));
            continue;
        };
        match std::fs::metadata(source) {
            Err(e) => failures
                .push(format!("mount source {source} (-> {}) does not exist: {e}", s(m, "destination"))),
            Ok(md) if md.is_dir() => {
                let side = if std::fs::canonicalize(source).is_ok_and(|p| p.starts_with(&host)) {
                    "inside the host tree"
                } else {
                    "not in the host tree"
                };
                failures.push(format!(
                    "mount source {source} (-> {}) is a directory ({side}); only files may be bound",
                    s(m, "destination")
                ));
            }
            Ok(_) => files += 1,
        }
    }
    println!("{test}: {files} file mounts checked");

    for i in list("issues") {
        println!("{test}: issue {} {}: {}", s(i, "severity"), s(i, "code"), s(i, "message"));
    }

    assert!(
        failures.is_empty(),
        "{test}: {} problem(s) in the plan:\n  {}\n(stderr: {})",
        failures.len(),
        failures.join("\n  "),
        clip(&out.stderr, 2000)
    );
}
