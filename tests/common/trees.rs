//! Small synthetic host and runtime trees for `tests/plan_rules.rs` and `tests/check_rules.rs`:
//! x86_64 and i386 ELF files from `elf.rs`, a dynamic loader at each ABI's interpreter path, a
//! libc.so.6 with `GLIBC_2.x` version definitions, Debian multiarch directories and an
//! ld.so.cache from `cache.rs`; and a runner for the built `graft` with a deadline.

use super::cache::{self, CacheEntry, CacheSpec};
use super::elf::{self, ElfSpec};
use super::{RunOutput, TempDir, default_timeout, no_panic_no_hang, run_graft};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

pub const X64: &str = "x86_64-linux-gnu";
pub const I386: &str = "i386-linux-gnu";
pub const X64_LIB: &str = "/usr/lib/x86_64-linux-gnu";
pub const I386_LIB: &str = "/usr/lib/i386-linux-gnu";
pub const X64_OVR: &str = "/overrides/lib/x86_64-linux-gnu";
pub const ICD_DIR: &str = "/usr/share/vulkan/icd.d";

// ---------------------------------------------------------------------------------------------
// Trees

/// A synthetic root: files written through the ELF writer, with the cache entries ldconfig would
/// record for every library given a SONAME.
pub struct Tree {
    dir: TempDir,
    cache: RefCell<Vec<(String, String, &'static str)>>,
}

/// The multiarch tuple and the cache flags of an ABI name ("x86_64"/"i386").
pub fn abi_of(arch: &str) -> (&'static str, &'static str) {
    match arch {
        "x86_64" => (X64, "x86_64"),
        "i386" => (I386, "i386"),
        other => panic!("unknown arch {other}"),
    }
}

impl Tree {
    pub fn new(label: &str) -> Tree {
        Tree { dir: TempDir::new(label), cache: RefCell::new(Vec::new()) }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The root as graft reports it (canonical).
    pub fn canonical_root(&self) -> PathBuf {
        std::fs::canonicalize(self.root()).unwrap()
    }

    /// The root as a command-line argument.
    pub fn arg(&self) -> String {
        self.root().display().to_string()
    }

    /// This machine's path of an in-root path.
    pub fn path(&self, p: &str) -> PathBuf {
        assert!(p.starts_with('/'), "in-root paths are absolute: {p}");
        self.root().join(p.trim_start_matches('/'))
    }

    pub fn mkdir(&self, p: &str) -> &Tree {
        std::fs::create_dir_all(self.path(p)).unwrap();
        self
    }

    pub fn write(&self, p: &str, bytes: &[u8]) -> &Tree {
        let hp = self.path(p);
        std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
        std::fs::write(&hp, bytes).unwrap();
        self
    }

    pub fn text(&self, p: &str, s: &str) -> &Tree {
        self.write(p, s.as_bytes())
    }

    /// An ELF file at `p`; no cache entry.
    pub fn elf(&self, p: &str, spec: Value) -> &Tree {
        let spec: ElfSpec = serde_json::from_value(spec).unwrap_or_else(|e| panic!("ELF spec for {p}: {e}"));
        let name = p.rsplit('/').next().unwrap();
        self.write(p, &elf::build(&spec, name))
    }

    pub fn symlink(&self, p: &str, target: &str) -> &Tree {
        let hp = self.path(p);
        std::fs::create_dir_all(hp.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, hp).unwrap();
        self
    }

    pub fn mode(&self, p: &str, mode: u32) -> &Tree {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.path(p), std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// A shared library `dir/real` with the given SONAME (in `spec`), the SONAME link next to it
    /// when the names differ, and a cache entry for the SONAME link.
    pub fn lib(&self, arch: &str, dir: &str, real: &str, mut spec: Value) -> &Tree {
        spec["arch"] = json!(arch);
        let soname = spec["soname"].as_str().expect("a library spec names its SONAME").to_string();
        self.elf(&format!("{dir}/{real}"), spec);
        if soname != real {
            self.symlink(&format!("{dir}/{soname}"), real);
        }
        self.cache.borrow_mut().push((soname.clone(), format!("{dir}/{soname}"), abi_of(arch).1));
        self
    }

    /// glibc for one ABI, laid out as Debian bullseye does: `/lib/<tuple>/ld-<release>.so` and
    /// `libc-<release>.so` with SONAME links, libm and libpthread beside them, and the interpreter
    /// path a link to the multiarch loader.
    pub fn glibc(&self, arch: &str, release: &str) -> &Tree {
        let (tuple, _) = abi_of(arch);
        let dir = format!("/lib/{tuple}");
        let (ld, interp, base) = match arch {
            "x86_64" => ("ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2", "GLIBC_2.2.5"),
            _ => ("ld-linux.so.2", "/lib/ld-linux.so.2", "GLIBC_2.0"),
        };
        self.lib(
            arch,
            &dir,
            &format!("ld-{release}.so"),
            json!({"soname": ld, "verdefs": [base, "GLIBC_2.3", "GLIBC_PRIVATE"]}),
        );
        if arch == "x86_64" {
            self.symlink(interp, &format!("/lib/{tuple}/{ld}"));
        } else {
            self.symlink(interp, &format!("{tuple}/{ld}"));
        }
        let libc_need = json!([{"file": ld, "versions": [base, "GLIBC_PRIVATE"]}]);
        self.lib(
            arch,
            &dir,
            &format!("libc-{release}.so"),
            json!({"soname": "libc.so.6", "needed": [ld], "glibc": release, "verneeds": libc_need}),
        );
        let family_need = json!([{"file": "libc.so.6", "versions": [base]}]);
        for (soname, real) in [("libm.so.6", "libm"), ("libpthread.so.0", "libpthread")] {
            self.lib(
                arch,
                &dir,
                &format!("{real}-{release}.so"),
                json!({"soname": soname, "needed": ["libc.so.6"], "verdefs": [base],
                       "verneeds": family_need.clone()}),
            );
        }
        self.mkdir(&format!("/usr/lib/{tuple}")).mkdir("/etc")
    }

    /// Writes /etc/ld.so.cache (new format) with every library given so far.
    pub fn write_cache(&self) -> &Tree {
        let entries: Vec<CacheEntry> = self
            .cache
            .borrow()
            .iter()
            .map(|(key, path, flags)| CacheEntry {
                key: key.clone(),
                path: path.clone(),
                flags: json!(flags),
                hwcaps: None,
                hwcap: None,
            })
            .collect();
        let spec = CacheSpec {
            format: None,
            entries,
            generator: None,
            big_endian: false,
            no_endian_flag: false,
            unsorted: false,
            truncate: None,
            nlibs: None,
        };
        self.write("/etc/ld.so.cache", &cache::build(&spec))
    }

    /// A Vulkan ICD manifest in /usr/share/vulkan/icd.d.
    pub fn icd(&self, name: &str, library_path: &str) -> &Tree {
        let m = json!({"file_format_version": "1.0.0",
                       "ICD": {"library_path": library_path, "api_version": "1.3.0"}});
        self.text(&format!("{ICD_DIR}/{name}"), &serde_json::to_string_pretty(&m).unwrap())
    }
}

/// A host with glibc 2.36 for both ABIs, libfoo.so.1 for x86_64 (and for i386 when
/// `i386_libfoo`), and a Vulkan ICD `x.json` whose module libvulkan_x.so exists for both ABIs and
/// needs libfoo.so.1.
pub fn two_abi_host(label: &str, i386_libfoo: bool) -> Tree {
    let host = Tree::new(label);
    host.glibc("x86_64", "2.36").glibc("i386", "2.36");
    host.lib("x86_64", X64_LIB, "libfoo.so.1.0.0", json!({"soname": "libfoo.so.1"}));
    if i386_libfoo {
        host.lib("i386", I386_LIB, "libfoo.so.1.0.0", json!({"soname": "libfoo.so.1"}));
    }
    for (arch, dir) in [("x86_64", X64_LIB), ("i386", I386_LIB)] {
        host.lib(
            arch,
            dir,
            "libvulkan_x.so",
            json!({"soname": "libvulkan_x.so", "needed": ["libfoo.so.1", "libc.so.6"]}),
        );
    }
    host.icd("x.json", "libvulkan_x.so").write_cache();
    host
}

// ---------------------------------------------------------------------------------------------
// Running graft

/// Runs graft with `args` under the default deadline; asserts that it neither hung, panicked nor
/// died by a signal.
pub fn graft(what: &str, args: &[String]) -> RunOutput {
    let out = run_graft(args, default_timeout());
    no_panic_no_hang(what, &out);
    out
}
