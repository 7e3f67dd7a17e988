//! Malformed and hostile input: graft must never panic or hang.
//!
//! `graft inspect FILE`: exit 2 with exactly one line on stderr naming the file and the reason.
//! `graft tree`: the bad object is reported as unresolvable (the object's "error" set, or its dep
//! null with an "errors" entry), exit 1.
//! Every run has a deadline (GRAFT_TEST_TIMEOUT, default 20 s); a run past it is killed and fails.

mod common;

use common::elf::{self, ElfSpec};
use common::fixture::{self, Built, Fixture};
use common::{RunOutput, TempDir, default_timeout, is_root, no_panic_no_hang, run_graft};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn spec(json: &str) -> ElfSpec {
    serde_json::from_str(json).unwrap()
}

fn good_lib() -> Vec<u8> {
    elf::build(&spec(r#"{"soname":"libok.so.1","needed":["libc.so.6"],"runpath":"/x"}"#), "libok.so.1")
}

/// Exit 2, one line on stderr naming the file.
fn expect_inspect_error(path: &Path, what: &str) {
    for json in [true, false] {
        let mut args = vec!["inspect".to_string(), path.to_string_lossy().into_owned()];
        if json {
            args.push("--json".into());
        }
        let out = run_graft(&args, default_timeout());
        no_panic_no_hang(what, &out);
        assert_eq!(out.code, Some(2), "{what}: expected exit 2\n{}", out.describe());
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: expected one stderr line\n{}", out.describe());
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            lines[0].contains(name.as_ref()),
            "{what}: stderr does not name the file\n{}",
            out.describe()
        );
        assert!(lines[0].len() > name.len() + 2, "{what}: stderr gives no reason\n{}", out.describe());
    }
}

/// Either a clean error (exit 2, one line) or a successful JSON report: for corruption the
/// loader itself never looks at (section headers), both are honest answers.
fn expect_inspect_error_or_ok(path: &Path, what: &str) {
    let args = vec!["inspect".to_string(), path.to_string_lossy().into_owned(), "--json".to_string()];
    let out = run_graft(&args, default_timeout());
    no_panic_no_hang(what, &out);
    match out.code {
        Some(0) => {
            let v: Value = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("{what}: exit 0 but no JSON ({e})\n{}", out.describe()));
            assert!(v.is_object(), "{what}");
        }
        Some(2) => expect_inspect_error(path, what),
        _ => panic!("{what}: expected exit 0 or 2\n{}", out.describe()),
    }
}

/// Run every check, then fail once with all the problems (a panic inside a check is caught and
/// recorded, so one bad case does not hide the others).
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn run(&mut self, what: &str, f: impl FnOnce() + std::panic::UnwindSafe) {
        if let Err(e) = std::panic::catch_unwind(f) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            self.0.push(format!("--- {what}: {msg}"));
        }
    }
    fn finish(self) {
        assert!(self.0.is_empty(), "{} bad-input checks failed:\n{}", self.0.len(), self.0.join("\n"));
    }
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    strict: bool,
}

fn inspect_cases() -> Vec<Case> {
    let mut v = vec![
        Case {
            name: "empty.so",
            bytes: vec![],
            strict: true,
        },
        Case {
            name: "magic-only.so",
            bytes: b"\x7fELF".to_vec(),
            strict: true,
        },
        Case {
            name: "trunc40.so",
            bytes: good_lib()[..40].to_vec(),
            strict: true,
        },
        Case {
            name: "trunc100-phdrs-cut.so",
            bytes: good_lib()[..100].to_vec(),
            strict: true,
        },
        Case {
            name: "text-ld-script.so",
            bytes: b"/* GNU ld script\n   Use the shared library, but some functions are only in\n   the static library.  */\nGROUP ( libc.so.6 libc_nonshared.a )\n".to_vec(),
            strict: true,
        },
        Case {
            name: "wrong-magic.so",
            bytes: {
                let mut b = good_lib();
                b[1] = b'X';
                b
            },
            strict: true,
        },
        Case {
            name: "bad-class.so",
            bytes: {
                let mut b = good_lib();
                b[4] = 7;
                b
            },
            strict: true,
        },
        Case {
            name: "bad-data.so",
            bytes: {
                let mut b = good_lib();
                b[5] = 9;
                b
            },
            strict: true,
        },
        Case {
            name: "zeros.so",
            bytes: vec![0; 4096],
            strict: true,
        },
    ];
    let mut seed: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..1000)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        })
        .collect();
    let mut elfish = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elfish.extend_from_slice(&noise);
    v.push(Case { name: "elf-magic-then-noise.so", bytes: elfish, strict: false });
    let knobs: [(&str, &str, bool); 11] = [
        ("huge-phnum.so", r#""phnum":65535"#, true),
        ("phoff-past-eof.so", r#""phoff":1099511627776"#, true),
        ("dynamic-past-eof.so", r#""dynamic_offset":4294967296"#, true),
        ("dynamic-size-huge.so", r#""dynamic_size":1099511627776"#, true),
        ("strtab-unmapped.so", r#""strtab_addr":2147418112"#, true),
        ("needed-offset-past-strtab.so", r#""needed_offset":268435455"#, true),
        ("strsz-huge.so", r#""strsz":1099511627776"#, false),
        ("huge-shnum.so", r#""shnum":65535"#, false),
        ("shoff-past-eof.so", r#""shoff":1099511627776"#, false),
        ("i386-huge-phnum.so", r#""arch":"i386","phnum":65535"#, true),
        ("be-dynamic-past-eof.so", r#""data":"big","dynamic_offset":4294967296"#, true),
    ];
    for (name, knob, strict) in knobs {
        v.push(Case {
            name,
            bytes: elf::build(
                &spec(&format!(
                    r#"{{"soname":"libbad.so","needed":["libc.so.6"],"verdefs":["V1"],"verneeds":[{{"file":"libc.so.6","versions":["GLIBC_2.2.5"]}}],{knob}}}"#
                )),
                "libbad.so",
            ),
            strict,
        });
    }
    v
}

#[test]
fn inspect_malformed_files() {
    let dir = TempDir::new("bad-inspect");
    let mut checks = Checks::default();
    for c in inspect_cases() {
        let p = dir.path().join(c.name);
        std::fs::write(&p, &c.bytes).unwrap();
        if c.strict {
            checks.run(c.name, || expect_inspect_error(&p, c.name));
        } else {
            checks.run(c.name, || expect_inspect_error_or_ok(&p, c.name));
        }
    }
    checks.finish();
}

#[test]
fn inspect_special_files() {
    let dir = TempDir::new("bad-inspect-special");
    let d = dir.path();
    // Missing file.
    expect_inspect_error(&d.join("missing.so"), "missing file");
    // Directory.
    std::fs::create_dir(d.join("dir.so")).unwrap();
    expect_inspect_error(&d.join("dir.so"), "directory");
    // FIFO with no writer: opening it for reading would block forever.
    nix::unistd::mkfifo(&d.join("fifo.so"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    expect_inspect_error(&d.join("fifo.so"), "FIFO");
    // Socket.
    drop(std::os::unix::net::UnixListener::bind(d.join("sock.so")).unwrap());
    expect_inspect_error(&d.join("sock.so"), "socket");
    // Symlink loops.
    std::os::unix::fs::symlink("loop-b.so", d.join("loop-a.so")).unwrap();
    std::os::unix::fs::symlink("loop-a.so", d.join("loop-b.so")).unwrap();
    expect_inspect_error(&d.join("loop-a.so"), "symlink loop");
    std::os::unix::fs::symlink("self.so", d.join("self.so")).unwrap();
    expect_inspect_error(&d.join("self.so"), "self symlink");
    // Dangling symlink.
    std::os::unix::fs::symlink("nowhere/libx.so", d.join("dangling.so")).unwrap();
    expect_inspect_error(&d.join("dangling.so"), "dangling symlink");
    // /dev/null: a character device that reads as empty.
    expect_inspect_error(Path::new("/dev/null"), "character device");
}

#[test]
fn inspect_unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("bad-inspect-perm");
    let p = dir.path().join("unreadable.so");
    std::fs::write(&p, good_lib()).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    // As root (CAP_DAC_OVERRIDE) mode 000 does not stop reads: the file is a valid library and
    // inspect must succeed; unprivileged it must fail cleanly.
    let readable = std::fs::File::open(&p).is_ok();
    if readable {
        eprintln!("note: running as root, mode 000 does not stop reads; checking success instead");
        let out = run_graft(&["inspect", p.to_str().unwrap(), "--json"], default_timeout());
        no_panic_no_hang("unreadable (root)", &out);
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["soname"], "libok.so.1");
    } else {
        expect_inspect_error(&p, "unreadable");
    }
    // Unreadable parent directory (mode 000 dir): same story.
    let sub = dir.path().join("locked");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("lib.so"), good_lib()).unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = run_graft(&["inspect", sub.join("lib.so").to_str().unwrap()], default_timeout());
    no_panic_no_hang("locked dir", &out);
    if is_root() {
        assert_eq!(out.code, Some(0), "{}", out.describe());
    } else {
        assert_eq!(out.code, Some(2), "{}", out.describe());
    }
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// tree

const INTERP: &str = "/lib64/ld-linux-x86-64.so.2";

fn tree_root() -> (TempDir, PathBuf) {
    let fx: Fixture = serde_json::from_str(
        &r##"{ "name": "bad-tree", "about": "bad input for tree", "presets": ["debian-amd64"],
          "files": [
            {"path": "/usr/bin/app-ok", "elf": {"type": "exec", "interp": "INTERP", "needed": ["libc.so.6"]}},
            {"path": "/usr/bin/cyclic", "elf": {"type": "exec", "interp": "INTERP", "needed": ["libcyc1.so"]}},
            {"path": "/usr/lib/x86_64-linux-gnu/libcyc1.so", "elf": {"soname": "libcyc1.so", "needed": ["libcyc2.so", "libcyc1.so"]}},
            {"path": "/usr/lib/x86_64-linux-gnu/libcyc2.so", "elf": {"soname": "libcyc2.so", "needed": ["libcyc1.so"]}},
            {"path": "/usr/bin/loop-a", "symlink": "loop-b"},
            {"path": "/usr/bin/loop-b", "symlink": "loop-a"},
            {"path": "/usr/bin/escape", "symlink": "../../../../../../../../../../etc/shadow-graft-test"},
            {"path": "/usr/bin/escape-abs", "symlink": "/../../../../etc/shadow-graft-test"},
            {"path": "/usr/bin/fifo", "fifo": true},
            {"path": "/usr/bin/dir", "dir": true},
            {"path": "/usr/bin/text", "text": "#!/bin/sh\necho this is a shell script, not an ELF executable at all\n"},
            {"path": "/usr/bin/trunc", "elf": {"type": "exec", "interp": "INTERP", "truncate": 40}},
            {"path": "/usr/bin/huge-phnum", "elf": {"type": "exec", "interp": "INTERP", "phnum": 65535}},
            {"path": "/usr/bin/dyn-past-eof", "elf": {"type": "exec", "interp": "INTERP", "needed": ["libc.so.6"], "dynamic_offset": 4294967296}},
            {"path": "/usr/bin/needs-bad", "elf": {"type": "exec", "interp": "INTERP", "needed": ["libdynbad.so", "libphbad.so", "libstrbad.so", "libc.so.6"]}},
            {"path": "/usr/lib/x86_64-linux-gnu/libdynbad.so", "elf": {"needed": ["libc.so.6"], "dynamic_offset": 4294967296}},
            {"path": "/usr/lib/x86_64-linux-gnu/libphbad.so", "elf": {"phnum": 65535}},
            {"path": "/usr/lib/x86_64-linux-gnu/libstrbad.so", "elf": {"needed": ["libc.so.6"], "strtab_addr": 2147418112}},
            {"path": "/usr/bin/needs-fifo", "elf": {"type": "exec", "interp": "INTERP", "needed": ["/usr/lib/x86_64-linux-gnu/libfifo.so"]}},
            {"path": "/usr/lib/x86_64-linux-gnu/libfifo.so", "fifo": true},
            {"path": "/usr/bin/needs-loop", "elf": {"type": "exec", "interp": "INTERP", "needed": ["libloopy.so"]}},
            {"path": "/usr/lib/x86_64-linux-gnu/libloopy.so", "symlink": "libloopy.so"}
          ] }"##
            .replace("INTERP", INTERP),
    )
    .unwrap();
    match fixture::build(&fx).unwrap() {
        Built::Ready(t) => {
            let p = t.path().to_path_buf();
            (t, p)
        }
        Built::Skipped(why) => panic!("cannot build: {why}"),
    }
}

fn tree(root: &Path, file: &str) -> (RunOutput, Value) {
    let args = vec![
        "tree".to_string(),
        "--root".to_string(),
        root.to_string_lossy().into_owned(),
        "--json".to_string(),
        "--hwcaps".to_string(),
        "none".to_string(),
        file.to_string(),
    ];
    let out = run_graft(&args, default_timeout());
    no_panic_no_hang(file, &out);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

fn object<'a>(v: &'a Value, file: &str) -> Option<&'a Value> {
    v["objects"].as_array()?.iter().find(|o| o["path"].as_str() == Some(file))
}

/// FILE itself is unusable: its object has "error" set; exit 1.
fn expect_file_error(root: &Path, file: &str) {
    let (out, v) = tree(root, file);
    assert_eq!(out.code, Some(1), "{file}: expected exit 1\n{}", out.describe());
    let o = object(&v, file).unwrap_or_else(|| panic!("{file}: no object\n{}", out.describe()));
    assert!(
        o["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{file}: object error not set\n{}",
        out.describe()
    );
}

/// A dependency is unusable: its dep is null and an errors entry names it; exit 1.
fn expect_dep_error(root: &Path, file: &str, dep: &str) {
    let (out, v) = tree(root, file);
    assert_eq!(out.code, Some(1), "{file}: expected exit 1\n{}", out.describe());
    let o = object(&v, file).unwrap_or_else(|| panic!("{file}: no object\n{}", out.describe()));
    assert!(
        o["deps"].get(dep).is_some_and(Value::is_null),
        "{file}: dep {dep} should be null\n{}",
        out.describe()
    );
    assert!(
        o["errors"].as_array().is_some_and(|a| a.iter().any(|e| e["name"].as_str() == Some(dep))),
        "{file}: no errors entry for {dep}\n{}",
        out.describe()
    );
}

#[test]
fn tree_bad_inputs() {
    let (_t, root) = tree_root();
    // Sanity: the good one resolves.
    let (out, v) = tree(&root, "/usr/bin/app-ok");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(
        object(&v, "/usr/bin/app-ok").unwrap()["deps"]["libc.so.6"],
        "/lib/x86_64-linux-gnu/libc.so.6"
    );

    // Cyclic DT_NEEDED terminates with every object once. Nothing here needs the dynamic loader
    // by name, so (as in ld.so's `dl_main`) the interpreter is not part of the closure.
    let (out, v) = tree(&root, "/usr/bin/cyclic");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let deps = object(&v, "/usr/bin/cyclic").unwrap()["deps"].as_object().unwrap().clone();
    assert_eq!(deps.keys().cloned().collect::<Vec<_>>(), ["libcyc1.so", "libcyc2.so"], "{}", out.describe());

    let mut checks = Checks::default();
    for f in [
        "/usr/bin/loop-a",
        "/usr/bin/escape",
        "/usr/bin/escape-abs",
        "/usr/bin/fifo",
        "/usr/bin/dir",
        "/usr/bin/text",
        "/usr/bin/trunc",
        "/usr/bin/huge-phnum",
        "/usr/bin/dyn-past-eof",
        "/usr/bin/does-not-exist",
    ] {
        checks.run(f, || expect_file_error(&root, f));
    }
    for dep in ["libdynbad.so", "libphbad.so", "libstrbad.so"] {
        checks.run(dep, || expect_dep_error(&root, "/usr/bin/needs-bad", dep));
    }
    checks.run("needs-fifo", || {
        expect_dep_error(&root, "/usr/bin/needs-fifo", "/usr/lib/x86_64-linux-gnu/libfifo.so")
    });
    checks.run("needs-loop", || expect_dep_error(&root, "/usr/bin/needs-loop", "libloopy.so"));
    checks.finish();
}

#[test]
fn tree_missing_root_is_usage_error() {
    let out = run_graft(
        &["tree", "--root", "/nonexistent/graft-test-root", "--json", "/usr/bin/x"],
        default_timeout(),
    );
    no_panic_no_hang("missing root", &out);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(out.stderr.lines().filter(|l| !l.trim().is_empty()).count(), 1, "{}", out.describe());
}
