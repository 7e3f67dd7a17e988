//! VA-API drivers (`*_drv_video.so`), per ABI: in `LIBVA_DRIVERS_PATH` entries, then the same
//! `dri/` directories as the DRI drivers plus `<dir of libva.so.2>/dri`.

use super::dri::dri_dirs;
use super::{DriverKind, Scan};

pub(super) fn discover(scan: &mut Scan) {
    for abi in scan.options.abis.clone() {
        let dirs = dri_dirs(scan, abi, "LIBVA_DRIVERS_PATH");
        scan.scan_dirs(DriverKind::VaApi, abi, &dirs, |f| {
            f.ends_with("_drv_video.so").then(|| f.to_string())
        });
    }
}
