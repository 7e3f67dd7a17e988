//! VDPAU drivers, per ABI: `libvdpau_<name>.so*` in `VDPAU_DRIVER_PATH` (one directory; `$LIB` and
//! `${PLATFORM}` expanded for the ABI as dlopen would), then `<libdir>/vdpau` for every `<libdir>`
//! of the ABI (default directories and the directory of `libvdpau.so.1` and the other loader
//! libraries).
//!
//! libvdpau opens `libvdpau_<name>.so.1`, so the several names of one driver in a directory
//! (`.so`, `.so.1`, `.so.1.0.0`) are one module, named by its `.so.1` file when there is one.
//! Only files of the ABI's class and machine count; the first directory holding a driver wins.

use std::collections::BTreeMap;

use crate::loader::expand_dst;
use crate::sysroot::join;

use super::{DriverKind, DriverModule, Scan};

pub(super) fn discover(scan: &mut Scan) {
    for abi in scan.options.abis.clone() {
        let mut dirs = Vec::new();
        if let Some(env) = scan.options.env.get("VDPAU_DRIVER_PATH").filter(|v| v.starts_with('/')) {
            let ctx = scan.host.context(abi);
            dirs.extend(expand_dst(env, "", &ctx));
        }
        dirs.extend(scan.lib_dirs(abi).iter().map(|d| join(d, "vdpau")));
        for dir in scan.unique_dirs(dirs) {
            // Driver stem (`libvdpau_radeonsi`) → the file names carrying it, sorted.
            let mut drivers: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for file in scan.host.sysroot().list_dir(&dir).iter() {
                if let Some(stem) = stem(file) {
                    drivers.entry(stem.to_string()).or_default().push(file.clone());
                }
            }
            for (stem, files) in drivers {
                let preferred = format!("{stem}.so.1");
                let chosen = if files.contains(&preferred) {
                    preferred
                } else {
                    match files.into_iter().next() {
                        Some(f) => f,
                        None => continue,
                    }
                };
                let path = join(&dir, &chosen);
                if !scan.is_abi(&path, abi) || !scan.first(DriverKind::Vdpau, abi, &stem) {
                    continue;
                }
                scan.out.modules.push(DriverModule {
                    kind: DriverKind::Vdpau,
                    abi,
                    name: chosen,
                    manifest: None,
                    library: Some(path),
                    unusable: None,
                });
            }
        }
    }
}

/// `libvdpau_radeonsi.so.1.0.0` → `libvdpau_radeonsi`.
fn stem(file: &str) -> Option<&str> {
    let (stem, after) = file.split_once(".so")?;
    (stem.len() > "libvdpau_".len()
        && stem.starts_with("libvdpau_")
        && (after.is_empty() || after.starts_with('.')))
    .then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use super::stem;

    #[test]
    fn stems() {
        assert_eq!(stem("libvdpau_r600.so.1.0.0"), Some("libvdpau_r600"));
        assert_eq!(stem("libvdpau_r600.so"), Some("libvdpau_r600"));
        assert_eq!(stem("libvdpau_.so.1"), None);
        assert_eq!(stem("libvdpau.so.1"), None);
        assert_eq!(stem("libvdpau_x.sox"), None);
    }

    #[test]
    fn one_module_per_driver() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        t.write("/usr/lib/x86_64-linux-gnu/libgallium.so", &elf64);
        for n in ["libvdpau_r600.so", "libvdpau_r600.so.1", "libvdpau_r600.so.1.0.0"] {
            t.symlink("../libgallium.so", &format!("/usr/lib/x86_64-linux-gnu/vdpau/{n}"));
        }
        t.write("/usr/lib/x86_64-linux-gnu/vdpau/libvdpau_odd.so.2", &elf64);
        t.write("/usr/lib/x86_64-linux-gnu/vdpau/libvdpau_wrong.so.1", &elf32);
        t.write("/opt/vdpau/x86_64/libvdpau_r600.so.1", &elf64);
        let d = run(t.path(), vec![x86_64(), i386()], &[]);
        assert_eq!(names(&d, DriverKind::Vdpau, x86_64()), vec!["libvdpau_odd.so.2", "libvdpau_r600.so.1"]);
        assert!(names(&d, DriverKind::Vdpau, i386()).is_empty());
        let d = run(t.path(), vec![x86_64()], &[("VDPAU_DRIVER_PATH", "/opt/vdpau/${PLATFORM}")]);
        let r600 =
            of_kind(&d, DriverKind::Vdpau, x86_64()).into_iter().find(|m| m.name == "libvdpau_r600.so.1");
        assert_eq!(r600.unwrap().library.as_deref(), Some("/opt/vdpau/x86_64/libvdpau_r600.so.1"));
    }
}
