//! GLX vendor libraries: `libGLX_<vendor>.so.0` (including `libGLX_indirect.so.0`), named by the
//! ABI's ld.so.cache entries and by the files in its default directories; each is located with
//! [`Resolver::find_library`](crate::loader::Resolver::find_library), as libGLX's dlopen would.

use crate::abi::Abi;

use super::{DriverKind, DriverModule, Scan};

pub(super) fn discover(scan: &mut Scan) {
    for abi in scan.options.abis.clone() {
        for name in vendor_names(scan, abi) {
            let Ok(library) = scan.host.find_library(abi, &name) else { continue };
            if !scan.first(DriverKind::Glx, abi, &name) {
                continue;
            }
            scan.out.modules.push(DriverModule {
                kind: DriverKind::Glx,
                abi,
                name,
                manifest: None,
                library: Some(library),
                unusable: None,
            });
        }
    }
}

fn is_vendor(name: &str) -> bool {
    name.strip_prefix("libGLX_").and_then(|v| v.strip_suffix(".so.0")).is_some_and(|v| !v.is_empty())
}

fn vendor_names(scan: &Scan, abi: &'static Abi) -> Vec<String> {
    let ctx = scan.host.context(abi);
    let mut names: Vec<String> = Vec::new();
    if let Some(cache) = &ctx.cache {
        for e in &cache.entries {
            if is_vendor(&e.key) && abi.accepts_cache_flags(e.flags) && !names.contains(&e.key) {
                names.push(e.key.clone());
            }
        }
    }
    for dir in &ctx.default_dirs {
        for file in scan.host.sysroot().list_dir(dir).iter() {
            if is_vendor(file) && !names.contains(file) {
                names.push(file.clone());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use super::is_vendor;

    #[test]
    fn vendor_names() {
        assert!(is_vendor("libGLX_mesa.so.0") && is_vendor("libGLX_indirect.so.0"));
        assert!(
            !is_vendor("libGLX.so.0") && !is_vendor("libGLX_.so.0") && !is_vendor("libGLX_mesa.so.0.0.0")
        );
    }

    #[test]
    fn found_per_abi_in_default_dirs() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        t.write("/usr/lib/x86_64-linux-gnu/libGLX_mesa.so.0", &elf64);
        t.write("/usr/lib/i386-linux-gnu/libGLX_mesa.so.0", &elf32);
        t.write("/usr/lib/x86_64-linux-gnu/nvidia/current/libGLX_nvidia.so.0", &elf64);
        t.symlink("nvidia/current/libGLX_nvidia.so.0", "/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0");
        // The wrong class where the i386 loader looks: not an i386 vendor.
        t.write("/usr/lib/i386-linux-gnu/libGLX_wrong.so.0", &elf64);
        t.write("/usr/lib/x86_64-linux-gnu/libGLX.so.0", &elf64);
        let d = run(t.path(), vec![x86_64(), i386()], &[]);
        assert_eq!(names(&d, DriverKind::Glx, x86_64()), vec!["libGLX_mesa.so.0", "libGLX_nvidia.so.0"]);
        assert_eq!(names(&d, DriverKind::Glx, i386()), vec!["libGLX_mesa.so.0"]);
        let nv = &of_kind(&d, DriverKind::Glx, x86_64())[1];
        assert_eq!(nv.library.as_deref(), Some("/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0"));
    }
}
