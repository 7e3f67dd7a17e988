//! OpenCL ICDs (ocl-icd / Khronos loader `.icd` files): `OCL_ICD_VENDORS` (a directory, or a
//! single file), else `/etc/OpenCL/vendors/*.icd`. Each file holds one library name or path on its
//! first line; it is resolved per ABI like a manifest's `library_path` (a bare name per ABI through
//! the loader engine, a path for the ABI of the file it names). An empty, unreadable or non-UTF-8
//! file gives `unusable` modules.

use super::manifest::{self, Dedupe};
use super::{DriverKind, Manifest, Scan};

pub(super) fn discover(scan: &mut Scan) {
    let kind = DriverKind::Opencl;
    let files = match scan.env_list("OCL_ICD_VENDORS") {
        Some(list) => manifest::files_or_dirs(scan, &list, ".icd"),
        None => manifest::files_in_dirs(scan, &["/etc/OpenCL/vendors".to_string()], ".icd"),
    };
    for path in files {
        let bytes = match manifest::read(scan, &path) {
            Ok(Some(b)) => b,
            Ok(None) => {
                scan.out.warnings.push(format!("{path}: dangling or vanished opencl manifest; ignored"));
                continue;
            }
            Err(e) => {
                manifest::emit_broken(scan, kind, &path, &e);
                continue;
            }
        };
        let line = match std::str::from_utf8(&bytes) {
            Ok(text) => text.lines().next().unwrap_or("").trim().to_string(),
            Err(e) => {
                manifest::emit_broken(scan, kind, &path, &format!("{path}: not UTF-8 text: {e}"));
                continue;
            }
        };
        if line.is_empty() {
            manifest::emit_broken(scan, kind, &path, &format!("{path}: empty, no library named"));
            continue;
        }
        let m = Manifest { path: path.clone(), json: None, library_field: Some(line), layer_name: None };
        let abis = scan.options.abis.clone();
        manifest::emit(scan, kind, m, &abis, Dedupe::ByLibrary);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    #[test]
    fn icd_files() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        t.write("/usr/lib/x86_64-linux-gnu/libMesaOpenCL.so.1", &elf64);
        t.write("/usr/lib/i386-linux-gnu/libMesaOpenCL.so.1", &elf32);
        t.write("/etc/OpenCL/vendors/mesa.icd", b"libMesaOpenCL.so.1\n");
        t.write("/opt/amd/libamdocl64.so", &elf64);
        t.write("/etc/OpenCL/vendors/amd.icd", b"/opt/amd/libamdocl64.so");
        t.write("/etc/OpenCL/vendors/empty.icd", b"\n");
        t.write("/etc/OpenCL/vendors/binary.icd", &[0xff, 0xfe, 0]);
        t.write("/etc/OpenCL/vendors/README", b"libMesaOpenCL.so.1\n");
        let d = run(t.path(), vec![x86_64(), i386()], &[]);
        assert_eq!(
            names(&d, DriverKind::Opencl, x86_64()),
            vec!["amd.icd", "binary.icd", "empty.icd", "mesa.icd"]
        );
        assert_eq!(names(&d, DriverKind::Opencl, i386()), vec!["binary.icd", "empty.icd", "mesa.icd"]);
        let x = of_kind(&d, DriverKind::Opencl, x86_64());
        assert!(x[1].unusable.as_deref().unwrap().contains("not UTF-8"));
        assert!(x[2].unusable.as_deref().unwrap().contains("empty"));
        assert_eq!(x[3].library.as_deref(), Some("/usr/lib/x86_64-linux-gnu/libMesaOpenCL.so.1"));
        assert_eq!(x[3].manifest.as_ref().unwrap().library_field.as_deref(), Some("libMesaOpenCL.so.1"));
        let d = run(t.path(), vec![x86_64()], &[("OCL_ICD_VENDORS", "/etc/OpenCL/vendors/amd.icd")]);
        assert_eq!(names(&d, DriverKind::Opencl, x86_64()), vec!["amd.icd"]);
    }
}
