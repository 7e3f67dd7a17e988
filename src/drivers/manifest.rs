//! Manifest handling shared by the manifest-described kinds (Vulkan, EGL, OpenCL): finding manifest
//! files in search directories, reading them with a size limit, and turning one `library_path`
//! into per-ABI modules (bare name, relative or absolute path), with duplicate detection.
//!
//! The `library_path` rules are those of the [module documentation](super).

use std::collections::HashSet;

use crate::abi::Abi;
use crate::loader::expand_dst;
use crate::sysroot::{OpenError, join, split_path};

use super::{DriverKind, DriverModule, Manifest, Scan};

/// The largest manifest read; anything bigger is `unusable`.
pub const MANIFEST_LIMIT: u64 = 1 << 20;

/// How duplicates of a module are recognised within its kind and ABI.
#[derive(Debug, Clone)]
pub(crate) enum Dedupe {
    /// The same library file (canonical path).
    ByLibrary,
    /// The same name (Vulkan layers).
    ByName(String),
}

/// The manifest files (names ending in `suffix`) in each directory, in order, sorted within a
/// directory; directories and files seen before (same canonical path) are left out.
pub(crate) fn files_in_dirs(scan: &Scan, dirs: &[String], suffix: &str) -> Vec<String> {
    let sysroot = scan.host.sysroot();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for dir in scan.unique_dirs(dirs.to_vec()) {
        for name in sysroot.list_dir(&dir).iter() {
            if !name.ends_with(suffix) {
                continue;
            }
            let path = join(&dir, name);
            if sysroot.is_dir(&path) {
                continue;
            }
            if let Ok(c) = sysroot.canonicalize(&path)
                && !seen.insert(c)
            {
                continue;
            }
            out.push(path);
        }
    }
    out
}

/// An explicit list of files or directories (an environment variable): directories are expanded
/// to their manifest files; files are taken whatever their name.
pub(crate) fn files_or_dirs(scan: &Scan, entries: &[String], suffix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        if !e.starts_with('/') {
            // A relative entry means the working directory of the process using the driver,
            // which is not in the host root: ignored.
            continue;
        }
        if scan.host.sysroot().is_dir(e) {
            out.extend(files_in_dirs(scan, std::slice::from_ref(e), suffix));
        } else {
            out.push(e.clone());
        }
    }
    out
}

/// Reads a manifest file: `Ok(None)` when there is nothing there (a dangling symlink, a file that
/// vanished), `Err` with a reason that starts with the path for anything unreadable.
pub(crate) fn read(scan: &Scan, path: &str) -> Result<Option<Vec<u8>>, String> {
    match scan.host.sysroot().read_file(path, MANIFEST_LIMIT) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(OpenError::NotFound) => Ok(None),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

/// Reads and parses a JSON manifest; see [`read`].
pub(crate) fn read_json(scan: &Scan, path: &str) -> Result<Option<serde_json::Value>, String> {
    let Some(bytes) = read(scan, path)? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{path}: {e}"))
}

/// The file name of a path.
pub(crate) fn file_name(path: &str) -> String {
    split_path(path).1.to_string()
}

/// A string member of a JSON object: `Ok(None)` when absent, an error naming `what` when it has
/// another type.
pub(crate) fn string_field(
    object: &serde_json::Value,
    key: &str,
    what: &str,
) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{what}.{key} is not a string but {}", json_type(other))),
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The `{"ICD": {"library_path": …}}` shape shared by Vulkan ICDs, EGL vendors and EGL external
/// platforms: the `library_path` and the optional `library_arch` ("32" or "64").
pub(crate) fn icd_library(json: &serde_json::Value) -> Result<(String, Option<String>), String> {
    let icd = match json.get("ICD") {
        Some(v @ serde_json::Value::Object(_)) => v,
        Some(other) => return Err(format!("ICD is not an object but {}", json_type(other))),
        None => return Err("no ICD object".to_string()),
    };
    let library = string_field(icd, "library_path", "ICD")?.ok_or("ICD has no library_path")?;
    let arch = string_field(icd, "library_arch", "ICD")?;
    Ok((library, arch))
}

/// The requested ABIs that a Vulkan `library_arch` ("32" or "64") allows.
pub(crate) fn abis_for_arch(abis: &[&'static Abi], arch: Option<&str>) -> Vec<&'static Abi> {
    abis.iter().copied().filter(|a| arch.is_none_or(|arch| (arch == "64") == a.class64)).collect()
}

/// Where one library reference lands.
enum Located {
    /// One library per ABI where it is usable.
    Found(Vec<(&'static Abi, String)>),
    /// Only for an ABI not requested: a warning.
    Elsewhere(String),
    /// For no ABI: the reason.
    NotFound(String),
}

fn locate(scan: &Scan, manifest_dir: &str, field: &str, abis: &[&'static Abi]) -> Located {
    if field.is_empty() {
        return Located::NotFound("library_path is empty".to_string());
    }
    if !field.contains('/') {
        let mut found = Vec::new();
        let mut first_error = None;
        for &abi in abis {
            match scan.host.find_library(abi, field) {
                Ok(path) => found.push((abi, path)),
                Err(e) => {
                    first_error.get_or_insert(format!("{}: {e}", abi.tuple));
                }
            }
        }
        return if found.is_empty() {
            Located::NotFound(first_error.unwrap_or_else(|| format!("{field}: not found")))
        } else {
            Located::Found(found)
        };
    }
    let path = if field.starts_with('/') { field.to_string() } else { join(manifest_dir, field) };
    if path.contains('$') {
        let mut found = Vec::new();
        let mut first_error = None;
        for &abi in abis {
            let ctx = scan.host.context(abi);
            // `$ORIGIN` in a dlopen()ed name is the caller's directory, unknown here: dropped.
            let Some(expanded) = expand_dst(&path, "", &ctx) else {
                first_error.get_or_insert(format!("{path}: a token cannot be expanded for {}", abi.tuple));
                continue;
            };
            match scan.elf_abi(&expanded) {
                Ok(a) if a.tuple == abi.tuple => found.push((abi, expanded)),
                Ok(a) => {
                    first_error.get_or_insert(format!("{expanded}: an {} library", a.tuple));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        return if found.is_empty() {
            Located::NotFound(first_error.unwrap_or_else(|| format!("{path}: not found")))
        } else {
            Located::Found(found)
        };
    }
    match scan.elf_abi(&path) {
        Ok(a) => match abis.iter().find(|x| x.tuple == a.tuple) {
            Some(&abi) => Located::Found(vec![(abi, path)]),
            None => Located::Elsewhere(format!("{path}: an {} library, not planned for", a.tuple)),
        },
        Err(e) => Located::NotFound(e),
    }
}

/// Adds the modules one manifest library reference gives: one per ABI where it is found (first of
/// its duplicates only), else one `unusable` module for the first ABI.
pub(crate) fn emit(
    scan: &mut Scan,
    kind: DriverKind,
    manifest: Manifest,
    abis: &[&'static Abi],
    dedupe: Dedupe,
) {
    let name = file_name(&manifest.path);
    let Some(field) = manifest.library_field.clone() else {
        // A meta-layer: no library, one module per ABI.
        for &abi in abis {
            if check_first(scan, kind, abi, &dedupe, None, &manifest.path) {
                scan.out.modules.push(DriverModule {
                    kind,
                    abi,
                    name: name.clone(),
                    manifest: Some(manifest.clone()),
                    library: None,
                    unusable: None,
                });
            }
        }
        return;
    };
    let dir = split_path(&manifest.path).0.to_string();
    match locate(scan, &dir, &field, abis) {
        Located::Found(found) => {
            for (abi, library) in found {
                if check_first(scan, kind, abi, &dedupe, Some(&library), &manifest.path) {
                    scan.out.modules.push(DriverModule {
                        kind,
                        abi,
                        name: name.clone(),
                        manifest: Some(manifest.clone()),
                        library: Some(library),
                        unusable: None,
                    });
                }
            }
        }
        Located::Elsewhere(w) => scan.out.warnings.push(format!("{}: {w}", manifest.path)),
        Located::NotFound(reason) => {
            if let Some(&abi) = abis.first() {
                let unusable = Some(format!("{}: library_path '{field}': {reason}", manifest.path));
                scan.out.modules.push(DriverModule {
                    kind,
                    abi,
                    name,
                    manifest: Some(manifest),
                    library: None,
                    unusable,
                });
            }
        }
    }
}

fn check_first(
    scan: &mut Scan,
    kind: DriverKind,
    abi: &'static Abi,
    dedupe: &Dedupe,
    library: Option<&str>,
    manifest_path: &str,
) -> bool {
    let key = match (dedupe, library) {
        (Dedupe::ByName(n), _) => format!("name:{n}"),
        (Dedupe::ByLibrary, Some(l)) => format!("library:{}", scan.canonical(l)),
        (Dedupe::ByLibrary, None) => format!("manifest:{}", scan.canonical(manifest_path)),
    };
    if scan.first(kind, abi, &key) {
        return true;
    }
    let what = match dedupe {
        Dedupe::ByName(n) => format!("layer {n}"),
        Dedupe::ByLibrary => format!("library {}", library.map(|l| scan.canonical(l)).unwrap_or_default()),
    };
    scan.out.warnings.push(format!(
        "{manifest_path}: duplicate {} for {} ({what} already found earlier in the search order); ignored",
        kind.as_str(),
        abi.tuple
    ));
    false
}

/// Adds one `unusable` module per ABI for a manifest that could not be read or parsed.
pub(crate) fn emit_broken(scan: &mut Scan, kind: DriverKind, path: &str, reason: &str) {
    for &abi in &scan.options.abis {
        scan.out.modules.push(DriverModule {
            kind,
            abi,
            name: file_name(path),
            manifest: Some(Manifest {
                path: path.to_string(),
                json: None,
                library_field: None,
                layer_name: None,
            }),
            library: None,
            unusable: Some(reason.to_string()),
        });
    }
}

/// Reads and parses one `{"ICD": {"library_path": …}}` manifest and adds its modules: the common
/// path for Vulkan ICDs, EGL vendors and EGL external platforms.
pub(crate) fn icd_manifest(scan: &mut Scan, kind: DriverKind, path: &str) {
    let json = match read_json(scan, path) {
        Ok(Some(j)) => j,
        Ok(None) => {
            scan.out
                .warnings
                .push(format!("{path}: dangling or vanished {} manifest; ignored", kind.as_str()));
            return;
        }
        Err(e) => return emit_broken(scan, kind, path, &e),
    };
    let (library, arch) = match icd_library(&json) {
        Ok(x) => x,
        Err(e) => return emit_broken(scan, kind, path, &format!("{path}: {e}")),
    };
    let abis = abis_for_arch(&scan.options.abis, arch.as_deref());
    let manifest =
        Manifest { path: path.to_string(), json: Some(json), library_field: Some(library), layer_name: None };
    emit(scan, kind, manifest, &abis, Dedupe::ByLibrary);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd_shape_errors_say_what_is_wrong() {
        let j: serde_json::Value = serde_json::json!({"ICD": {"library_path": 3}});
        assert_eq!(icd_library(&j).unwrap_err(), "ICD.library_path is not a string but a number");
        let j = serde_json::json!({"ICD": []});
        assert_eq!(icd_library(&j).unwrap_err(), "ICD is not an object but an array");
        let j = serde_json::json!({"file_format_version": "1.0.0"});
        assert_eq!(icd_library(&j).unwrap_err(), "no ICD object");
        let j = serde_json::json!({"ICD": {"api_version": "1.0"}});
        assert_eq!(icd_library(&j).unwrap_err(), "ICD has no library_path");
        let j = serde_json::json!({"ICD": {"library_path": "x.so", "library_arch": "32"}});
        assert_eq!(icd_library(&j).unwrap(), ("x.so".to_string(), Some("32".to_string())));
    }

    #[test]
    fn library_arch_filters_abis() {
        let x = Abi::by_tuple("x86_64-linux-gnu").unwrap();
        let i = Abi::by_tuple("i386-linux-gnu").unwrap();
        assert_eq!(abis_for_arch(&[x, i], Some("32")), vec![i]);
        assert_eq!(abis_for_arch(&[x, i], Some("64")), vec![x]);
        assert_eq!(abis_for_arch(&[x, i], None), vec![x, i]);
    }
}
