//! Vulkan ICDs and explicit/implicit layers, in the Vulkan loader's search order.
//!
//! ICDs: `VK_DRIVER_FILES`, else `VK_ICD_FILENAMES` (files or directories), replace the search;
//! otherwise `VK_ADD_DRIVER_FILES` first, then `$XDG_CONFIG_DIRS` (default `/etc/xdg`), `/etc`,
//! `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`), each + `vulkan/icd.d`. Layers: the
//! same directories + `vulkan/explicit_layer.d` and `vulkan/implicit_layer.d` (per-user
//! directories are not searched: they belong to no host root). A layer manifest may hold one
//! `layer` or a `layers` array; each layer becomes its own single-layer manifest. A layer without
//! `library_path` but with `component_layers` is a meta-layer (library `None`). `library_arch`
//! ("32"/"64") limits the ABIs an ICD or layer is considered for.

use serde_json::Value;

use crate::sysroot::join;

use super::manifest::{self, Dedupe};
use super::{DriverKind, Manifest, Scan};

pub(super) fn discover(scan: &mut Scan) {
    for path in icd_files(scan) {
        manifest::icd_manifest(scan, DriverKind::VulkanIcd, &path);
    }
    for suffix in ["vulkan/explicit_layer.d", "vulkan/implicit_layer.d"] {
        let dirs = search_dirs(scan, suffix);
        for path in manifest::files_in_dirs(scan, &dirs, ".json") {
            layer_manifest(scan, &path);
        }
    }
}

/// The standard search directories for one suffix.
fn search_dirs(scan: &Scan, suffix: &str) -> Vec<String> {
    let config = scan.env_list("XDG_CONFIG_DIRS").unwrap_or_else(|| vec!["/etc/xdg".to_string()]);
    let data = scan
        .env_list("XDG_DATA_DIRS")
        .unwrap_or_else(|| vec!["/usr/local/share".to_string(), "/usr/share".to_string()]);
    config
        .into_iter()
        .chain(std::iter::once("/etc".to_string()))
        .chain(data)
        .filter(|d| d.starts_with('/'))
        .map(|d| join(&d, suffix))
        .collect()
}

fn icd_files(scan: &Scan) -> Vec<String> {
    if let Some(list) = scan.env_list("VK_DRIVER_FILES").or_else(|| scan.env_list("VK_ICD_FILENAMES")) {
        return manifest::files_or_dirs(scan, &list, ".json");
    }
    let mut files = scan
        .env_list("VK_ADD_DRIVER_FILES")
        .map(|list| manifest::files_or_dirs(scan, &list, ".json"))
        .unwrap_or_default();
    for f in manifest::files_in_dirs(scan, &search_dirs(scan, "vulkan/icd.d"), ".json") {
        if !files.contains(&f) {
            files.push(f);
        }
    }
    files
}

fn layer_manifest(scan: &mut Scan, path: &str) {
    let kind = DriverKind::VulkanLayer;
    let json = match manifest::read_json(scan, path) {
        Ok(Some(j)) => j,
        Ok(None) => {
            scan.out.warnings.push(format!("{path}: dangling or vanished vulkan-layer manifest; ignored"));
            return;
        }
        Err(e) => return manifest::emit_broken(scan, kind, path, &e),
    };
    let layers: Vec<Value> = match (json.get("layers"), json.get("layer")) {
        (Some(Value::Array(list)), _) => {
            let version = json.get("file_format_version").cloned().unwrap_or(Value::Null);
            list.iter()
                .map(|l| serde_json::json!({"file_format_version": version.clone(), "layer": l.clone()}))
                .collect()
        }
        (Some(other), _) => {
            let e = format!("{path}: layers is not an array but {}", manifest::json_type(other));
            return manifest::emit_broken(scan, kind, path, &e);
        }
        (None, Some(_)) => vec![json],
        (None, None) => {
            return manifest::emit_broken(scan, kind, path, &format!("{path}: no layer or layers member"));
        }
    };
    for single in layers {
        match parse_layer(&single) {
            Ok((name, library, arch)) => {
                let abis = manifest::abis_for_arch(&scan.options.abis, arch.as_deref());
                let m = Manifest {
                    path: path.to_string(),
                    json: Some(single),
                    library_field: library,
                    layer_name: Some(name.clone()),
                };
                manifest::emit(scan, kind, m, &abis, Dedupe::ByName(name));
            }
            Err(e) => manifest::emit_broken(scan, kind, path, &format!("{path}: {e}")),
        }
    }
}

/// A single-layer manifest's name, `library_path` (`None` for a meta-layer) and `library_arch`.
fn parse_layer(json: &Value) -> Result<(String, Option<String>, Option<String>), String> {
    let layer = match json.get("layer") {
        Some(v @ Value::Object(_)) => v,
        Some(other) => return Err(format!("layer is not an object but {}", manifest::json_type(other))),
        None => return Err("no layer object".to_string()),
    };
    let name = manifest::string_field(layer, "name", "layer")?.ok_or("layer has no name")?;
    let library = manifest::string_field(layer, "library_path", "layer")?;
    let arch = manifest::string_field(layer, "library_arch", "layer")?;
    if library.is_none() {
        match layer.get("component_layers") {
            Some(Value::Array(_)) => {}
            Some(other) => {
                return Err(format!(
                    "layer {name}: component_layers is not an array but {}",
                    manifest::json_type(other)
                ));
            }
            None => return Err(format!("layer {name} has neither library_path nor component_layers")),
        }
    }
    Ok((name, library, arch))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    const LIB: &str = "/usr/lib/x86_64-linux-gnu";
    const LIB32: &str = "/usr/lib/i386-linux-gnu";

    fn icd(library: &str) -> String {
        format!(
            r#"{{"file_format_version": "1.0.0", "ICD": {{"library_path": "{library}", "api_version": "1.3.0"}}}}"#
        )
    }

    #[test]
    fn library_path_forms() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        // Bare name present for both ABIs: one manifest serves both.
        t.write(&format!("{LIB}/libvulkan_both.so"), &elf64);
        t.write(&format!("{LIB32}/libvulkan_both.so"), &elf32);
        t.write("/usr/share/vulkan/icd.d/both_icd.json", icd("libvulkan_both.so").as_bytes());
        // Bare name for one ABI only: one module, no unusable one.
        t.write(&format!("{LIB32}/libvulkan_only32.so"), &elf32);
        t.write("/usr/share/vulkan/icd.d/only32_icd.json", icd("libvulkan_only32.so").as_bytes());
        // Bare name found nowhere: one unusable module.
        t.write("/usr/share/vulkan/icd.d/gone_icd.json", icd("libvulkan_gone.so").as_bytes());
        // Relative path: relative to the manifest's directory.
        t.write("/opt/vendor/lib/libvk_rel.so", &elf64);
        t.write("/opt/vendor/icd.d/rel_icd.json", icd("../lib/libvk_rel.so").as_bytes());
        // Absolute path outside /usr, of the other ABI.
        t.write("/opt/vendor32/libvk_abs.so", &elf32);
        t.write("/etc/vulkan/icd.d/abs_icd.json", icd("/opt/vendor32/libvk_abs.so").as_bytes());
        // A text file as library.
        t.write("/opt/text/libvk_text.so", b"INPUT(-lfoo)\n");
        t.write("/etc/vulkan/icd.d/text_icd.json", icd("/opt/text/libvk_text.so").as_bytes());
        // $LIB expanded per ABI.
        t.write(&format!("{LIB}/libvk_dst.so"), &elf64);
        t.write(&format!("{LIB32}/libvk_dst.so"), &elf32);
        t.write("/etc/vulkan/icd.d/dst_icd.json", icd("/usr/$LIB/libvk_dst.so").as_bytes());

        let d = run(t.path(), vec![x86_64(), i386()], &[("VK_ADD_DRIVER_FILES", "/opt/vendor/icd.d")]);
        let x = of_kind(&d, DriverKind::VulkanIcd, x86_64());
        let i = of_kind(&d, DriverKind::VulkanIcd, i386());
        let find = |v: &Vec<&DriverModule>, n: &str| v.iter().find(|m| m.name == n).map(|m| (*m).clone());

        let both = find(&x, "both_icd.json").unwrap();
        assert_eq!(both.library.as_deref(), Some("/usr/lib/x86_64-linux-gnu/libvulkan_both.so"));
        let both32 = find(&i, "both_icd.json").unwrap();
        assert_eq!(both32.library.as_deref(), Some("/usr/lib/i386-linux-gnu/libvulkan_both.so"));
        assert_eq!(both32.manifest.unwrap().library_field.as_deref(), Some("libvulkan_both.so"));

        assert!(find(&x, "only32_icd.json").is_none());
        assert!(find(&i, "only32_icd.json").unwrap().unusable.is_none());

        let gone = find(&x, "gone_icd.json").unwrap();
        assert!(gone.library.is_none());
        assert!(gone.unusable.as_deref().unwrap().contains("libvulkan_gone.so"), "{gone:?}");
        assert!(find(&i, "gone_icd.json").is_none());

        let rel = find(&x, "rel_icd.json").unwrap();
        assert_eq!(rel.library.as_deref(), Some("/opt/vendor/icd.d/../lib/libvk_rel.so"));
        assert!(rel.unusable.is_none());
        assert_eq!(x.first().unwrap().name, "rel_icd.json", "VK_ADD_DRIVER_FILES come first");

        assert!(find(&x, "abs_icd.json").is_none());
        assert_eq!(find(&i, "abs_icd.json").unwrap().library.as_deref(), Some("/opt/vendor32/libvk_abs.so"));

        let text = find(&x, "text_icd.json").unwrap();
        assert!(text.unusable.as_deref().unwrap().contains("/opt/text/libvk_text.so"), "{text:?}");
        assert!(find(&i, "text_icd.json").is_none());

        assert_eq!(
            find(&x, "dst_icd.json").unwrap().library.as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/libvk_dst.so")
        );
        assert_eq!(
            find(&i, "dst_icd.json").unwrap().library.as_deref(),
            Some("/usr/lib/i386-linux-gnu/libvk_dst.so")
        );

        // With VK_DRIVER_FILES, only those.
        let d =
            run(t.path(), vec![x86_64(), i386()], &[("VK_DRIVER_FILES", "/etc/vulkan/icd.d/dst_icd.json")]);
        assert_eq!(names(&d, DriverKind::VulkanIcd, x86_64()), vec!["dst_icd.json"]);
        let d = run(t.path(), vec![x86_64()], &[("VK_ICD_FILENAMES", "/opt/vendor/icd.d")]);
        assert_eq!(names(&d, DriverKind::VulkanIcd, x86_64()), vec!["rel_icd.json"]);
    }

    #[test]
    fn broken_manifests_are_unusable_never_fatal() {
        let Some((t, elf64, _)) = multiarch_tree() else { return };
        t.write(&format!("{LIB}/libvulkan_ok.so"), &elf64);
        t.write("/usr/share/vulkan/icd.d/a_bad.json", b"{\n  \"ICD\": {\n    \"library_path\": \n}\n");
        t.write("/usr/share/vulkan/icd.d/b_nolib.json", br#"{"ICD": {"api_version": "1.0"}}"#);
        t.write("/usr/share/vulkan/icd.d/c_type.json", br#"{"ICD": {"library_path": ["x"]}}"#);
        t.write("/usr/share/vulkan/icd.d/d_text.json", b"this is not json");
        t.write("/usr/share/vulkan/icd.d/e_big.json", &vec![b' '; (manifest::MANIFEST_LIMIT + 1) as usize]);
        t.write("/usr/share/vulkan/icd.d/f_binary.json", &elf64);
        t.write("/usr/share/vulkan/icd.d/z_ok.json", icd("libvulkan_ok.so").as_bytes());
        t.symlink("/nowhere.json", "/usr/share/vulkan/icd.d/g_dangling.json");
        nix::unistd::mkfifo(
            &t.path().join("usr/share/vulkan/icd.d/h_fifo.json"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        t.write("/usr/share/vulkan/icd.d/i_dir.json/inside", b"{}");
        let d = run(t.path(), vec![x86_64(), i386()], &[]);
        for abi in [x86_64(), i386()] {
            let m = of_kind(&d, DriverKind::VulkanIcd, abi);
            assert!(!m.iter().any(|x| x.name == "i_dir.json"), "a directory is no manifest");
            let why = |n: &str| m.iter().find(|x| x.name == n).and_then(|x| x.unusable.clone()).unwrap();
            let bad = why("a_bad.json");
            assert!(
                bad.starts_with("/usr/share/vulkan/icd.d/a_bad.json: ") && bad.contains("line 4 column 1"),
                "{bad}"
            );
            assert!(why("b_nolib.json").ends_with("ICD has no library_path"));
            assert!(why("c_type.json").contains("not a string but an array"));
            assert!(why("d_text.json").contains("at line 1 column"), "{}", why("d_text.json"));
            assert!(why("e_big.json").contains("larger than"));
            assert!(why("f_binary.json").starts_with("/usr/share/vulkan/icd.d/f_binary.json: "));
            assert!(why("h_fifo.json").contains("FIFO"), "{}", why("h_fifo.json"));
            assert!(!m.iter().any(|x| x.name == "g_dangling.json"));
        }
        let ok = of_kind(&d, DriverKind::VulkanIcd, x86_64());
        assert!(ok.iter().any(|m| m.name == "z_ok.json" && m.unusable.is_none()));
        assert!(d.warnings.iter().any(|w| w.contains("g_dangling.json")), "{:?}", d.warnings);
    }

    #[test]
    fn duplicates_symlinks_and_layers() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        t.write(&format!("{LIB}/libvulkan_x.so"), &elf64);
        t.write(&format!("{LIB32}/libvulkan_x.so"), &elf32);
        t.symlink("libvulkan_x.so", &format!("{LIB}/libvulkan_alias.so"));
        t.write("/usr/share/vulkan/icd.d/x_icd.json", icd("libvulkan_x.so").as_bytes());
        // The same library through another name, found later: a duplicate.
        t.write(
            "/usr/share/vulkan/icd.d/y_icd.json",
            icd("/usr/lib/x86_64-linux-gnu/libvulkan_alias.so").as_bytes(),
        );
        // A manifest that is a symlink (Debian alternatives style), in /etc: found first.
        t.write("/usr/lib/vendor/real_icd.json", icd("libvulkan_x.so").as_bytes());
        t.symlink("/usr/lib/vendor/real_icd.json", "/etc/alternatives/vendor_icd.json");
        t.symlink("/etc/alternatives/vendor_icd.json", "/etc/vulkan/icd.d/vendor_icd.json");
        // Layers: one ordinary, one meta, one array file, one repeated name.
        t.write(&format!("{LIB}/libVkLayer_a.so"), &elf64);
        t.write(
            "/usr/share/vulkan/explicit_layer.d/a.json",
            br#"{"file_format_version": "1.0.0", "layer": {"name": "VK_LAYER_a", "type": "GLOBAL", "library_path": "libVkLayer_a.so"}}"#,
        );
        t.write(
            "/usr/share/vulkan/explicit_layer.d/meta.json",
            br#"{"file_format_version": "1.1.2", "layer": {"name": "VK_LAYER_meta", "component_layers": ["VK_LAYER_a"]}}"#,
        );
        t.write(
            "/usr/share/vulkan/implicit_layer.d/multi.json",
            br#"{"file_format_version": "1.0.1", "layers": [
                {"name": "VK_LAYER_m1", "library_path": "libVkLayer_a.so"},
                {"name": "VK_LAYER_m2", "library_path": "libVkLayer_a.so", "library_arch": "32"},
                {"name": "VK_LAYER_broken"}]}"#,
        );
        t.write(
            "/etc/vulkan/implicit_layer.d/again.json",
            br#"{"file_format_version": "1.0.0", "layer": {"name": "VK_LAYER_m1", "library_path": "libVkLayer_a.so"}}"#,
        );
        let d = run(t.path(), vec![x86_64(), i386()], &[]);
        assert_eq!(names(&d, DriverKind::VulkanIcd, x86_64()), vec!["vendor_icd.json"]);
        assert_eq!(names(&d, DriverKind::VulkanIcd, i386()), vec!["vendor_icd.json"]);
        let v = &of_kind(&d, DriverKind::VulkanIcd, x86_64())[0];
        assert_eq!(v.manifest.as_ref().unwrap().path, "/etc/vulkan/icd.d/vendor_icd.json");
        let dups: Vec<&String> = d.warnings.iter().filter(|w| w.contains("duplicate vulkan-icd")).collect();
        // x_icd.json for both ABIs and y_icd.json for x86_64.
        assert_eq!(dups.len(), 3, "{:?}", d.warnings);

        let layers = of_kind(&d, DriverKind::VulkanLayer, x86_64());
        let by =
            |n: &str| layers.iter().find(|m| m.manifest.as_ref().unwrap().layer_name.as_deref() == Some(n));
        assert!(by("VK_LAYER_a").unwrap().library.is_some());
        assert!(!layer_is_implicit(by("VK_LAYER_a").unwrap()));
        let meta = by("VK_LAYER_meta").unwrap();
        assert!(meta.library.is_none() && meta.unusable.is_none());
        assert!(meta.manifest.as_ref().unwrap().library_field.is_none());
        let m1 = by("VK_LAYER_m1").unwrap();
        assert!(layer_is_implicit(m1));
        // The first in the search order is /etc/vulkan/implicit_layer.d/again.json.
        assert_eq!(m1.manifest.as_ref().unwrap().path, "/etc/vulkan/implicit_layer.d/again.json");
        assert!(by("VK_LAYER_m2").is_none(), "library_arch 32");
        let broken = layers.iter().find(|m| m.name == "multi.json" && m.unusable.is_some()).unwrap();
        assert!(broken.unusable.as_deref().unwrap().contains("VK_LAYER_broken"));
        let multi = layers.iter().find(|m| m.name == "multi.json" && m.unusable.is_none());
        assert!(multi.is_none(), "m1 from multi.json is a duplicate of again.json");
        // The single-layer JSON of an array entry.
        let i_layers = of_kind(&d, DriverKind::VulkanLayer, i386());
        let m2 = i_layers
            .iter()
            .find(|m| m.manifest.as_ref().unwrap().layer_name.as_deref() == Some("VK_LAYER_m2"));
        let json = m2.unwrap().manifest.as_ref().unwrap().json.clone().unwrap();
        assert_eq!(json["layer"]["name"], "VK_LAYER_m2");
        assert_eq!(json["file_format_version"], "1.0.1");
        // The i386 layer library does not exist: VK_LAYER_a is only for x86_64, no unusable i386 one.
        assert!(
            !i_layers
                .iter()
                .any(|m| m.manifest.as_ref().unwrap().layer_name.as_deref() == Some("VK_LAYER_a"))
        );
    }

    #[test]
    fn xdg_dirs_from_env() {
        let Some((t, elf64, _)) = multiarch_tree() else { return };
        t.write(&format!("{LIB}/libvulkan_x.so"), &elf64);
        t.write("/custom/share/vulkan/icd.d/x_icd.json", icd("libvulkan_x.so").as_bytes());
        let d = run(t.path(), vec![x86_64()], &[]);
        assert!(names(&d, DriverKind::VulkanIcd, x86_64()).is_empty());
        let d = run(t.path(), vec![x86_64()], &[("XDG_DATA_DIRS", "/custom/share:relative")]);
        assert_eq!(names(&d, DriverKind::VulkanIcd, x86_64()), vec!["x_icd.json"]);
    }
}
