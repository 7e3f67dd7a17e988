//! EGL vendor libraries (GLVND `egl_vendor.d` manifests) and EGL external platforms
//! (`egl_external_platform.d`, e.g. NVIDIA's egl-wayland).
//!
//! Vendors: `__EGL_VENDOR_LIBRARY_FILENAMES` (exactly those files), else
//! `__EGL_VENDOR_LIBRARY_DIRS`, else `/etc/glvnd/egl_vendor.d` then `/usr/share/glvnd/egl_vendor.d`.
//! External platforms: `__EGL_EXTERNAL_PLATFORM_CONFIG_FILENAMES`, else `…_DIRS`, else
//! `/etc/egl/egl_external_platform.d` then `/usr/share/egl/egl_external_platform.d`. Both use the
//! `{"ICD": {"library_path": …}}` shape; `*.json` files in strcmp order within a directory.

use super::manifest;
use super::{DriverKind, Scan};

pub(super) fn discover(scan: &mut Scan) {
    let vendors = files(
        scan,
        "__EGL_VENDOR_LIBRARY_FILENAMES",
        "__EGL_VENDOR_LIBRARY_DIRS",
        &["/etc/glvnd/egl_vendor.d", "/usr/share/glvnd/egl_vendor.d"],
    );
    for path in vendors {
        manifest::icd_manifest(scan, DriverKind::EglVendor, &path);
    }
    let platforms = files(
        scan,
        "__EGL_EXTERNAL_PLATFORM_CONFIG_FILENAMES",
        "__EGL_EXTERNAL_PLATFORM_CONFIG_DIRS",
        &["/etc/egl/egl_external_platform.d", "/usr/share/egl/egl_external_platform.d"],
    );
    for path in platforms {
        manifest::icd_manifest(scan, DriverKind::EglExternalPlatform, &path);
    }
}

fn files(scan: &Scan, files_var: &str, dirs_var: &str, defaults: &[&str]) -> Vec<String> {
    if let Some(list) = scan.env_list(files_var) {
        return list.into_iter().filter(|f| f.starts_with('/')).collect();
    }
    let dirs = scan.env_list(dirs_var).unwrap_or_else(|| defaults.iter().map(|d| d.to_string()).collect());
    manifest::files_in_dirs(scan, &dirs, ".json")
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    fn vendor(library: &str) -> String {
        format!(r#"{{"file_format_version": "1.0.0", "ICD": {{"library_path": "{library}"}}}}"#)
    }

    #[test]
    fn vendors_platforms_and_env() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        t.write("/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0", &elf64);
        t.write("/usr/lib/i386-linux-gnu/libEGL_mesa.so.0", &elf32);
        t.write("/usr/lib/x86_64-linux-gnu/nvidia/current/libEGL_nvidia.so.0", &elf64);
        t.symlink("/usr/lib/x86_64-linux-gnu/nvidia/current/libEGL_nvidia.so.0", "/etc/alternatives/egl_nv");
        t.symlink("/etc/alternatives/egl_nv", "/usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.0");
        t.write("/usr/lib/x86_64-linux-gnu/libnvidia-egl-wayland.so.1", &elf64);
        t.write("/usr/share/glvnd/egl_vendor.d/50_mesa.json", vendor("libEGL_mesa.so.0").as_bytes());
        t.write("/usr/share/glvnd/egl_vendor.d/10_nvidia.json", vendor("libEGL_nvidia.so.0").as_bytes());
        t.write("/etc/glvnd/egl_vendor.d/99_broken.json", b"{");
        t.write(
            "/usr/share/egl/egl_external_platform.d/10_nvidia_wayland.json",
            vendor("libnvidia-egl-wayland.so.1").as_bytes(),
        );
        let d = run(t.path(), vec![x86_64(), i386()], &[]);
        assert_eq!(
            names(&d, DriverKind::EglVendor, x86_64()),
            vec!["99_broken.json", "10_nvidia.json", "50_mesa.json"]
        );
        assert_eq!(names(&d, DriverKind::EglVendor, i386()), vec!["99_broken.json", "50_mesa.json"]);
        let nv = &of_kind(&d, DriverKind::EglVendor, x86_64())[1];
        assert_eq!(nv.library.as_deref(), Some("/usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.0"));
        assert!(of_kind(&d, DriverKind::EglVendor, x86_64())[0].unusable.as_deref().unwrap().contains("EOF"));
        assert_eq!(names(&d, DriverKind::EglExternalPlatform, x86_64()), vec!["10_nvidia_wayland.json"]);
        assert!(names(&d, DriverKind::EglExternalPlatform, i386()).is_empty());

        let d = run(
            t.path(),
            vec![x86_64()],
            &[("__EGL_VENDOR_LIBRARY_FILENAMES", "/usr/share/glvnd/egl_vendor.d/50_mesa.json")],
        );
        assert_eq!(names(&d, DriverKind::EglVendor, x86_64()), vec!["50_mesa.json"]);
        let d = run(t.path(), vec![x86_64()], &[("__EGL_VENDOR_LIBRARY_DIRS", "/etc/glvnd/egl_vendor.d")]);
        assert_eq!(names(&d, DriverKind::EglVendor, x86_64()), vec!["99_broken.json"]);
    }
}
