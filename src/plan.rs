//! The plan: per ABI, which driver modules and which libraries come from the host and which stay
//! from the runtime, and the container layout that makes it so (mounts, symlinks, generated
//! manifests, environment).
//!
//! Decisions, per ABI:
//! - every driver module whose closure is complete on the host is imported from the host, and so
//!   are vendor driver libraries (NVIDIA's, Mesa's gallium and Vulkan drivers, GLX/EGL vendors);
//! - every other library of an imported closure comes from the host when the runtime lacks it,
//!   else from the newer side ([`crate::compare`]); glibc's family follows libc.so.6 as one unit;
//! - then the satisfaction rule: every version that an object in the container (imported modules
//!   and closures, and the runtime's own libraries) needs from a chosen copy must be defined by
//!   it, or the choice switches to the other copy; when neither has it, the needing module is
//!   unusable and the plan carries an error.
//!
//! Layout: libraries at `/overrides/lib/<tuple>/<SONAME>`, modules in kind subdirectories there,
//! rewritten manifests under `/overrides/share` and `/overrides/etc` (generated in the staging
//! directory), every host file bound read-only on its own. This module knows nothing about
//! bubblewrap or CDI (see `render`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::abi::{ABIS, Abi};
use crate::compare::{self, Copy, Rule, Side, Verdict, is_glibc_family};
use crate::drivers::{self, DiscoveryOptions, DriverKind, DriverModule};
use crate::elf::ElfFacts;
use crate::loader::{Closure, FactsCache, Options, Resolver};
use crate::sysroot::{Sysroot, join, split_path};
use crate::threads;

/// Where imported files appear in the container.
pub const OVERRIDES: &str = "/overrides";

/// What to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub host: PathBuf,
    pub runtime: PathBuf,
    /// ABIs to plan; `None` for every ABI both trees have a loader for.
    pub abis: Option<Vec<&'static Abi>>,
    /// Where generated files go.
    pub staging: PathBuf,
    /// Driver search variables (VK_DRIVER_FILES, ...), honoured when the host is `/`.
    pub env: HashMap<String, String>,
    /// Whether to record which objects need which versions of each library
    /// ([`LibraryChoice::needed_by`], what `graft why` shows): hundreds of objects' needs, so
    /// only when asked.
    pub needed_by: bool,
    /// Whether to record the dependency edges of the imported closures ([`Plan::edges`], what
    /// `--format dot` draws).
    pub edges: bool,
}

/// One SONAME's decision.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryChoice {
    pub soname: String,
    pub arch: String,
    pub chosen: Side,
    pub host_path: Option<String>,
    pub runtime_path: Option<String>,
    pub container_path: Option<String>,
    pub rule: Rule,
    pub reason: String,
    /// The real files (symlinks resolved), in-root.
    pub host_file: Option<String>,
    pub runtime_file: Option<String>,
    /// The newest version each side defines, per prefix (`GLIBCXX_3.4.33`, `CXXABI_1.3.15`).
    pub host_versions: Vec<String>,
    pub runtime_versions: Vec<String>,
    /// Objects in the container that need versions from this SONAME.
    #[serde(skip)]
    pub needed_by: Vec<NeededBy>,
}

/// One object's version needs from one SONAME.
#[derive(Debug, Clone, Serialize)]
pub struct NeededBy {
    pub object: String,
    /// Every version it needs, sorted.
    pub versions: Vec<String>,
    /// Those the copy not chosen lacks: why the choice matters to this object.
    pub only_chosen: Vec<String>,
}

/// One driver module's fate.
#[derive(Debug, Clone, Serialize)]
pub struct DriverEntry {
    pub kind: DriverKind,
    pub arch: String,
    pub name: String,
    pub manifest: Option<String>,
    pub library: Option<String>,
    pub container_path: Option<String>,
    /// Where the rewritten manifest is in the container.
    pub container_manifest: Option<String>,
    pub status: String,
    pub reason: String,
}

/// A mount, in OCI spelling. A plan has hundreds: the type and options, always among a few, are
/// not copied into each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub source: String,
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub options: &'static [&'static str],
}

/// A symbolic link created in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Symlink {
    pub target: String,
    pub link: String,
}

/// Something the user should know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: String,
    pub code: String,
    pub message: String,
}

impl Issue {
    fn new(severity: &str, code: &str, message: String) -> Issue {
        Issue { severity: severity.into(), code: code.into(), message }
    }
}

/// A generated file: path relative to the staging directory, and its contents.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub relative: String,
    pub contents: Vec<u8>,
}

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub version: u32,
    pub host: String,
    pub runtime: String,
    pub staging: String,
    pub architectures: Vec<String>,
    pub libraries: Vec<LibraryChoice>,
    pub drivers: Vec<DriverEntry>,
    pub mounts: Vec<Mount>,
    pub symlinks: Vec<Symlink>,
    pub env: BTreeMap<String, String>,
    pub issues: Vec<Issue>,
    #[serde(skip)]
    pub staged: Vec<StagedFile>,
    /// The dependency edges of the imported closures: (arch, from, to), objects named by
    /// SONAME (a module by its name).
    #[serde(skip)]
    pub edges: Vec<(String, String, String)>,
}

impl Plan {
    /// Whether the plan carries an error issue.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == "error")
    }

    /// A plan with this one's trees and nothing decided yet.
    fn skeleton(&self) -> Plan {
        Plan {
            version: self.version,
            host: self.host.clone(),
            runtime: self.runtime.clone(),
            staging: self.staging.clone(),
            architectures: self.architectures.clone(),
            libraries: Vec::new(),
            drivers: Vec::new(),
            mounts: Vec::new(),
            symlinks: Vec::new(),
            env: BTreeMap::new(),
            issues: Vec::new(),
            staged: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// Writes the generated files into the staging directory (and nowhere else).
    pub fn write_staging(&self) -> Result<(), String> {
        let root = Path::new(&self.staging);
        for f in &self.staged {
            let path = root.join(&f.relative);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(&path, &f.contents).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// The default staging directory: under `$XDG_RUNTIME_DIR`, else `/tmp`, per user.
///
/// Under `/tmp`, which others can write to, the per-user directory is made private (0700) and is
/// used only if it is a real directory of this user, not something planted there (a symlink to
/// elsewhere would make graft write outside its staging directory); otherwise a fresh
/// directory of this process's own is made.
pub fn default_staging() -> PathBuf {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let leaf = format!("plan-{}", std::process::id());
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_dir()) {
        return dir.join("graft").join(leaf);
    }
    let uid = nix::unistd::getuid().as_raw();
    let base = std::env::temp_dir().join(format!("graft-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&base);
    let ours = std::fs::symlink_metadata(&base).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    if ours {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).is_ok() {
            return base.join(leaf);
        }
    }
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("graft-{uid}-{}-{nanos}", std::process::id()))
}

/// One side's copy of a library.
#[derive(Debug, Clone)]
struct Side1 {
    /// In-root path as found.
    path: String,
    /// In-root path with symlinks resolved.
    real: String,
    facts: Arc<ElfFacts>,
}

/// A SONAME in question for one ABI.
#[derive(Debug)]
struct Candidate {
    host: Option<Side1>,
    runtime: Option<Side1>,
    chosen: Side,
    rule: Rule,
    reason: String,
    /// Switched once by the satisfaction rule: never switched back.
    switched: bool,
}

impl Candidate {
    fn chosen_copy(&self) -> Option<&Side1> {
        match self.chosen {
            Side::Host => self.host.as_ref(),
            Side::Runtime => self.runtime.as_ref(),
        }
    }

    fn copy(&self, side: Side) -> Option<&Side1> {
        match side {
            Side::Host => self.host.as_ref(),
            Side::Runtime => self.runtime.as_ref(),
        }
    }
}

/// Builds the plan. Reads the host and runtime trees, writes nothing.
pub fn build(options: &PlanOptions) -> Result<Plan, String> {
    build_with_facts(options, &FactsCache::default())
}

/// [`build`], reading ELF facts through `facts` (shared with whoever verifies the plan next).
pub fn build_with_facts(options: &PlanOptions, facts: &FactsCache) -> Result<Plan, String> {
    let host_root = Sysroot::open(&options.host).map_err(|e| format!("host: {e}"))?;
    let runtime_root = Sysroot::open(&options.runtime).map_err(|e| format!("runtime: {e}"))?;
    let host = Resolver::with_facts(&host_root, Options::default(), facts.clone());
    let runtime = Resolver::with_facts(&runtime_root, Options::default(), facts.clone());
    let mut plan = Plan {
        version: 1,
        host: host_root.root().display().to_string(),
        runtime: runtime_root.root().display().to_string(),
        staging: options.staging.display().to_string(),
        architectures: Vec::new(),
        libraries: Vec::new(),
        drivers: Vec::new(),
        mounts: vec![Mount {
            source: "tmpfs".into(),
            destination: OVERRIDES.into(),
            kind: "tmpfs",
            options: &["nosuid", "nodev", "mode=755"],
        }],
        symlinks: Vec::new(),
        env: BTreeMap::new(),
        issues: Vec::new(),
        staged: Vec::new(),
        edges: Vec::new(),
    };

    let explicit = options.abis.is_some();
    let mut abis = Vec::new();
    for abi in options.abis.clone().unwrap_or_else(|| ABIS.iter().collect()) {
        let has_loader = |r: &Resolver| r.facts(abi.interpreter).is_ok_and(|(_, f)| f.abi() == Some(abi));
        match (has_loader(&host), has_loader(&runtime)) {
            (true, true) => abis.push(abi),
            (false, false) if !explicit => {}
            (h, _) => plan.issues.push(Issue::new(
                "warning",
                "abi-skipped",
                format!(
                    "{}: skipped, the {} has no dynamic loader at {}",
                    abi.tuple,
                    if h { "runtime" } else { "host" },
                    abi.interpreter
                ),
            )),
        }
    }
    if abis.is_empty() {
        return Err(format!(
            "no ABI to plan: the host {} and the runtime {} share no dynamic loader",
            host_root.root().display(),
            runtime_root.root().display()
        ));
    }
    plan.architectures = abis.iter().map(|a| a.tuple.to_string()).collect();

    // Discovery looks at every ABI at once (a manifest may serve several); then each ABI is
    // planned on its own, all sharing the resolvers' caches, and the parts are merged in ABI
    // order.
    let discovery =
        drivers::discover(&host, &DiscoveryOptions { abis: abis.clone(), env: options.env.clone() });
    for w in &discovery.warnings {
        plan.issues.push(Issue::new("warning", "driver-discovery", w.clone()));
    }
    let plan_abi = |abi: &'static Abi| {
        let mut part = plan.skeleton();
        let mut layout = Layout::default();
        let (needed_by, edges) = (options.needed_by, options.edges);
        AbiPlanner {
            abi,
            host: &host,
            runtime: &runtime,
            plan: &mut part,
            layout: &mut layout,
            needed_by,
            edges,
        }
        .run(&discovery.modules, &discovery.loader_libraries);
        (part, layout)
    };
    // One thread per ABI: the ABIs share no decision, only caches.
    let parts: Vec<(Plan, Layout)> = threads::map_in_order(&abis, |&abi| plan_abi(abi));
    let mut layout: Option<Layout> = None;
    for (part, part_layout) in parts {
        plan.libraries.extend(part.libraries);
        plan.drivers.extend(part.drivers);
        plan.edges.extend(part.edges);
        for issue in part.issues {
            if !plan.issues.contains(&issue) {
                plan.issues.push(issue);
            }
        }
        match &mut layout {
            None => layout = Some(part_layout),
            Some(layout) => layout.merge(part_layout, &mut plan),
        }
    }
    layout.unwrap_or_default().finish(&mut plan);
    Ok(plan)
}

/// Container paths collected across ABIs, turned into mounts, files and environment at the end.
#[derive(Default)]
struct Layout {
    /// destination → source (real path on this machine).
    binds: BTreeMap<String, String>,
    /// Environment lists, in order, without duplicates.
    lists: BTreeMap<&'static str, Vec<String>>,
    staged: BTreeMap<String, Vec<u8>>,
}

impl Layout {
    fn bind(&mut self, source: String, destination: String, plan: &mut Plan) {
        match self.binds.entry(destination) {
            std::collections::btree_map::Entry::Vacant(place) => {
                place.insert(source);
            }
            std::collections::btree_map::Entry::Occupied(place) => {
                let prev = place.get();
                if *prev != source {
                    plan.issues.push(Issue::new(
                        "warning",
                        "mount-conflict",
                        format!("{}: both {prev} and {source} want this place; keeping {prev}", place.key()),
                    ));
                }
            }
        }
    }

    /// Adds what a later ABI's planning collected: places taken first stay taken.
    fn merge(&mut self, later: Layout, plan: &mut Plan) {
        for (destination, source) in later.binds {
            self.bind(source, destination, plan);
        }
        for (var, list) in later.lists {
            for value in list {
                self.push(var, value);
            }
        }
        self.staged.extend(later.staged);
    }

    fn push(&mut self, var: &'static str, value: String) {
        let list = self.lists.entry(var).or_default();
        if !list.contains(&value) {
            list.push(value);
        }
    }

    fn stage(&mut self, relative: String, contents: Vec<u8>) {
        self.staged.insert(relative, contents);
    }

    fn finish(self, plan: &mut Plan) {
        for (relative, contents) in self.staged {
            let source = Path::new(&plan.staging).join(&relative).display().to_string();
            plan.mounts.push(ro_bind(source, format!("{OVERRIDES}/{relative}")));
            plan.staged.push(StagedFile { relative, contents });
        }
        for (destination, source) in self.binds {
            plan.mounts.push(ro_bind(source, destination));
        }
        for (var, list) in self.lists {
            let mut value = list.join(":");
            if var == "XDG_DATA_DIRS" {
                value.push_str(":/usr/local/share:/usr/share");
            }
            if var == "VK_DRIVER_FILES" {
                plan.env.insert("VK_ICD_FILENAMES".into(), value.clone());
            }
            plan.env.insert(var.into(), value);
        }
    }
}

fn ro_bind(source: String, destination: String) -> Mount {
    Mount { source, destination, kind: "bind", options: &["ro", "rbind"] }
}

/// Vendor libraries that must match the host's kernel driver and each other: always the host's.
fn is_vendor_library(soname: &str) -> bool {
    soname.starts_with("libnvidia-")
        || soname.starts_with("libcuda")
        || soname.starts_with("libnvcuvid")
        || soname.starts_with("libvulkan_")
        || soname.starts_with("libgallium")
        || (soname.starts_with("libGLX_") && soname != "libGLX.so.0")
        || (soname.starts_with("libEGL_") && soname != "libEGL.so.1")
        || soname.starts_with("libGLESv2_nvidia")
        || soname.starts_with("libGLESv1_CM_nvidia")
}

struct AbiPlanner<'a, 's> {
    abi: &'static Abi,
    host: &'a Resolver<'s>,
    runtime: &'a Resolver<'s>,
    plan: &'a mut Plan,
    layout: &'a mut Layout,
    /// Fill [`LibraryChoice::needed_by`].
    needed_by: bool,
    /// Fill [`Plan::edges`].
    edges: bool,
}

/// A usable module with its closure.
struct Imported<'m> {
    module: &'m DriverModule,
    closure: Closure,
    /// Set when the satisfaction rule finds it cannot work.
    unusable: Option<String>,
}

impl AbiPlanner<'_, '_> {
    fn tuple(&self) -> &'static str {
        self.abi.tuple
    }

    fn libdir(&self) -> String {
        format!("{OVERRIDES}/lib/{}", self.tuple())
    }

    fn side(&self, resolver: &Resolver, path: &str) -> Option<Side1> {
        let facts = resolver.load(path, self.abi)?.facts.clone();
        let real = resolver.sysroot().canonicalize(path).ok()?;
        Some(Side1 { path: path.to_string(), real, facts })
    }

    fn host_file(&self, real: &str) -> String {
        let path = self.host.sysroot().host_path(real).into_os_string();
        path.into_string().unwrap_or_else(|path| path.to_string_lossy().into_owned())
    }

    fn run(mut self, modules: &[DriverModule], loader_libraries: &[(&'static Abi, String, String)]) {
        let abi = self.abi;
        let mut imported: Vec<Imported> = Vec::new();
        let mut entries: Vec<DriverEntry> = Vec::new();
        for m in modules.iter().filter(|m| m.abi == abi) {
            let mut entry = DriverEntry {
                kind: m.kind,
                arch: abi.tuple.into(),
                name: m.name.clone(),
                manifest: m.manifest.as_ref().map(|x| x.path.clone()),
                library: m.library.clone(),
                container_path: None,
                container_manifest: None,
                status: "ok".into(),
                reason: String::new(),
            };
            match evaluate_module(self.host, m, false) {
                Ok(None) => entries.push(entry),
                Ok(Some(closure)) => {
                    imported.push(Imported { module: m, closure, unusable: None });
                    entries.push(entry);
                }
                Err(why) => {
                    entry.status = "unusable".into();
                    entry.reason = why;
                    entries.push(entry);
                }
            }
        }

        // The SONAMEs in question: every object of an imported closure, and the loader and
        // dispatch libraries with their closures.
        let mut candidates: BTreeMap<String, Candidate> = BTreeMap::new();
        let add = |soname: String, path: &str, me: &Self, cands: &mut BTreeMap<String, Candidate>| {
            if cands.contains_key(&soname) {
                return;
            }
            let host = me.side(me.host, path);
            cands.insert(
                soname,
                Candidate {
                    host,
                    runtime: None,
                    chosen: Side::Host,
                    rule: Rule::Tie,
                    reason: String::new(),
                    switched: false,
                },
            );
        };
        for imp in &imported {
            for o in &imp.closure.objects[1..] {
                if let (Some(path), Some(obj)) = (&o.path, &o.object) {
                    add(
                        obj.facts.soname.clone().unwrap_or_else(|| o.name.to_string()),
                        path,
                        &self,
                        &mut candidates,
                    );
                }
            }
        }
        let mut extra: Vec<(String, String)> = loader_libraries
            .iter()
            .filter(|(a, _, _)| *a == abi)
            .map(|(_, soname, path)| (soname.clone(), path.clone()))
            .collect();
        extra.extend(self.nvidia_userspace(&imported));
        for (soname, path) in &extra {
            match self.host.resolve(path) {
                Ok(c) if c.complete() => {
                    add(soname.clone(), path, &self, &mut candidates);
                    for o in &c.objects[1..] {
                        if let (Some(p), Some(obj)) = (&o.path, &o.object) {
                            add(
                                obj.facts.soname.clone().unwrap_or_else(|| o.name.to_string()),
                                p,
                                &self,
                                &mut candidates,
                            );
                        }
                    }
                }
                Ok(c) => self.plan.issues.push(Issue::new(
                    "warning",
                    "loader-library-incomplete",
                    format!(
                        "{}: {path} not imported: {}",
                        abi.tuple,
                        closure_problem(&c, true).unwrap_or_default()
                    ),
                )),
                Err(e) => self.plan.issues.push(Issue::new(
                    "warning",
                    "loader-library-incomplete",
                    format!("{}: {path} not imported: {e}", abi.tuple),
                )),
            }
        }

        // glibc: libc.so.6 decides for the whole family.
        let glibc = self.glibc_verdict();
        if let Some(v) = &glibc
            && v.chosen == Side::Host
            && candidates.contains_key("libc.so.6")
        {
            let names: BTreeSet<String> = self
                .host
                .context(abi)
                .cache
                .iter()
                .flat_map(|c| c.entries.iter())
                .filter(|e| abi.accepts_cache_flags(e.flags) && is_glibc_family(&e.key))
                .map(|e| e.key.clone())
                .collect();
            for name in names {
                if let Ok(path) = self.host.find_library(abi, &name) {
                    add(name, &path, &self, &mut candidates);
                }
            }
        }

        let module_libs: BTreeSet<String> = imported
            .iter()
            .filter_map(|i| i.module.library.as_ref())
            .filter_map(|l| self.host.sysroot().canonicalize(l).ok())
            .collect();
        for (soname, cand) in candidates.iter_mut() {
            cand.runtime =
                self.runtime.find_library(abi, soname).ok().and_then(|p| self.side(self.runtime, &p));
            let verdict = self.decide(soname, cand, &module_libs, glibc.as_ref());
            cand.chosen = verdict.chosen;
            cand.rule = verdict.rule;
            cand.reason = verdict.reason;
        }

        let mut edges_seen: BTreeSet<(&str, &str)> = BTreeSet::new();
        for imp in imported.iter().filter(|_| self.edges) {
            let name = |i: usize| -> &str {
                let o = &imp.closure.objects[i];
                if i == 0 {
                    return &imp.module.name;
                }
                o.object.as_ref().and_then(|x| x.facts.soname.as_deref()).unwrap_or(&o.name)
            };
            for (from, _, to) in &imp.closure.edges {
                let (from, to) = (name(*from), name(*to));
                if edges_seen.insert((from, to)) {
                    self.plan.edges.push((abi.tuple.to_string(), from.to_string(), to.to_string()));
                }
            }
        }
        let needs = self.satisfy(&mut candidates, &mut imported);
        let mut needed_by: BTreeMap<String, Vec<NeededBy>> = BTreeMap::new();
        for (who, facts) in needs.iter().filter(|_| self.needed_by) {
            for need in &facts.version_needs {
                let Some(c) = candidates.get(&need.file) else { continue };
                let mut versions: Vec<String> = need.versions.iter().map(|v| v.name.clone()).collect();
                versions.sort();
                let other = c.copy(c.chosen.other());
                let only_chosen =
                    versions.iter().filter(|v| other.is_some_and(|o| !o.facts.defines(v))).cloned().collect();
                needed_by.entry(need.file.clone()).or_default().push(NeededBy {
                    object: who.clone(),
                    versions,
                    only_chosen,
                });
            }
        }

        for imp in &imported {
            if let Some(why) = &imp.unusable
                && let Some(e) =
                    entries.iter_mut().find(|e| e.kind == imp.module.kind && e.name == imp.module.name)
            {
                e.status = "unusable".into();
                e.reason = why.clone();
            }
        }
        self.place_libraries(&candidates, glibc.as_ref(), needed_by);
        self.place_modules(&imported, &mut entries);
        for e in &entries {
            if e.status != "ok" {
                self.plan.issues.push(Issue::new(
                    "warning",
                    "driver-unusable",
                    format!("{} {} {}: {}", e.arch, e.kind.as_str(), e.name, e.reason),
                ));
            }
        }
        self.plan.drivers.extend(entries);
    }

    /// NVIDIA's userspace libraries that its modules load with `dlopen` (libnvidia-glcore,
    /// -eglcore, -glvkspirv, -rtcore, ...; libcuda, libnvcuvid, ...), which no DT_NEEDED names:
    /// once an NVIDIA module is imported for this ABI, every such library of the same driver
    /// version on the host comes along. Files of another driver version (left over from an
    /// upgrade) are left out; names that carry no driver version (libnvidia-egl-wayland.so.1)
    /// are taken.
    fn nvidia_userspace(&self, imported: &[Imported]) -> Vec<(String, String)> {
        let version = imported.iter().find_map(|i| {
            let lib = i.module.library.as_deref()?;
            let real = self.host.sysroot().canonicalize(lib).ok()?;
            let name = split_path(&real).1;
            if !name.contains("nvidia") {
                return None;
            }
            driver_version(name)
        });
        let Some(version) = version else { return Vec::new() };
        let prefixes = [
            "libnvidia-",
            "libcuda",
            "libnvcuvid",
            "libnvoptix",
            "libGLX_nvidia",
            "libEGL_nvidia",
            "libGLESv2_nvidia",
            "libGLESv1_CM_nvidia",
        ];
        let ctx = self.host.context(self.abi);
        let mut out: Vec<(String, String)> = Vec::new();
        for e in ctx.cache.iter().flat_map(|c| c.entries.iter()) {
            if !self.abi.accepts_cache_flags(e.flags)
                || e.hwcaps_subdir.is_some()
                || !prefixes.iter().any(|p| e.key.starts_with(p))
                || out.iter().any(|(k, _)| *k == e.key)
            {
                continue;
            }
            let real = self.host.sysroot().canonicalize(&e.value).unwrap_or_else(|_| e.value.clone());
            match driver_version(split_path(&real).1).or_else(|| driver_version(&e.key)) {
                Some(v) if v != version => continue,
                _ => {}
            }
            if let Ok(path) = self.host.find_library(self.abi, &e.key) {
                out.push((e.key.clone(), path));
            }
        }
        out
    }

    /// libc.so.6 on both sides compared; `None` when one side has none for this ABI.
    fn glibc_verdict(&self) -> Option<Verdict> {
        let h = self.host.find_library(self.abi, "libc.so.6").ok().and_then(|p| self.side(self.host, &p))?;
        let r = self
            .runtime
            .find_library(self.abi, "libc.so.6")
            .ok()
            .and_then(|p| self.side(self.runtime, &p))?;
        Some(compare::compare(
            "libc.so.6",
            &Copy { facts: &h.facts, file_name: split_path(&h.real).1 },
            &Copy { facts: &r.facts, file_name: split_path(&r.real).1 },
        ))
    }

    fn decide(
        &self,
        soname: &str,
        cand: &Candidate,
        module_libs: &BTreeSet<String>,
        glibc: Option<&Verdict>,
    ) -> Verdict {
        let host_verdict =
            |rule, reason: &str| Verdict { chosen: Side::Host, rule, reason: reason.to_string() };
        let Some(h) = &cand.host else {
            return Verdict {
                chosen: Side::Runtime,
                rule: compare::Rule::Tie,
                reason: "only the runtime has it".into(),
            };
        };
        if module_libs.contains(&h.real) || is_vendor_library(soname) {
            return host_verdict(Rule::Driver, "vendor driver library: always the host's");
        }
        if is_glibc_family(soname)
            && let Some(v) = glibc
        {
            return Verdict {
                chosen: v.chosen,
                rule: Rule::Glibc,
                reason: if soname == "libc.so.6" {
                    v.reason.clone()
                } else {
                    format!("glibc family follows libc.so.6: {}", v.reason)
                },
            };
        }
        let Some(r) = &cand.runtime else {
            return host_verdict(Rule::Absent, "absent from the runtime");
        };
        compare::compare(
            soname,
            &Copy { facts: &h.facts, file_name: split_path(&h.real).1 },
            &Copy { facts: &r.facts, file_name: split_path(&r.real).1 },
        )
    }

    /// The satisfaction rule, to a fixed point. Returns every object of the final container
    /// state with its facts (for reporting who needs what).
    fn satisfy(
        &mut self,
        candidates: &mut BTreeMap<String, Candidate>,
        imported: &mut [Imported],
    ) -> Vec<(String, Arc<ElfFacts>)> {
        // The runtime's own libraries for this ABI, which will link against the chosen copies.
        // They were built against the runtime's copies, so they can only miss a version where a
        // host copy is chosen that does not define everything the runtime's copy defines; until
        // such a choice exists they need not be read.
        let mut runtime_objects: Option<Vec<(String, Arc<ElfFacts>)>> = None;
        for _round in 0..8 {
            // (GLIBC_PRIVATE is glibc's own business: the family moves as one, so nothing outside
            // it can miss a private version of a member.)
            let risky = candidates.iter().any(|(soname, c)| {
                c.chosen == Side::Host
                    && c.host.as_ref().zip(c.runtime.as_ref()).is_some_and(|(h, r)| {
                        !h.facts.version_definitions.is_empty()
                            && r.facts.defined_versions().any(|v| {
                                let private = is_glibc_family(soname) && v == "GLIBC_PRIVATE";
                                !private && !h.facts.defines(v)
                            })
                    })
            });
            if risky && runtime_objects.is_none() {
                let ctx = self.runtime.context(self.abi);
                let mut seen = BTreeSet::new();
                runtime_objects = Some(
                    ctx.cache
                        .iter()
                        .flat_map(|c| c.entries.iter())
                        .filter(|e| self.abi.accepts_cache_flags(e.flags) && e.hwcaps_subdir.is_none())
                        .filter(|e| !candidates.contains_key(&e.key) && seen.insert(e.value.clone()))
                        .filter_map(|e| {
                            self.runtime.load(&e.value, self.abi).map(|o| (e.value.clone(), o.facts.clone()))
                        })
                        .collect(),
                );
            }
            let mut needs: Vec<(String, Arc<ElfFacts>, Option<usize>)> = Vec::new();
            for (i, imp) in imported.iter().enumerate() {
                if imp.unusable.is_some() {
                    continue;
                }
                if let Some(obj) = &imp.closure.objects[0].object {
                    needs.push((
                        imp.closure.objects[0].path.as_deref().unwrap_or_default().to_string(),
                        obj.facts.clone(),
                        Some(i),
                    ));
                }
            }
            for c in candidates.values() {
                if let Some(copy) = c.chosen_copy() {
                    needs.push((copy.path.clone(), copy.facts.clone(), None));
                }
            }
            for (path, facts) in runtime_objects.iter().flatten() {
                needs.push((path.clone(), facts.clone(), None));
            }
            let mut switch: Vec<(String, String)> = Vec::new();
            for (who, facts, module) in &needs {
                for need in &facts.version_needs {
                    let Some(cand) = candidates.get(&need.file) else { continue };
                    let Some(chosen) = cand.chosen_copy() else { continue };
                    if chosen.facts.version_definitions.is_empty() {
                        continue;
                    }
                    for v in need.versions.iter().filter(|v| !v.weak) {
                        if chosen.facts.defines_need(v) {
                            continue;
                        }
                        let other = cand.copy(cand.chosen.other());
                        if !cand.switched && other.is_some_and(|o| o.facts.defines_need(v)) {
                            switch.push((
                                need.file.clone(),
                                format!(
                                    "switched to the {}: {who} needs {} which only that copy defines",
                                    cand.chosen.other().as_str(),
                                    v.name
                                ),
                            ));
                        } else {
                            let why =
                                format!("{} ({}) lacks {} needed by {who}", need.file, chosen.path, v.name);
                            let users: Vec<usize> = match module {
                                Some(i) => vec![*i],
                                None => imported
                                    .iter()
                                    .enumerate()
                                    .filter(|(_, imp)| {
                                        imp.closure
                                            .objects
                                            .iter()
                                            .any(|o| o.path.as_deref() == Some(who.as_str()))
                                    })
                                    .map(|(i, _)| i)
                                    .collect(),
                            };
                            for i in users {
                                imported[i].unusable.get_or_insert_with(|| why.clone());
                            }
                            let issue = Issue::new(
                                "error",
                                "version-unsatisfied",
                                format!("{}: {why}", self.abi.tuple),
                            );
                            if !self.plan.issues.contains(&issue) {
                                self.plan.issues.push(issue);
                            }
                        }
                    }
                }
            }
            if switch.is_empty() {
                return needs.into_iter().map(|(who, facts, _)| (who, facts)).collect();
            }
            for (file, reason) in switch {
                let family: Vec<String> = if is_glibc_family(&file) {
                    candidates.keys().filter(|k| is_glibc_family(k)).cloned().collect()
                } else {
                    vec![file]
                };
                for name in family {
                    if let Some(c) = candidates.get_mut(&name)
                        && !c.switched
                        && c.copy(c.chosen.other()).is_some()
                    {
                        c.chosen = c.chosen.other();
                        c.switched = true;
                        c.rule = Rule::Satisfaction;
                        c.reason = reason.clone();
                    }
                }
            }
        }
        Vec::new()
    }

    fn place_libraries(
        &mut self,
        candidates: &BTreeMap<String, Candidate>,
        glibc: Option<&Verdict>,
        mut needed_by: BTreeMap<String, Vec<NeededBy>>,
    ) {
        let libdir = self.libdir();
        let mut any_host = false;
        for (soname, c) in candidates {
            let container_path = match (c.chosen, &c.host, &c.runtime) {
                (Side::Host, Some(h), _) => {
                    if soname.starts_with("ld-linux") || soname.starts_with("ld64.so") {
                        None
                    } else {
                        let dest = join(&libdir, soname);
                        self.layout.bind(self.host_file(&h.real), dest.clone(), self.plan);
                        any_host = true;
                        Some(dest)
                    }
                }
                (Side::Runtime, _, Some(r)) => Some(r.path.clone()),
                _ => None,
            };
            self.plan.libraries.push(LibraryChoice {
                soname: soname.clone(),
                arch: self.tuple().into(),
                chosen: c.chosen,
                host_path: c.host.as_ref().map(|h| h.path.clone()),
                runtime_path: c.runtime.as_ref().map(|r| r.path.clone()),
                container_path,
                rule: c.rule,
                reason: c.reason.clone(),
                host_file: c.host.as_ref().map(|h| h.real.clone()),
                runtime_file: c.runtime.as_ref().map(|r| r.real.clone()),
                host_versions: c
                    .host
                    .as_ref()
                    .map(|h| compare::newest_per_prefix(&h.facts))
                    .unwrap_or_default(),
                runtime_versions: c
                    .runtime
                    .as_ref()
                    .map(|r| compare::newest_per_prefix(&r.facts))
                    .unwrap_or_default(),
                needed_by: needed_by.remove(soname).unwrap_or_default(),
            });
        }
        if any_host {
            self.layout.push("LD_LIBRARY_PATH", libdir.clone());
        }
        let host_glibc =
            candidates.get("libc.so.6").is_some_and(|c| c.chosen == Side::Host) && glibc.is_some();
        if host_glibc {
            self.place_host_glibc();
        }
        self.place_companion_data(candidates);
    }

    /// The host's dynamic loader over the runtime's real loader file, and the host's gconv
    /// modules.
    fn place_host_glibc(&mut self) {
        let abi = self.abi;
        match (
            self.host.sysroot().canonicalize(abi.interpreter),
            self.runtime.sysroot().canonicalize(abi.interpreter),
        ) {
            (Ok(h), Ok(r)) => {
                let source = self.host_file(&h);
                self.layout.bind(source, r, self.plan);
            }
            _ => self.plan.issues.push(Issue::new(
                "error",
                "loader-not-placed",
                format!(
                    "{}: the host glibc is chosen but {} cannot be bound over the runtime's",
                    abi.tuple, abi.interpreter
                ),
            )),
        }
        let libc_dir = self
            .host
            .find_library(abi, "libc.so.6")
            .ok()
            .and_then(|p| self.host.sysroot().canonicalize(&p).ok())
            .map(|p| split_path(&p).0.to_string());
        let gconv_dirs =
            [libc_dir.map(|d| format!("{d}/gconv")), Some(format!("/usr/lib/{}/gconv", abi.tuple))];
        if let Some(dir) = gconv_dirs.into_iter().flatten().find(|d| self.host.sysroot().is_dir(d)) {
            let dest_dir = format!("{}/gconv", self.libdir());
            let mut any = false;
            for (name, real) in self.host.sysroot().regular_files(&dir) {
                let source = self.host_file(&real);
                self.layout.bind(source, join(&dest_dir, &name), self.plan);
                any = true;
            }
            if any {
                self.layout.push("GCONV_PATH", dest_dir);
            }
        }
        self.plan.issues.push(Issue::new(
            "info",
            "host-glibc",
            format!(
                "{}: the host's glibc replaces the runtime's; its locale data and tools (ldconfig, ldd) are not imported",
                abi.tuple
            ),
        ));
    }

    /// Data files that host libraries read at fixed paths: bound over the runtime's copies where
    /// the runtime has the file (a read-only root cannot take new files).
    fn place_companion_data(&mut self, candidates: &BTreeMap<String, Candidate>) {
        let from_host =
            |prefix: &str| candidates.iter().any(|(s, c)| s.starts_with(prefix) && c.chosen == Side::Host);
        let mut dirs = Vec::new();
        if from_host("libdrm") {
            dirs.push("/usr/share/libdrm");
        }
        if from_host("libgallium")
            || from_host("libGLX_mesa")
            || from_host("libEGL_mesa")
            || from_host("libvulkan_")
        {
            dirs.push("/usr/share/drirc.d");
        }
        if from_host("libnvidia-") || from_host("libGLX_nvidia") {
            dirs.push("/usr/share/nvidia");
        }
        for dir in dirs {
            let mut skipped = Vec::new();
            for (name, real) in self.host.sysroot().regular_files(dir) {
                let path = format!("{dir}/{name}");
                if self.runtime.sysroot().open_file(&path).is_ok() {
                    let source = self.host_file(&real);
                    self.layout.bind(source, path, self.plan);
                } else {
                    skipped.push(name);
                }
            }
            if !skipped.is_empty() {
                let issue = Issue::new(
                    "info",
                    "companion-data-skipped",
                    format!(
                        "{dir}: {} not placed, the runtime has no such file to bind over",
                        skipped.join(", ")
                    ),
                );
                if !self.plan.issues.contains(&issue) {
                    self.plan.issues.push(issue);
                }
            }
        }
    }

    fn place_modules(&mut self, imported: &[Imported], entries: &mut [DriverEntry]) {
        let libdir = self.libdir();
        let tuple = self.tuple();
        for imp in imported.iter().filter(|i| i.unusable.is_none()) {
            let m = imp.module;
            let Some(lib) = &m.library else { continue };
            let Ok(real) = self.host.sysroot().canonicalize(lib) else { continue };
            let file_name = split_path(lib).1.to_string();
            let field = m.manifest.as_ref().and_then(|x| x.library_field.clone());
            // A bare SONAME in a manifest is found through LD_LIBRARY_PATH, so it keeps its name.
            let bare = field.as_deref().filter(|f| !f.contains('/'));
            let (subdir, env): (&str, Option<&'static str>) = match m.kind {
                DriverKind::Dri => ("dri", Some("LIBGL_DRIVERS_PATH")),
                DriverKind::VaApi => ("va", Some("LIBVA_DRIVERS_PATH")),
                DriverKind::Vdpau => ("vdpau", None),
                DriverKind::Gbm => ("gbm", Some("GBM_BACKENDS_PATH")),
                _ => ("", None),
            };
            let dest = match (subdir, bare) {
                ("", Some(name)) => format!("{libdir}/{name}"),
                ("", None) => format!("{libdir}/{file_name}"),
                ("vdpau", _) => self.vdpau_place(&m.name),
                (sub, _) => format!("{libdir}/{sub}/{}", m.name),
            };
            let source = self.host_file(&real);
            self.layout.bind(source.clone(), dest.clone(), self.plan);
            if m.kind == DriverKind::Vdpau {
                for alias in self.vdpau_aliases(&m.name) {
                    self.layout.bind(source.clone(), alias, self.plan);
                }
            }
            if let Some(var) = env {
                self.layout.push(var, format!("{libdir}/{subdir}"));
            }
            if matches!(m.kind, DriverKind::Glx) || bare.is_some() {
                self.layout.push("LD_LIBRARY_PATH", libdir.clone());
            }
            if let Some(manifest) = &m.manifest {
                let value = bare.map(str::to_string).unwrap_or_else(|| dest.clone());
                let (relative, var) = match m.kind {
                    DriverKind::VulkanIcd => ("share/vulkan/icd.d", Some("VK_DRIVER_FILES")),
                    DriverKind::VulkanLayer => {
                        if manifest.path.contains("implicit_layer.d") {
                            ("share/vulkan/implicit_layer.d", Some("XDG_DATA_DIRS"))
                        } else {
                            ("share/vulkan/explicit_layer.d", Some("XDG_DATA_DIRS"))
                        }
                    }
                    DriverKind::EglVendor => {
                        ("share/glvnd/egl_vendor.d", Some("__EGL_VENDOR_LIBRARY_FILENAMES"))
                    }
                    DriverKind::EglExternalPlatform => (
                        "share/egl/egl_external_platform.d",
                        Some("__EGL_EXTERNAL_PLATFORM_CONFIG_FILENAMES"),
                    ),
                    DriverKind::Opencl => ("etc/OpenCL/vendors", Some("OCL_ICD_VENDORS")),
                    _ => ("", None),
                };
                if relative.is_empty() {
                    continue;
                }
                let contents = match (&manifest.json, &manifest.library_field) {
                    (Some(json), Some(field)) => {
                        let mut json = json.clone();
                        replace_library_path(&mut json, field, &value);
                        serde_json::to_vec_pretty(&json).unwrap_or_default()
                    }
                    (Some(json), None) => serde_json::to_vec_pretty(json).unwrap_or_default(),
                    (None, _) => format!("{value}\n").into_bytes(),
                };
                // A manifest naming a bare SONAME (or no library) serves every ABI as it is; one
                // rewritten to this ABI's container path gets this ABI's own file.
                let manifest_name = split_path(&manifest.path).1;
                let staged = if bare.is_some() || manifest.library_field.is_none() {
                    format!("{relative}/{manifest_name}")
                } else {
                    format!("{relative}/{tuple}-{manifest_name}")
                };
                let container = format!("{OVERRIDES}/{staged}");
                self.layout.stage(staged, contents);
                if let Some(e) = entries.iter_mut().find(|e| e.kind == m.kind && e.name == m.name) {
                    e.container_manifest = Some(container.clone());
                }
                match var {
                    Some("XDG_DATA_DIRS") => self.layout.push("XDG_DATA_DIRS", format!("{OVERRIDES}/share")),
                    Some("OCL_ICD_VENDORS") => {
                        self.layout.push("OCL_ICD_VENDORS", format!("{OVERRIDES}/etc/OpenCL/vendors"))
                    }
                    Some(v) => self.layout.push(v, container),
                    None => {}
                }
            }
            if let Some(e) = entries.iter_mut().find(|e| e.kind == m.kind && e.name == m.name) {
                e.container_path = Some(dest);
            }
        }
    }

    /// libvdpau takes one directory, `VDPAU_DRIVER_PATH`: it is
    /// `/overrides/lib/platform-${PLATFORM}/vdpau`, which the loader expands to each process's
    /// own AT_PLATFORM, so every platform name of the ABI gets a copy of the binding.
    fn vdpau_platforms(&self) -> &'static [&'static str] {
        match self.tuple() {
            "x86_64-linux-gnu" => &["x86_64", "haswell", "xeon_phi"],
            "i386-linux-gnu" => &["i686", "i586", "i486", "i386"],
            _ => std::slice::from_ref(&self.abi.platform),
        }
    }

    fn vdpau_place(&mut self, name: &str) -> String {
        self.layout.push("VDPAU_DRIVER_PATH", format!("{OVERRIDES}/lib/platform-${{PLATFORM}}/vdpau"));
        format!("{OVERRIDES}/lib/platform-{}/vdpau/{name}", self.vdpau_platforms()[0])
    }

    fn vdpau_aliases(&self, name: &str) -> Vec<String> {
        self.vdpau_platforms()[1..]
            .iter()
            .map(|p| format!("{OVERRIDES}/lib/platform-{p}/vdpau/{name}"))
            .collect()
    }
}

/// An NVIDIA driver version in a file name (`libnvidia-glcore.so.535.261.03` → `535.261.03`):
/// the numbers after `.so.` when there are at least two and the first has three digits.
fn driver_version(name: &str) -> Option<String> {
    let tail = &name[name.find(".so.")? + 4..];
    let parts: Vec<&str> = tail.split('.').collect();
    let numeric = parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (numeric && parts.len() >= 2 && parts[0].len() >= 3).then(|| tail.to_string())
}

/// Whether a discovered module can load on the host: its closure (`None` for a module without a
/// library, such as a Vulkan meta-layer), or why not. With `versions`, unmet version needs count
/// too; a plan leaves them to the satisfaction rule, where the runtime's copy may meet them.
pub fn evaluate_module(host: &Resolver, m: &DriverModule, versions: bool) -> Result<Option<Closure>, String> {
    match (&m.unusable, &m.library) {
        (Some(why), _) => Err(why.clone()),
        (None, None) => Ok(None),
        (None, Some(lib)) => {
            let c = host.resolve(lib).map_err(|e| format!("{lib}: {e}"))?;
            match closure_problem(&c, versions) {
                Some(why) => Err(why),
                None => Ok(Some(c)),
            }
        }
    }
}

/// Why a closure cannot load, in one line (with `versions`, unmet version needs too); `None`
/// when it can.
fn closure_problem(c: &Closure, versions: bool) -> Option<String> {
    let path = |i: Option<usize>| i.and_then(|i| c.objects[i].path.clone()).unwrap_or_default();
    if let Some(o) = c.objects.iter().find(|o| o.error.is_some()) {
        return Some(format!(
            "{}: {} (needed by {})",
            o.name,
            o.error.clone().unwrap_or_default(),
            path(o.loader)
        ));
    }
    c.version_problems.iter().find(|p| versions && !p.weak).map(|p| {
        format!(
            "{} ({}) lacks {} needed by {}",
            p.file,
            path(Some(p.provider)),
            p.version,
            path(Some(p.object))
        )
    })
}

/// Replaces every `library_path` string equal to `old` inside a manifest.
fn replace_library_path(json: &mut serde_json::Value, old: &str, new: &str) {
    match json {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "library_path" && v.as_str() == Some(old) {
                    *v = serde_json::Value::String(new.to_string());
                } else {
                    replace_library_path(v, old, new);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| replace_library_path(v, old, new)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_rewrite_touches_only_library_path() {
        let mut j = serde_json::json!({"ICD": {"library_path": "/usr/lib/x/libvulkan_lvp.so", "api_version": "1.4"},
            "layers": [{"library_path": "/usr/lib/x/libvulkan_lvp.so", "name": "/usr/lib/x/libvulkan_lvp.so"}]});
        replace_library_path(&mut j, "/usr/lib/x/libvulkan_lvp.so", "/overrides/lib/x/libvulkan_lvp.so");
        assert_eq!(j["ICD"]["library_path"], "/overrides/lib/x/libvulkan_lvp.so");
        assert_eq!(j["layers"][0]["library_path"], "/overrides/lib/x/libvulkan_lvp.so");
        assert_eq!(j["layers"][0]["name"], "/usr/lib/x/libvulkan_lvp.so");
    }

    #[test]
    fn nvidia_driver_versions() {
        assert_eq!(driver_version("libnvidia-glcore.so.535.261.03").as_deref(), Some("535.261.03"));
        assert_eq!(driver_version("libGLX_nvidia.so.550.54"), Some("550.54".into()));
        assert_eq!(driver_version("libnvidia-egl-wayland.so.1.1.10"), None);
        assert_eq!(driver_version("libGLX_nvidia.so.0"), None);
    }

    #[test]
    fn vendor_libraries() {
        assert!(is_vendor_library("libnvidia-glcore.so.535.261.03"));
        assert!(is_vendor_library("libGLX_mesa.so.0") && !is_vendor_library("libGLX.so.0"));
        assert!(is_vendor_library("libgallium-25.0.7-1.so"));
        assert!(!is_vendor_library("libstdc++.so.6") && !is_vendor_library("libEGL.so.1"));
    }
}
