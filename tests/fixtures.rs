//! Runs every fixture in elf-fixtures/*.json against the built graft binary, plus self-checks of
//! the generator (the synthetic ELF and cache writers are cross-checked with goblin and with the
//! host's ldconfig, so a fixture failure points at graft, not at the generator).
//!
//! GRAFT_FIXTURE=name[,name...] runs only those fixtures; GRAFT_KEEP_FIXTURES=1 keeps the
//! generated sysroots under target/tmp.

mod common;

use common::fixture::{self, Built, Fixture};
use common::{cache, elf};
use std::sync::Mutex;

fn selected(fx: &Fixture) -> bool {
    match std::env::var("GRAFT_FIXTURE") {
        Ok(sel) if !sel.is_empty() => sel.split(',').any(|s| s == fx.name),
        _ => true,
    }
}

#[test]
fn fixtures() {
    let all = fixture::load_all();
    assert!(!all.is_empty(), "no fixtures found");
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let report: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let todo: Vec<&(String, Fixture)> = all.iter().filter(|(_, f)| selected(f)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(4).min(8);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((file, fx)) = todo.get(i) else { break };
                    let mut probs = Vec::new();
                    let mut summary = String::new();
                    match fixture::build(fx) {
                        Err(e) => probs.push(format!("generator: {e}")),
                        Ok(Built::Skipped(why)) => summary = format!("SKIP {} ({why})", fx.name),
                        Ok(Built::Ready(tmp)) => {
                            for (ci, case) in fx.cases.iter().enumerate() {
                                for p in fixture::check_case(tmp.path(), fx, case) {
                                    probs.push(format!(
                                        "case {ci} ({}{}): {p}",
                                        case.file,
                                        case.about.as_ref().map(|a| format!(" - {a}")).unwrap_or_default()
                                    ));
                                }
                            }
                            for ic in &fx.inspect {
                                for p in fixture::check_inspect(tmp.path(), ic) {
                                    probs.push(format!("inspect {}: {p}", ic.file));
                                }
                            }
                        }
                    }
                    if summary.is_empty() {
                        summary = format!(
                            "{} {} ({} cases, {} inspect)",
                            if probs.is_empty() { "PASS" } else { "FAIL" },
                            fx.name,
                            fx.cases.len(),
                            fx.inspect.len()
                        );
                    }
                    report.lock().unwrap().push(summary);
                    if !probs.is_empty() {
                        failures.lock().unwrap().push(format!(
                            "=== {} ({file}): {}\n  {}",
                            fx.name,
                            fx.about,
                            probs.join("\n  ")
                        ));
                    }
                }
            });
        }
    });
    let mut report = report.into_inner().unwrap();
    report.sort();
    eprintln!("{}", report.join("\n"));
    let failures = failures.into_inner().unwrap();
    if !failures.is_empty() {
        panic!("{} of {} fixtures failed:\n{}", failures.len(), todo.len(), failures.join("\n\n"));
    }
}

// ---------------------------------------------------------------------------------------------
// Generator self-checks.

fn spec(json: &str) -> elf::ElfSpec {
    serde_json::from_str(json).unwrap()
}

/// (file, [(version, flags, other)]).
type NeedView = (String, Vec<(String, u16, u16)>);

#[test]
fn elf_writer_roundtrips_through_goblin() {
    for (arch, is64, machine) in
        [("x86_64", true, elf::EM_X86_64), ("i386", false, elf::EM_386), ("aarch64", true, elf::EM_AARCH64)]
    {
        for ty in ["dyn", "exec"] {
            let s = spec(&format!(
                r#"{{"arch":"{arch}","type":"{ty}","interp":"/lib/ld.so","soname":"libx.so.1",
                 "needed":["liba.so","libb.so.2"],"rpath":"/r1:$ORIGIN/r2","runpath":"/u",
                 "nodeflib":true,"verdefs":["V_1",{{"name":"V_2","parents":["V_1"]}}],
                 "verneeds":[{{"file":"liba.so","versions":["A_1",{{"name":"A_2","weak":true}}]}}]}}"#
            ));
            let bytes = elf::build(&s, "libx.so.1");
            let e =
                goblin::elf::Elf::parse(&bytes).unwrap_or_else(|err| panic!("{arch} {ty}: goblin: {err}"));
            assert_eq!(e.is_64, is64);
            assert!(e.little_endian);
            assert_eq!(e.header.e_machine, machine);
            assert_eq!(e.header.e_type, if ty == "exec" { 2 } else { 3 });
            assert_eq!(e.interpreter, Some("/lib/ld.so"));
            assert_eq!(e.soname, Some("libx.so.1"));
            assert_eq!(e.libraries, vec!["liba.so", "libb.so.2"]);
            assert_eq!(e.rpaths, vec!["/r1:$ORIGIN/r2"]);
            assert_eq!(e.runpaths, vec!["/u"]);
            let dynamic = e.dynamic.as_ref().unwrap();
            assert_eq!(dynamic.info.flags_1 & elf::DF_1_NODEFLIB, elf::DF_1_NODEFLIB);
            let vd = e.verdef.as_ref().expect("verdef");
            let defs: Vec<(u16, u16, Vec<String>)> = vd
                .iter()
                .map(|d| {
                    (
                        d.vd_ndx,
                        d.vd_flags,
                        d.iter().map(|a| e.dynstrtab.get_at(a.vda_name).unwrap().to_string()).collect(),
                    )
                })
                .collect();
            assert_eq!(
                defs,
                vec![
                    (1, 1, vec!["libx.so.1".to_string()]),
                    (2, 0, vec!["V_1".to_string()]),
                    (3, 0, vec!["V_2".to_string(), "V_1".to_string()]),
                ]
            );
            let vn = e.verneed.as_ref().expect("verneed");
            let needs: Vec<NeedView> = vn
                .iter()
                .map(|n| {
                    (
                        e.dynstrtab.get_at(n.vn_file).unwrap().to_string(),
                        n.iter()
                            .map(|a| {
                                assert_eq!(
                                    a.vna_hash,
                                    elf::elf_hash(e.dynstrtab.get_at(a.vna_name).unwrap())
                                );
                                (
                                    e.dynstrtab.get_at(a.vna_name).unwrap().to_string(),
                                    a.vna_flags,
                                    a.vna_other,
                                )
                            })
                            .collect(),
                    )
                })
                .collect();
            assert_eq!(
                needs,
                vec![("liba.so".to_string(), vec![("A_1".to_string(), 0, 4), ("A_2".to_string(), 2, 5)])]
            );
        }
    }
}

#[test]
fn elf_writer_big_endian_and_no_sections() {
    let s = spec(r#"{"arch":"x86_64","data":"big","soname":"libbe.so","needed":["libq.so"]}"#);
    let bytes = elf::build(&s, "libbe.so");
    assert_eq!(bytes[5], 2);
    let e = goblin::elf::Elf::parse(&bytes).unwrap();
    assert!(!e.little_endian);
    assert_eq!(e.soname, Some("libbe.so"));
    assert_eq!(e.libraries, vec!["libq.so"]);
    // Without section headers the dynamic segment alone still carries the data.
    let s = spec(r#"{"arch":"i386","soname":"libns.so","needed":["libq.so"],"no_sections":true}"#);
    let bytes = elf::build(&s, "libns.so");
    let e = goblin::elf::Elf::parse(&bytes).unwrap();
    assert_eq!(e.section_headers.len(), 0);
    assert_eq!(e.soname, Some("libns.so"));
    assert_eq!(e.libraries, vec!["libq.so"]);
}

#[test]
fn glibc_shorthand() {
    assert_eq!(
        elf::glibc_versions("x86_64", "2.4"),
        ["GLIBC_2.2.5", "GLIBC_2.3", "GLIBC_2.4", "GLIBC_PRIVATE"]
    );
    assert_eq!(elf::glibc_versions("i386", "2.1"), ["GLIBC_2.0", "GLIBC_2.1", "GLIBC_PRIVATE"]);
}

#[test]
fn libcmp_matches_glibc_order() {
    use std::cmp::Ordering::*;
    assert_eq!(cache::libcmp("libz3.so.4", "libz3.so"), Greater);
    assert_eq!(cache::libcmp("libz3.so", "libzstd.so.1"), Greater);
    assert_eq!(cache::libcmp("libzstd.so.1", "libz.so.1"), Greater);
    assert_eq!(cache::libcmp("libfoo.so.10", "libfoo.so.9"), Greater);
    assert_eq!(cache::libcmp("libfoo.so.1", "libfoo.so.1"), Equal);
}

/// The host ldconfig (`-p -C FILE`) must read our caches the way we meant them. Host ldconfig
/// prints every entry whatever its flags, with flags decoded as text.
#[test]
fn cache_writer_agrees_with_host_ldconfig() {
    let Some(ldconfig) = common::host_ldconfig() else {
        eprintln!("SKIP: no host ldconfig");
        return;
    };
    let dir = common::TempDir::new("cachecheck");
    for format in ["new", "old", "compat"] {
        let hw = if format == "new" {
            r#",{"key":"libfoo.so.1","path":"/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libfoo.so.1","flags":"x86_64","hwcaps":"x86-64-v3"},
               {"key":"libfoo.so.1","path":"/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v2/libfoo.so.1","flags":"x86_64","hwcaps":"x86-64-v2"}"#
        } else {
            ""
        };
        let spec: cache::CacheSpec = serde_json::from_str(&format!(
            r#"{{"format":"{format}","generator":"graft test writer",
            "entries":[
              {{"key":"libfoo.so.1","path":"/usr/lib/x86_64-linux-gnu/libfoo.so.1","flags":"x86_64"}},
              {{"key":"libfoo.so.1","path":"/usr/lib/i386-linux-gnu/libfoo.so.1","flags":"i386"}},
              {{"key":"libbar.so","path":"/opt/e/libbar.so","flags":"elf"}},
              {{"key":"libc.so.6","path":"/lib/aarch64-linux-gnu/libc.so.6","flags":"aarch64"}}{hw}]}}"#
        ))
        .unwrap();
        let bytes = cache::build(&spec);
        let p = dir.path().join(format!("{format}.cache"));
        std::fs::write(&p, &bytes).unwrap();
        let out = std::process::Command::new(&ldconfig).arg("-p").arg("-C").arg(&p).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{format}: {text}");
        let lines: Vec<String> = text
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("Cache generated by"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let mut want = vec![];
        if format == "new" {
            want.push("libfoo.so.1 (libc6,x86-64, hwcap: \"x86-64-v2\") => /usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v2/libfoo.so.1");
            want.push("libfoo.so.1 (libc6,x86-64, hwcap: \"x86-64-v3\") => /usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libfoo.so.1");
        }
        want.push("libfoo.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libfoo.so.1");
        want.push("libfoo.so.1 (libc6) => /usr/lib/i386-linux-gnu/libfoo.so.1");
        want.push("libc.so.6 (libc6,AArch64) => /lib/aarch64-linux-gnu/libc.so.6");
        want.push("libbar.so (ELF) => /opt/e/libbar.so");
        if format == "compat" {
            // The entry count is padded to even by duplicating the last old entry; `-p` shows
            // the new table only.
        }
        assert_eq!(lines, want, "{format}:\n{text}");
        if format == "new" {
            assert!(text.contains("Cache generated by: graft test writer"), "{text}");
        }
    }
}

/// The host ldconfig indexes our synthetic libraries (so ldconfig-built fixture caches contain
/// what the fixtures expect).
#[test]
fn host_ldconfig_indexes_synthetic_libs() {
    let Some(ldconfig) = common::host_ldconfig() else {
        eprintln!("SKIP: no host ldconfig");
        return;
    };
    let dir = common::TempDir::new("ldconfigcheck");
    let root = dir.path();
    let mk = |p: &str, json: &str| {
        let hp = root.join(p);
        std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
        std::fs::write(hp, elf::build(&spec(json), "x")).unwrap();
    };
    mk("opt/a/libq.so.1", r#"{"arch":"x86_64","soname":"libq.so.1","needed":["libc.so.6"]}"#);
    mk("opt/b/libq.so.1", r#"{"arch":"i386","soname":"libq.so.1","needed":["libc.so.6"]}"#);
    mk("opt/b/libr.so.1", r#"{"arch":"i386","soname":"libr.so.1"}"#);
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/ld.so.conf"), "/opt/a\n/opt/b\n").unwrap();
    let st = std::process::Command::new(&ldconfig).arg("-r").arg(root).args(["-X", "-i"]).status().unwrap();
    assert!(st.success());
    let out = std::process::Command::new(&ldconfig)
        .arg("-p")
        .arg("-C")
        .arg(root.join("etc/ld.so.cache"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("libq.so.1 (libc6,x86-64) => /opt/a/libq.so.1"), "{text}");
    assert!(text.contains("libq.so.1 (libc6) => /opt/b/libq.so.1"), "{text}");
    assert!(text.contains("libr.so.1 (ELF) => /opt/b/libr.so.1"), "{text}");
}
