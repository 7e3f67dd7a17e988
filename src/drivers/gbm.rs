//! GBM backends (`*_gbm.so`, loaded by Mesa's libgbm): per ABI, in `GBM_BACKENDS_PATH` entries,
//! then `<libdir>/gbm` for every `<libdir>` of the ABI. Only files of the ABI's class and machine
//! count; the first file of a name wins.

use crate::sysroot::join;

use super::{DriverKind, Scan};

pub(super) fn discover(scan: &mut Scan) {
    for abi in scan.options.abis.clone() {
        let mut dirs = scan.env_list("GBM_BACKENDS_PATH").unwrap_or_default();
        dirs.extend(scan.lib_dirs(abi).iter().map(|d| join(d, "gbm")));
        let dirs = scan.unique_dirs(dirs);
        scan.scan_dirs(DriverKind::Gbm, abi, &dirs, |f| {
            (f.ends_with("_gbm.so") && f.len() > "_gbm.so".len()).then(|| f.to_string())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    #[test]
    fn backends_per_abi() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        t.write("/usr/lib/x86_64-linux-gnu/gbm/dri_gbm.so", &elf64);
        t.write("/usr/lib/i386-linux-gnu/gbm/dri_gbm.so", &elf32);
        t.write("/usr/lib/x86_64-linux-gnu/gbm/README", b"text");
        t.write("/opt/gbm/nvidia-drm_gbm.so", &elf64);
        let d = run(t.path(), vec![x86_64(), i386()], &[("GBM_BACKENDS_PATH", "/opt/gbm")]);
        assert_eq!(names(&d, DriverKind::Gbm, x86_64()), vec!["nvidia-drm_gbm.so", "dri_gbm.so"]);
        assert_eq!(names(&d, DriverKind::Gbm, i386()), vec!["dri_gbm.so"]);
        let m = &of_kind(&d, DriverKind::Gbm, i386())[0];
        assert_eq!(m.library.as_deref(), Some("/usr/lib/i386-linux-gnu/gbm/dri_gbm.so"));
    }
}
