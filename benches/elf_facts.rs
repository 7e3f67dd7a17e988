//! Criterion benches on the host sysroot of the test bed (`scripts/testbed.sh host`):
//! reading the ELF facts of a very large library (libLLVM.so.19.1) and of libc.so.6, and
//! resolving one driver's whole closure (libvulkan_lvp.so).
//!
//! Run with `cargo bench --bench elf_facts`. Without the test bed it prints a message and exits 0.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::Criterion;
use graft::elf::ElfFacts;
use graft::loader::{Options, Resolver};
use graft::sysroot::Sysroot;

const LIBLLVM: &str = "/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1";
const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";
const DRIVER: &str = "/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so";

fn host_root() -> Option<PathBuf> {
    let testbed = std::env::var_os("GRAFT_TESTBED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/graft-testbed"));
    let host = testbed.join("host");
    host.join(".graft-testbed").is_file().then_some(host)
}

/// The file on this machine behind an in-root path, symlinks resolved inside the root.
fn host_file(sysroot: &Sysroot, inroot: &str) -> PathBuf {
    let canonical =
        sysroot.canonicalize(inroot).unwrap_or_else(|e| panic!("{inroot} in the host sysroot: {e:?}"));
    sysroot.host_path(&canonical)
}

fn benches(c: &mut Criterion, root: &Path) {
    let sysroot = Sysroot::open(root).expect("open the host sysroot");

    let mut group = c.benchmark_group("elf_facts");
    for (name, inroot) in [("libLLVM.so.19.1", LIBLLVM), ("libc.so.6", LIBC)] {
        let path = host_file(&sysroot, inroot);
        ElfFacts::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        group.bench_function(name, |b| b.iter(|| ElfFacts::read(black_box(&path)).unwrap()));
    }
    group.finish();

    let mut group = c.benchmark_group("closure");
    group.bench_function("libvulkan_lvp.so", |b| {
        b.iter(|| {
            let resolver = Resolver::new(&sysroot, Options::default());
            black_box(resolver.resolve(black_box(DRIVER)))
        })
    });
    group.bench_function("libvulkan_lvp.so+open_sysroot", |b| {
        b.iter(|| {
            let sysroot = Sysroot::open(black_box(root)).unwrap();
            let resolver = Resolver::new(&sysroot, Options::default());
            black_box(resolver.resolve(black_box(DRIVER)).map(|c| c.complete()))
        })
    });
    group.finish();
}

fn main() {
    let Some(root) = host_root() else {
        println!("elf_facts: skipped, test bed not built (scripts/testbed.sh host)");
        return;
    };
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &root);
    c.final_summary();
}
