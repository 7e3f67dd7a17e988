//! Mesa DRI drivers (`*_dri.so`), per ABI.
//!
//! Directories, in order: `LIBGL_DRIVERS_PATH` entries; `<dir>/dri` for the directory (as found,
//! then canonical) of each of `libGLX_mesa.so.0`, `libEGL_mesa.so.0` and `libGL.so.1` found for the
//! ABI; then for every `<libdir>` of the ABI (default directories and loader-library directories)
//! `<libdir>/dri` and `<libdir>/xorg/modules/dri` (Slackware). Only files of the ABI's class and
//! machine count; the first file of a name wins.

use crate::abi::Abi;
use crate::sysroot::{join, split_path};

use super::{DriverKind, Scan};

/// The libraries next to which Mesa's `dri/` directory is looked for.
const MESA_LOADERS: &[&str] = &["libGLX_mesa.so.0", "libEGL_mesa.so.0", "libGL.so.1"];

pub(super) fn discover(scan: &mut Scan) {
    for abi in scan.options.abis.clone() {
        let dirs = dri_dirs(scan, abi, "LIBGL_DRIVERS_PATH");
        scan.scan_dirs(DriverKind::Dri, abi, &dirs, |f| f.ends_with("_dri.so").then(|| f.to_string()));
    }
}

/// The DRI directories of an ABI, led by the entries of an environment variable
/// (`LIBGL_DRIVERS_PATH`, `LIBVA_DRIVERS_PATH`): existing ones, each once.
pub(super) fn dri_dirs(scan: &Scan, abi: &'static Abi, env: &str) -> Vec<String> {
    let mut dirs: Vec<String> = scan.env_list(env).unwrap_or_default();
    let mut loaders: Vec<&str> = MESA_LOADERS.to_vec();
    if env == "LIBVA_DRIVERS_PATH" {
        loaders.push("libva.so.2");
    }
    for soname in loaders {
        let Some(path) = scan.loader_library(abi, soname) else { continue };
        dirs.push(join(split_path(&path).0, "dri"));
        if let Ok(c) = scan.host.sysroot().canonicalize(&path) {
            dirs.push(join(split_path(&c).0, "dri"));
        }
    }
    for libdir in scan.lib_dirs(abi) {
        dirs.push(join(&libdir, "dri"));
        dirs.push(join(&libdir, "xorg/modules/dri"));
    }
    scan.unique_dirs(dirs)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    #[test]
    fn dri_dirs_and_abi_filter() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        t.write("/usr/lib/x86_64-linux-gnu/libGLX_mesa.so.0", &elf64);
        t.write("/usr/lib/x86_64-linux-gnu/dri/iris_dri.so", &elf64);
        t.symlink("iris_dri.so", "/usr/lib/x86_64-linux-gnu/dri/crocus_dri.so");
        t.write("/usr/lib/x86_64-linux-gnu/dri/radeonsi_drv_video.so", &elf64);
        t.write("/usr/lib/x86_64-linux-gnu/dri/notes_dri.so", b"not an ELF file");
        // Non-multiarch /usr/lib/dri holding i386 drivers: not x86_64 ones.
        t.write("/usr/lib/dri/i915_dri.so", &elf32);
        t.write("/usr/lib/xorg/modules/dri/swrast_dri.so", &elf64);
        t.write("/opt/mesa/dri/zink_dri.so", &elf64);
        t.write("/opt/mesa/dri/iris_dri.so", &elf64);
        let d = run(t.path(), vec![x86_64(), i386()], &[("LIBGL_DRIVERS_PATH", "/opt/mesa/dri:/missing")]);
        assert_eq!(
            names(&d, DriverKind::Dri, x86_64()),
            vec!["iris_dri.so", "zink_dri.so", "crocus_dri.so", "swrast_dri.so"]
        );
        let iris = &of_kind(&d, DriverKind::Dri, x86_64())[0];
        assert_eq!(iris.library.as_deref(), Some("/opt/mesa/dri/iris_dri.so"), "LIBGL_DRIVERS_PATH first");
        assert_eq!(names(&d, DriverKind::Dri, i386()), vec!["i915_dri.so"]);
        assert_eq!(names(&d, DriverKind::VaApi, x86_64()), vec!["radeonsi_drv_video.so"]);
        assert!(names(&d, DriverKind::VaApi, i386()).is_empty());
    }
}
