//! A second, independent ELF reader: goblin against `graft inspect --json`.
//!
//! Every ELF object of the test bed (regular files under `/usr/lib/<tuple>/`, recursively, and
//! `/usr/bin/`, for both ABIs, de-duplicated by inode) is read by goblin and by graft; the two
//! must agree on class, byte order, machine, type, interpreter, SONAME, NEEDED (ordered), RPATH,
//! RUNPATH, DT_FLAGS_1, version definitions and version needs.
//!
//! Without the test bed the test prints a skip line and passes, unless `GRAFT_REQUIRE_TESTBED=1`.

mod common;

use common::testbed::{self, for_each_object_file};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::dynamic::{DF_1_NODEFLIB, Dynamic};
use goblin::elf::program_header::{PT_INTERP, ProgramHeader};
use goblin::elf::section_header::SectionHeader;
use goblin::elf::symver::{VER_FLG_BASE, VER_FLG_WEAK, VerdefSection, VerneedSection};
use goblin::elf::{Elf, header};
use goblin::strtab::Strtab;
use serde_json::{Value, json};

const MAX_REPORTED: usize = 20;

fn sysroot(name: &str) -> Option<PathBuf> {
    testbed::sysroot("goblin-diff", name)
}

// ---------------------------------------------------------------------------------------------
// Enumeration (the same as the oracle's)

/// Every regular ELF file (by magic) under `/usr/lib/<tuple>/` (both ABIs, recursively) and
/// `/usr/bin/`, de-duplicated by inode. In-root paths, sorted.
fn enumerate(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for_each_object_file(root, &mut |inroot, host| {
        let mut magic = [0u8; 4];
        let Ok(mut f) = std::fs::File::open(host) else {
            return;
        };
        if f.read_exact(&mut magic).is_ok() && &magic == b"\x7fELF" {
            out.push(inroot.to_string());
        }
    });
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// goblin's view, in graft's JSON shape

/// The facts goblin reads, as a JSON object with graft's field names. Parses only the header,
/// program headers, PT_DYNAMIC, section headers and the version sections (no symbols, no
/// relocations), like goblin's lazy parse filled in by hand.
fn goblin_facts(bytes: &[u8]) -> Result<Value, String> {
    let hdr = Elf::parse_header(bytes).map_err(|e| format!("header: {e}"))?;
    let is_64 = hdr.e_ident[header::EI_CLASS] == header::ELFCLASS64;
    let little = hdr.e_ident[header::EI_DATA] == header::ELFDATA2LSB;
    let ctx = Ctx::new(
        if is_64 { Container::Big } else { Container::Little },
        if little { Endian::Little } else { Endian::Big },
    );
    let phdrs = ProgramHeader::parse(bytes, hdr.e_phoff as usize, hdr.e_phnum as usize, ctx)
        .map_err(|e| format!("program headers: {e}"))?;
    let mut interpreter = Value::Null;
    for ph in &phdrs {
        if ph.p_type == PT_INTERP {
            let raw = bytes
                .get(ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize)
                .ok_or("PT_INTERP out of bounds")?;
            let raw = raw.split(|&b| b == 0).next().unwrap_or(raw);
            interpreter = json!(String::from_utf8_lossy(raw));
        }
    }
    let shdrs = SectionHeader::parse(bytes, hdr.e_shoff as usize, hdr.e_shnum as usize, ctx)
        .map_err(|e| format!("section headers: {e}"))?;

    let mut soname = Value::Null;
    let mut needed: Vec<&str> = Vec::new();
    let mut rpaths: Vec<&str> = Vec::new();
    let mut runpaths: Vec<&str> = Vec::new();
    let mut flags_1: u64 = 0;
    let mut dynstr_range = (0, 0);
    if let Some(dynamic) = Dynamic::parse(bytes, &phdrs, ctx).map_err(|e| format!("dynamic: {e}"))? {
        let info = &dynamic.info;
        flags_1 = info.flags_1;
        dynstr_range = (info.strtab, info.strsz);
        let dynstr = Strtab::parse(bytes, info.strtab, info.strsz, 0).map_err(|e| format!("dynstr: {e}"))?;
        if info.soname != 0 {
            soname = json!(dynstr.get_at(info.soname).ok_or("bad DT_SONAME")?);
        }
        needed = dynamic.get_libraries(&dynstr);
        for d in &dynamic.dyns {
            if d.d_tag == goblin::elf::dynamic::DT_RPATH {
                rpaths.push(dynstr.get_at(d.d_val as usize).ok_or("bad DT_RPATH")?);
            } else if d.d_tag == goblin::elf::dynamic::DT_RUNPATH {
                runpaths.push(dynstr.get_at(d.d_val as usize).ok_or("bad DT_RUNPATH")?);
            }
        }
    }
    // Version sections name their strings through sh_link (normally .dynstr).
    let linked_strtab = |sh_type: u32| -> Strtab {
        shdrs
            .iter()
            .find(|s| s.sh_type == sh_type)
            .and_then(|s| shdrs.get(s.sh_link as usize))
            .and_then(|l| Strtab::parse(bytes, l.sh_offset as usize, l.sh_size as usize, 0).ok())
            .or_else(|| Strtab::parse(bytes, dynstr_range.0, dynstr_range.1, 0).ok())
            .unwrap_or_default()
    };

    let mut verdefs = Vec::new();
    if let Some(vd) = VerdefSection::parse(bytes, &shdrs, ctx).map_err(|e| format!("verdef: {e}"))? {
        let strs = linked_strtab(goblin::elf::section_header::SHT_GNU_VERDEF);
        for d in vd.iter() {
            let names: Vec<&str> = d.iter().map(|a| strs.get_at(a.vda_name).unwrap_or("<bad>")).collect();
            verdefs.push(json!({
                "index": d.vd_ndx,
                "name": names.first().copied().unwrap_or(""),
                "flags": d.vd_flags,
                "base": d.vd_flags & VER_FLG_BASE != 0,
                "weak": d.vd_flags & VER_FLG_WEAK != 0,
                "parents": names.get(1..).unwrap_or(&[]),
            }));
        }
    }
    let mut verneeds = Vec::new();
    if let Some(vn) = VerneedSection::parse(bytes, &shdrs, ctx).map_err(|e| format!("verneed: {e}"))? {
        let strs = linked_strtab(goblin::elf::section_header::SHT_GNU_VERNEED);
        for n in vn.iter() {
            let versions: Vec<Value> = n
                .iter()
                .map(|a| {
                    json!({
                        "name": strs.get_at(a.vna_name).unwrap_or("<bad>"),
                        "index": a.vna_other,
                        "weak": a.vna_flags & VER_FLG_WEAK != 0,
                    })
                })
                .collect();
            verneeds.push(json!({
                "file": strs.get_at(n.vn_file).unwrap_or("<bad>"),
                "versions": versions,
            }));
        }
    }

    let join = |v: &[&str]| {
        if v.is_empty() { Value::Null } else { json!(v.join(":")) }
    };
    let typ = match hdr.e_type {
        header::ET_REL => json!("REL"),
        header::ET_EXEC => json!("EXEC"),
        header::ET_DYN => json!("DYN"),
        header::ET_CORE => json!("CORE"),
        _ => Value::Null, // not compared
    };
    let arch = match (is_64, little, hdr.e_machine) {
        (true, true, header::EM_X86_64) => json!("x86_64-linux-gnu"),
        (false, true, header::EM_386) => json!("i386-linux-gnu"),
        _ => Value::Null, // not compared
    };
    Ok(json!({
        "class": if is_64 { "ELF64" } else { "ELF32" },
        "data": if little { "little" } else { "big" },
        "machine": hdr.e_machine,
        "arch": arch,
        "type": typ,
        "interpreter": interpreter,
        "soname": soname,
        "needed": needed,
        "rpath": join(&rpaths),
        "runpath": join(&runpaths),
        "flags_1": flags_1,
        "nodeflib": flags_1 & DF_1_NODEFLIB != 0,
        "version_definitions": verdefs,
        "version_needs": verneeds,
    }))
}

/// Fields compared whatever their value.
const ALWAYS: [&str; 12] = [
    "class",
    "data",
    "machine",
    "interpreter",
    "soname",
    "needed",
    "rpath",
    "runpath",
    "flags_1",
    "nodeflib",
    "version_definitions",
    "version_needs",
];
/// Fields compared only where goblin's side is not null (values this test knows how to name).
const WHEN_KNOWN: [&str; 2] = ["type", "arch"];

fn compare(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ALWAYS {
        if expected[key] != actual[key] {
            out.push(format!("{key}: goblin {} | graft {}", expected[key], actual[key]));
        }
    }
    for key in WHEN_KNOWN {
        if !expected[key].is_null() && expected[key] != actual[key] {
            out.push(format!("{key}: goblin {} | graft {}", expected[key], actual[key]));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------

/// How many agreeing files had a non-empty value of each kind: shows the comparison is not
/// vacuous.
#[derive(Default)]
struct Coverage {
    interpreter: usize,
    soname: usize,
    needed: usize,
    rpath: usize,
    runpath: usize,
    verdef: usize,
    verneed: usize,
}

impl Coverage {
    fn of(v: &Value) -> Coverage {
        let has = |k: &str| match &v[k] {
            Value::Null => 0,
            Value::Array(a) => usize::from(!a.is_empty()),
            _ => 1,
        };
        Coverage {
            interpreter: has("interpreter"),
            soname: has("soname"),
            needed: has("needed"),
            rpath: has("rpath"),
            runpath: has("runpath"),
            verdef: has("version_definitions"),
            verneed: has("version_needs"),
        }
    }

    fn add(&mut self, o: &Coverage) {
        self.interpreter += o.interpreter;
        self.soname += o.soname;
        self.needed += o.needed;
        self.rpath += o.rpath;
        self.runpath += o.runpath;
        self.verdef += o.verdef;
        self.verneed += o.verneed;
    }
}

enum Outcome {
    Agree(Coverage),
    Disagree(String),
    GoblinFailed(String),
}

fn check_file(root: &Path, inroot: &str) -> Outcome {
    let host = root.join(inroot.trim_start_matches('/'));
    let out = Command::new(env!("CARGO_BIN_EXE_graft"))
        .arg("inspect")
        .arg("--json")
        .arg(&host)
        .output()
        .expect("cannot run graft");
    let actual: Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            return Outcome::Disagree(format!(
                "{inroot}\n    graft inspect printed no JSON (exit {:?}, {e}): {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    };
    let file = match std::fs::File::open(&host) {
        Ok(f) => f,
        Err(e) => return Outcome::GoblinFailed(format!("{inroot}: {e}")),
    };
    // SAFETY: the test bed is a read-only cache nobody modifies while the test runs.
    let map = match unsafe { memmap2::Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => return Outcome::GoblinFailed(format!("{inroot}: mmap: {e}")),
    };
    let expected = match goblin_facts(&map) {
        Ok(v) => v,
        Err(e) => return Outcome::GoblinFailed(format!("{inroot}: {e}")),
    };
    let diffs = compare(&expected, &actual);
    if diffs.is_empty() {
        Outcome::Agree(Coverage::of(&expected))
    } else {
        Outcome::Disagree(format!("{inroot}\n    {}", diffs.join("\n    ")))
    }
}

fn goblin_diff(name: &str) {
    let Some(root) = sysroot(name) else { return };
    let started = Instant::now();
    let files = enumerate(&root);
    assert!(!files.is_empty(), "goblin-diff {name}: no ELF objects under {}", root.display());

    let next = AtomicUsize::new(0);
    let agree = AtomicUsize::new(0);
    let coverage = Mutex::new(Coverage::default());
    let bad = Mutex::new(Vec::new());
    let goblin_failed = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    match check_file(&root, f) {
                        Outcome::Agree(c) => {
                            agree.fetch_add(1, Ordering::Relaxed);
                            coverage.lock().unwrap().add(&c);
                        }
                        Outcome::Disagree(d) => bad.lock().unwrap().push(d),
                        Outcome::GoblinFailed(d) => goblin_failed.lock().unwrap().push(d),
                    }
                }
            });
        }
    });
    let mut bad = bad.into_inner().unwrap();
    bad.sort();
    let goblin_failed = goblin_failed.into_inner().unwrap();
    let c = coverage.into_inner().unwrap();
    println!(
        "goblin-diff {name}: {} files agree ({} ELF files, {:.1}s; of those agreeing, with \
         interpreter {}, SONAME {}, NEEDED {}, RPATH {}, RUNPATH {}, verdef {}, verneed {})",
        agree.load(Ordering::Relaxed),
        files.len(),
        started.elapsed().as_secs_f64(),
        c.interpreter,
        c.soname,
        c.needed,
        c.rpath,
        c.runpath,
        c.verdef,
        c.verneed
    );
    for g in &goblin_failed {
        println!("  goblin could not read {g} (not compared)");
    }
    for b in bad.iter().take(MAX_REPORTED) {
        println!("  {b}");
    }
    if bad.len() > MAX_REPORTED {
        println!("  ... and {} more", bad.len() - MAX_REPORTED);
    }
    assert!(bad.is_empty(), "goblin-diff {name}: {} of {} files disagree", bad.len(), files.len());
}

#[test]
fn goblin_diff_runtime() {
    goblin_diff("runtime");
}

#[test]
fn goblin_diff_host() {
    goblin_diff("host");
}

#[test]
fn goblin_diff_host_nvidia() {
    goblin_diff("host-nvidia");
}
