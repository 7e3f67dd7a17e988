//! Driver discovery on the host: which loadable graphics modules (Vulkan ICDs and layers, EGL
//! vendors and external platforms, GLX vendor libraries, DRI, VA-API, VDPAU and GBM drivers,
//! OpenCL ICDs) and which loader/dispatch libraries the host has, per ABI.
//!
//! Every file is read through the host [`Sysroot`](crate::sysroot::Sysroot) (chroot semantics, size
//! limits, FIFOs never opened); environment variables are only what the caller put in
//! [`DiscoveryOptions::env`] (it fills them only when the host root is `/`).
//!
//! Rules shared by the manifest kinds (see [`manifest`]):
//! - A manifest's `library_path` that is a bare name is resolved per ABI with
//!   [`Resolver::find_library`]: one module per ABI where it is found. Found for no requested ABI:
//!   one `unusable` module for the first ABI, with the reason.
//! - A `library_path` containing `/` is made absolute relative to the directory of the manifest as
//!   found (symlinks not resolved, as the Vulkan loader does); `$LIB`/`$PLATFORM` are expanded per
//!   ABI. The file named serves only the ABI its ELF header says. A file of an ABI that is known but
//!   not requested gives a warning and no module. A missing, non-ELF or unknown-machine file gives
//!   one `unusable` module for the first requested ABI.
//! - A manifest that cannot be read or parsed (bad JSON, wrong types, missing `library_path`, a
//!   FIFO, over [`manifest::MANIFEST_LIMIT`] bytes) gives one `unusable` module per ABI whose
//!   reason starts with the manifest path; a dangling or vanished manifest is only a warning.
//! - Duplicates: the same library file (canonical path) for the same kind and ABI is kept once,
//!   first in search order, with a warning; Vulkan layers are de-duplicated by layer name per ABI,
//!   as the Vulkan loader does.
//!
//! Kinds without manifests (GLX, DRI, VA-API, VDPAU, GBM) count only files whose ELF class and
//! machine are those of the ABI; anything else is skipped silently. They are de-duplicated by
//! module name within a kind and ABI, first directory wins.

use std::collections::{HashMap, HashSet};

use crate::abi::Abi;
use crate::loader::Resolver;
use crate::sysroot::{join, split_path};

mod dri;
mod egl;
mod gbm;
mod glx;
pub mod manifest;
mod opencl;
mod vaapi;
mod vdpau;
mod vulkan;

/// The kind of a loadable driver module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriverKind {
    VulkanIcd,
    VulkanLayer,
    EglVendor,
    EglExternalPlatform,
    Glx,
    Dri,
    VaApi,
    Vdpau,
    Gbm,
    Opencl,
}

impl DriverKind {
    /// The kebab-case name used in plans and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::VulkanIcd => "vulkan-icd",
            DriverKind::VulkanLayer => "vulkan-layer",
            DriverKind::EglVendor => "egl-vendor",
            DriverKind::EglExternalPlatform => "egl-external-platform",
            DriverKind::Glx => "glx",
            DriverKind::Dri => "dri",
            DriverKind::VaApi => "va-api",
            DriverKind::Vdpau => "vdpau",
            DriverKind::Gbm => "gbm",
            DriverKind::Opencl => "opencl",
        }
    }
}

/// The manifest a module was described by.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// In-host-root path as found, e.g. `/usr/share/vulkan/icd.d/lvp_icd.x86_64.json`.
    pub path: String,
    /// Parsed JSON (Vulkan ICD/layer, EGL vendor, EGL external platform); `None` for OpenCL `.icd`
    /// text and for manifests that could not be parsed. For a Vulkan manifest with a `layers`
    /// array, this is a single-layer manifest: `{"file_format_version": …, "layer": <that entry>}`.
    pub json: Option<serde_json::Value>,
    /// `library_path` as written (OpenCL: the `.icd` line); `None` for a meta-layer.
    pub library_field: Option<String>,
    /// Vulkan layers: `layer.name`.
    pub layer_name: Option<String>,
}

/// One driver module for one ABI.
#[derive(Debug, Clone)]
pub struct DriverModule {
    pub kind: DriverKind,
    pub abi: &'static Abi,
    /// Manifest file name, or the library file name for kinds without manifests.
    pub name: String,
    pub manifest: Option<Manifest>,
    /// In-host-root path of this ABI's library, as found (symlinks not resolved); `None` for
    /// meta-layers or when unusable.
    pub library: Option<String>,
    /// Why this module cannot work for this ABI (`None` = fine so far; closure completeness is
    /// checked later by the plan).
    pub unusable: Option<String>,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub modules: Vec<DriverModule>,
    /// Loader and dispatch libraries on the host, per ABI: (abi, SONAME, in-root path as the host
    /// loader finds it).
    pub loader_libraries: Vec<(&'static Abi, String, String)>,
    pub warnings: Vec<String>,
}

/// What to discover.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryOptions {
    pub abis: Vec<&'static Abi>,
    /// Environment variables honoured only when the host root is "/" (VK_DRIVER_FILES,
    /// VK_ICD_FILENAMES, VK_ADD_DRIVER_FILES, XDG_CONFIG_DIRS, XDG_DATA_DIRS,
    /// __EGL_VENDOR_LIBRARY_FILENAMES, __EGL_VENDOR_LIBRARY_DIRS, LIBGL_DRIVERS_PATH,
    /// LIBVA_DRIVERS_PATH, VDPAU_DRIVER_PATH, GBM_BACKENDS_PATH, OCL_ICD_VENDORS; also
    /// __EGL_EXTERNAL_PLATFORM_CONFIG_FILENAMES and _DIRS). The caller fills it from std::env only
    /// when host == "/".
    pub env: HashMap<String, String>,
}

/// Whether a Vulkan layer module is an implicit layer: its manifest was found in an
/// `implicit_layer.d` directory.
pub fn layer_is_implicit(module: &DriverModule) -> bool {
    module.kind == DriverKind::VulkanLayer
        && module.manifest.as_ref().is_some_and(|m| split_path(&m.path).0.ends_with("/implicit_layer.d"))
}

/// The loader and dispatch libraries looked up for every ABI (plus every `libdrm*` in the cache).
pub const LOADER_SONAMES: &[&str] = &[
    "libGL.so.1",
    "libEGL.so.1",
    "libGLX.so.0",
    "libGLdispatch.so.0",
    "libOpenGL.so.0",
    "libGLESv1_CM.so.1",
    "libGLESv2.so.2",
    "libvulkan.so.1",
    "libva.so.2",
    "libva-drm.so.2",
    "libva-x11.so.2",
    "libva-wayland.so.2",
    "libvdpau.so.1",
    "libgbm.so.1",
];

/// Finds the host's driver modules and loader libraries for every ABI in `options.abis`.
///
/// The kinds share nothing but the loader libraries (duplicates are found per kind), and Vulkan
/// and EGL do not need those: they are scanned on a second thread while this one finds the loader
/// libraries and scans the other kinds. The result is the same as scanning them all in turn, in
/// this order.
pub fn discover(host: &Resolver, options: &DiscoveryOptions) -> Discovery {
    let (manifests, scan) = std::thread::scope(|threads| {
        let manifests = crate::threads::spawn(threads, || {
            let mut scan = Scan::new(host, options);
            vulkan::discover(&mut scan);
            egl::discover(&mut scan);
            scan.out
        });
        let mut scan = Scan::new(host, options);
        scan.loader_libraries();
        glx::discover(&mut scan);
        dri::discover(&mut scan);
        vaapi::discover(&mut scan);
        vdpau::discover(&mut scan);
        gbm::discover(&mut scan);
        opencl::discover(&mut scan);
        (manifests.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), scan.out)
    });
    let mut out = Discovery {
        modules: manifests.modules,
        loader_libraries: scan.loader_libraries,
        warnings: manifests.warnings,
    };
    out.modules.extend(scan.modules);
    out.warnings.extend(scan.warnings);
    out
}

/// Discovery state shared by the per-kind scanners.
pub(crate) struct Scan<'a> {
    pub(crate) host: &'a Resolver<'a>,
    pub(crate) options: &'a DiscoveryOptions,
    pub(crate) out: Discovery,
    /// (kind, tuple, key) already emitted: canonical library path, layer name or module name.
    seen: HashSet<(DriverKind, &'static str, String)>,
}

impl<'a> Scan<'a> {
    fn new(host: &'a Resolver<'a>, options: &'a DiscoveryOptions) -> Scan<'a> {
        Scan { host, options, out: Discovery::default(), seen: HashSet::new() }
    }

    /// A ':'-separated environment list, `None` when unset or empty.
    pub(crate) fn env_list(&self, var: &str) -> Option<Vec<String>> {
        let value = self.options.env.get(var)?;
        let list: Vec<String> = value.split(':').filter(|s| !s.is_empty()).map(String::from).collect();
        (!list.is_empty()).then_some(list)
    }

    /// The ABI a file's ELF header names, if graft knows it.
    pub(crate) fn elf_abi(&self, path: &str) -> Result<&'static Abi, String> {
        let (_, facts) = self.host.facts(path).map_err(|e| format!("{path}: {e}"))?;
        facts.abi().ok_or_else(|| {
            format!(
                "{path}: ELF{} machine {} is not an ABI graft knows",
                if facts.class64 { 64 } else { 32 },
                facts.machine
            )
        })
    }

    /// Whether `path` is an ELF file of exactly this ABI.
    pub(crate) fn is_abi(&self, path: &str, abi: &'static Abi) -> bool {
        self.elf_abi(path).is_ok_and(|a| a.tuple == abi.tuple)
    }

    /// Records a key for (kind, ABI); false when it was already there.
    pub(crate) fn first(&mut self, kind: DriverKind, abi: &'static Abi, key: &str) -> bool {
        self.seen.insert((kind, abi.tuple, key.to_string()))
    }

    /// The canonical path of a library, for duplicate detection (the path itself if it cannot be
    /// resolved).
    pub(crate) fn canonical(&self, path: &str) -> String {
        self.host.sysroot().canonicalize(path).unwrap_or_else(|_| path.to_string())
    }

    /// The host path of a loader library for this ABI, if present.
    pub(crate) fn loader_library(&self, abi: &'static Abi, soname: &str) -> Option<String> {
        self.out
            .loader_libraries
            .iter()
            .find(|(a, s, _)| a.tuple == abi.tuple && s == soname)
            .map(|(_, _, p)| p.clone())
            .or_else(|| self.host.find_library(abi, soname).ok())
    }

    /// `<libdir>` for an ABI: its default directories, then the directories where its loader
    /// libraries are (as found and canonical), each once (by canonical path), existing only.
    pub(crate) fn lib_dirs(&self, abi: &'static Abi) -> Vec<String> {
        let ctx = self.host.context(abi);
        let mut dirs: Vec<String> = ctx.default_dirs.clone();
        for (a, _, path) in &self.out.loader_libraries {
            if a.tuple != abi.tuple {
                continue;
            }
            dirs.push(split_path(path).0.to_string());
            if let Ok(c) = self.host.sysroot().canonicalize(path) {
                dirs.push(split_path(&c).0.to_string());
            }
        }
        self.unique_dirs(dirs)
    }

    /// Existing directories, each once by canonical path, in order.
    pub(crate) fn unique_dirs(&self, dirs: Vec<String>) -> Vec<String> {
        let mut seen = HashSet::new();
        dirs.into_iter()
            .filter(|d| d.starts_with('/'))
            .filter(|d| {
                self.host.sysroot().is_dir(d)
                    && self.host.sysroot().canonicalize(d).is_ok_and(|c| seen.insert(c))
            })
            .collect()
    }

    /// Adds modules for the files in `dirs` whose names `matches` accepts and whose ELF header is
    /// this ABI's; `name_of` gives the module name (the key for de-duplication), `None` to skip.
    pub(crate) fn scan_dirs(
        &mut self,
        kind: DriverKind,
        abi: &'static Abi,
        dirs: &[String],
        name_of: impl Fn(&str) -> Option<String>,
    ) {
        for dir in dirs {
            for file in self.host.sysroot().list_dir(dir).iter() {
                let Some(name) = name_of(file) else { continue };
                let path = join(dir, file);
                if !self.is_abi(&path, abi) || !self.first(kind, abi, &name) {
                    continue;
                }
                self.out.modules.push(DriverModule {
                    kind,
                    abi,
                    name,
                    manifest: None,
                    library: Some(path),
                    unusable: None,
                });
            }
        }
    }

    fn loader_libraries(&mut self) {
        for &abi in &self.options.abis {
            let ctx = self.host.context(abi);
            let mut names: Vec<String> = LOADER_SONAMES.iter().map(|s| s.to_string()).collect();
            if let Some(cache) = &ctx.cache {
                for e in &cache.entries {
                    if e.key.starts_with("libdrm")
                        && e.key.contains(".so")
                        && abi.accepts_cache_flags(e.flags)
                        && !names.contains(&e.key)
                    {
                        names.push(e.key.clone());
                    }
                }
            }
            // Hosts without a usable cache: the SONAME-like names in the default directories.
            for dir in &ctx.default_dirs {
                for file in self.host.sysroot().list_dir(dir).iter() {
                    if is_libdrm_soname(file) && !names.contains(file) {
                        names.push(file.clone());
                    }
                }
            }
            for name in names {
                if let Ok(path) = self.host.find_library(abi, &name) {
                    self.out.loader_libraries.push((abi, name, path));
                }
            }
        }
    }
}

/// `libdrm*.so.N`: a name with one version number after `.so`.
fn is_libdrm_soname(name: &str) -> bool {
    name.starts_with("libdrm")
        && name
            .split_once(".so.")
            .is_some_and(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Synthetic host trees for the discovery tests.

    use std::path::{Path, PathBuf};

    use crate::abi::Abi;
    use crate::loader::{Options, Resolver};
    use crate::sysroot::Sysroot;

    use super::{Discovery, DiscoveryOptions, DriverKind, DriverModule};

    pub const TESTBED: &str = "/var/cache/graft-testbed";

    /// A temporary directory removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> TempDir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "graft-drivers-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }

        /// Writes a file (creating parents) at an in-root path.
        pub fn write(&self, path: &str, data: &[u8]) {
            let p = self.0.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }

        /// Creates a symlink (creating parents) at an in-root path.
        pub fn symlink(&self, target: &str, path: &str) {
            let p = self.0.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, p).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub fn x86_64() -> &'static Abi {
        Abi::by_tuple("x86_64-linux-gnu").unwrap()
    }

    pub fn i386() -> &'static Abi {
        Abi::by_tuple("i386-linux-gnu").unwrap()
    }

    /// A real small ELF library of an ABI from the test bed, or `None` (the test then skips).
    pub fn real_elf(abi: &Abi) -> Option<Vec<u8>> {
        let p = format!("{TESTBED}/host/usr/lib/{}/libXau.so.6.0.0", abi.tuple);
        let data = std::fs::read(&p)
            .or_else(|_| std::fs::read(format!("{TESTBED}/host/usr/lib/{}/libXau.so.6", abi.tuple)));
        match data {
            Ok(d) => Some(d),
            Err(_) => {
                eprintln!("skipped: {p} not present (run the test-bed script)");
                None
            }
        }
    }

    /// A tree with libc for both ABIs in the Debian multiarch directories (so the resolver picks
    /// that layout) and an ELF library installer. `None` when the test bed is missing.
    pub fn multiarch_tree() -> Option<(TempDir, Vec<u8>, Vec<u8>)> {
        let elf64 = real_elf(x86_64())?;
        let elf32 = real_elf(i386())?;
        let t = TempDir::new();
        for (abi, data) in [(x86_64(), &elf64), (i386(), &elf32)] {
            t.write(&format!("/usr/lib/{}/libc.so.6", abi.tuple), data);
        }
        Some((t, elf64, elf32))
    }

    pub fn run(root: &Path, abis: Vec<&'static Abi>, env: &[(&str, &str)]) -> Discovery {
        let sysroot = Sysroot::open(root).unwrap();
        let resolver = Resolver::new(&sysroot, Options::default());
        let options =
            DiscoveryOptions { abis, env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        super::discover(&resolver, &options)
    }

    pub fn of_kind<'d>(d: &'d Discovery, kind: DriverKind, abi: &Abi) -> Vec<&'d DriverModule> {
        d.modules.iter().filter(|m| m.kind == kind && m.abi.tuple == abi.tuple).collect()
    }

    /// A readable summary, printed by the test-bed tests (`--nocapture`).
    pub fn summary(d: &Discovery) -> String {
        let mut out = String::new();
        for m in &d.modules {
            out += &format!(
                "{:12} {:22} {:30} {} {}\n",
                m.abi.tuple.split('-').next().unwrap_or(""),
                m.kind.as_str(),
                m.name,
                m.library.as_deref().unwrap_or("-"),
                m.unusable.as_deref().map(|u| format!("UNUSABLE: {u}")).unwrap_or_default()
            );
        }
        for (abi, soname, path) in &d.loader_libraries {
            out += &format!("{:12} loader {soname} {path}\n", abi.tuple);
        }
        for w in &d.warnings {
            out += &format!("warning: {w}\n");
        }
        out
    }

    pub fn names(d: &Discovery, kind: DriverKind, abi: &Abi) -> Vec<String> {
        of_kind(d, kind, abi).iter().map(|m| m.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn libdrm_sonames() {
        assert!(is_libdrm_soname("libdrm.so.2") && is_libdrm_soname("libdrm_amdgpu.so.1"));
        assert!(!is_libdrm_soname("libdrm.so.2.124.0") && !is_libdrm_soname("libdrm.so"));
    }

    #[test]
    fn kind_names() {
        assert_eq!(DriverKind::VaApi.as_str(), "va-api");
        assert_eq!(
            serde_json::to_string(&DriverKind::EglExternalPlatform).unwrap(),
            "\"egl-external-platform\""
        );
        assert_eq!(serde_json::to_string(&DriverKind::VaApi).unwrap(), "\"va-api\"");
    }

    #[test]
    fn loader_libraries_and_libdrm_from_the_tree() {
        let Some((t, elf64, elf32)) = multiarch_tree() else { return };
        t.write("/usr/lib/x86_64-linux-gnu/libvulkan.so.1", &elf64);
        t.write("/usr/lib/x86_64-linux-gnu/libdrm_amdgpu.so.1", &elf64);
        t.write("/usr/lib/i386-linux-gnu/libGL.so.1", &elf32);
        // An i386 file where the x86_64 loader would look: never listed for x86_64.
        t.write("/usr/lib/x86_64-linux-gnu/libgbm.so.1", &elf32);
        let d = run(t.path(), vec![x86_64(), i386()], &[]);
        let libs: Vec<(&str, &str)> =
            d.loader_libraries.iter().map(|(a, s, _)| (a.tuple, s.as_str())).collect();
        assert!(libs.contains(&("x86_64-linux-gnu", "libvulkan.so.1")), "{libs:?}");
        assert!(libs.contains(&("x86_64-linux-gnu", "libdrm_amdgpu.so.1")), "{libs:?}");
        assert!(libs.contains(&("i386-linux-gnu", "libGL.so.1")), "{libs:?}");
        assert!(!libs.contains(&("x86_64-linux-gnu", "libgbm.so.1")), "{libs:?}");
        assert!(!libs.contains(&("x86_64-linux-gnu", "libGL.so.1")), "{libs:?}");
    }

    #[test]
    fn real_host_test_bed() {
        let root = std::path::Path::new(TESTBED).join("host");
        if !root.join("usr/lib/x86_64-linux-gnu").is_dir() {
            eprintln!("skipped: {} not present", root.display());
            return;
        }
        let d = run(&root, vec![x86_64(), i386()], &[]);
        eprintln!("{}", summary(&d));
        for abi in [x86_64(), i386()] {
            let icds = of_kind(&d, DriverKind::VulkanIcd, abi);
            let lvp = icds.iter().find(|m| m.name == "lvp_icd.json").expect("lavapipe");
            assert!(lvp.unusable.is_none(), "{lvp:?}");
            assert!(lvp.library.as_deref().is_some_and(|l| l.ends_with("/libvulkan_lvp.so")), "{lvp:?}");
            let egl = names(&d, DriverKind::EglVendor, abi);
            assert!(egl.contains(&"50_mesa.json".to_string()), "{egl:?}");
            let glx = names(&d, DriverKind::Glx, abi);
            assert!(glx.contains(&"libGLX_mesa.so.0".to_string()), "{glx:?}");
            let dri = names(&d, DriverKind::Dri, abi);
            assert!(dri.len() >= 5 && dri.contains(&"swrast_dri.so".to_string()), "{dri:?}");
            let va = names(&d, DriverKind::VaApi, abi);
            assert!(va.contains(&"radeonsi_drv_video.so".to_string()), "{va:?}");
            assert_eq!(names(&d, DriverKind::Gbm, abi), vec!["dri_gbm.so"]);
            let libs: Vec<&str> =
                d.loader_libraries.iter().filter(|l| l.0.tuple == abi.tuple).map(|l| l.1.as_str()).collect();
            for l in ["libGL.so.1", "libEGL.so.1", "libvulkan.so.1", "libgbm.so.1", "libdrm.so.2"] {
                assert!(libs.contains(&l), "{} {libs:?}", abi.tuple);
            }
            for m in d.modules.iter().filter(|m| m.abi.tuple == abi.tuple) {
                if let Some(lib) = &m.library
                    && m.unusable.is_none()
                {
                    let sysroot = crate::sysroot::Sysroot::open(&root).unwrap();
                    let r = Resolver::new(&sysroot, crate::loader::Options::default());
                    let facts = r.facts(lib).unwrap().1;
                    assert_eq!(facts.abi().map(|a| a.tuple), Some(abi.tuple), "{m:?}");
                }
            }
        }
        assert!(names(&d, DriverKind::Vdpau, x86_64()).contains(&"libvdpau_radeonsi.so.1".to_string()));
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let layers = of_kind(&d, DriverKind::VulkanLayer, x86_64());
        assert!(layers.iter().any(|m| layer_is_implicit(m)
            && m.manifest.as_ref().and_then(|x| x.layer_name.as_deref())
                == Some("VK_LAYER_MESA_device_select")));
    }

    #[test]
    fn real_nvidia_test_bed() {
        let root = std::path::Path::new(TESTBED).join("host-nvidia");
        if !root.join("usr/lib/x86_64-linux-gnu").is_dir() {
            eprintln!("skipped: {} not present", root.display());
            return;
        }
        let d = run(&root, vec![x86_64(), i386()], &[]);
        eprintln!("{}", summary(&d));
        let x = x86_64();
        let icd = of_kind(&d, DriverKind::VulkanIcd, x);
        let nv = icd.iter().find(|m| m.name == "nvidia_icd.json").expect("nvidia_icd.json");
        assert!(nv.unusable.is_none() && nv.library.as_deref().is_some_and(|l| l.contains("libGLX_nvidia")));
        assert!(names(&d, DriverKind::Glx, x).contains(&"libGLX_nvidia.so.0".to_string()));
        assert!(names(&d, DriverKind::EglVendor, x).contains(&"10_nvidia.json".to_string()));
        assert!(
            names(&d, DriverKind::EglExternalPlatform, x).contains(&"10_nvidia_wayland.json".to_string())
        );
    }
}
