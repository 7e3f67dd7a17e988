//! Verifying a plan: the container's view is built (the runtime tree with the plan's tmpfs and
//! bound files over it, and the plan's `LD_LIBRARY_PATH`), and every imported module is loaded
//! there with the loader engine, as the container's own ld.so would.
//!
//! For each module that the plan calls `ok`: every DT_NEEDED is found; the ABI is right; every
//! version need is met (weak needs warn); every library resolves to the copy the plan chose, not
//! to another one that shadows it (a runtime library's DT_RPATH, an earlier directory). For each
//! rewritten manifest: its `library_path` is found in the container for the module's ABI. For
//! each library taken from the host: a plain `dlopen` of its SONAME finds the imported copy.
//! Any mismatch is an `error` issue naming the module, the ABI, the library and the version.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::abi::Abi;
use crate::compare::Side;
use crate::loader::{Closure, FactsCache, Hwcaps, Options, Resolver, Source};
use crate::plan::{Issue, Plan};
use crate::sysroot::{Overlay, Sysroot};
use crate::threads;

/// The runtime root as the container sees it with the plan applied.
pub fn container_view(plan: &Plan) -> Result<Sysroot, String> {
    let mut overlay = Overlay::default();
    for m in &plan.mounts {
        if m.kind == "tmpfs" {
            overlay.tmpfs(&m.destination);
        } else {
            overlay.bind_file(&m.destination, PathBuf::from(&m.source));
        }
    }
    Ok(Sysroot::open(std::path::Path::new(&plan.runtime))
        .map_err(|e| format!("runtime: {e}"))?
        .with_overlay(overlay))
}

fn error(code: &str, message: String) -> Issue {
    Issue { severity: "error".into(), code: code.into(), message }
}

fn warning(code: &str, message: String) -> Issue {
    Issue { severity: "warning".into(), code: code.into(), message }
}

fn source_name(s: Option<Source>) -> &'static str {
    match s {
        Some(Source::Rpath) => "DT_RPATH",
        Some(Source::Runpath) => "DT_RUNPATH",
        Some(Source::LibraryPath) => "LD_LIBRARY_PATH",
        Some(Source::Cache) => "ld.so.cache",
        Some(Source::DefaultDirs) => "a default directory",
        Some(Source::Path) => "its path",
        Some(Source::Interpreter) => "the interpreter",
        Some(Source::Main) | None => "the request",
    }
}

/// Checks the plan in its container view; returns the issues found (none when it holds).
/// ELF facts are read through `facts`, which may already hold those the plan read.
pub fn verify(plan: &Plan, facts: &FactsCache) -> Result<Vec<Issue>, String> {
    let view = container_view(plan)?;
    let library_path: Vec<String> = plan
        .env
        .get("LD_LIBRARY_PATH")
        .map(|p| p.split(':').filter(|d| !d.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let options = Options { library_path, hwcaps: Hwcaps::Native, platform: None };
    let loader = Resolver::with_facts(&view, options, facts.clone());
    // (arch, soname) → the path the plan chose, in the container.
    let chosen: HashMap<(&str, &str), (&str, Side)> = plan
        .libraries
        .iter()
        .filter_map(|l| {
            Some(((l.arch.as_str(), l.soname.as_str()), (l.container_path.as_deref()?, l.chosen)))
        })
        .collect();
    let same_file = |a: &str, b: &str| match (view.canonicalize(a), view.canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };

    // Each ABI is checked on a thread of its own: (module issues, library issues).
    let check_abi = |abi: &'static Abi| {
        let (mut modules, mut libraries) = (Vec::new(), Vec::new());
        for d in plan.drivers.iter().filter(|d| d.status == "ok" && d.arch == abi.tuple) {
            let module = format!("{} {} {}", d.arch, d.kind.as_str(), d.name);
            if let Some(path) = &d.container_path {
                match loader.resolve(path) {
                    Err(e) => modules.push(error("verify-unloadable", format!("{module}: {e}"))),
                    Ok(c) => check_closure(&c, abi, &module, &chosen, &same_file, &mut modules),
                }
            }
            if let Some(manifest) = &d.container_manifest {
                let expected = d.container_path.as_deref();
                check_manifest(&loader, &view, abi, &module, manifest, expected, &mut modules);
            }
        }
        for l in plan.libraries.iter().filter(|l| l.chosen == Side::Host && l.arch == abi.tuple) {
            let Some(expected) = &l.container_path else { continue };
            match loader.find_library(abi, &l.soname) {
                Ok(found) if same_file(&found, expected) => {}
                Ok(found) => libraries.push(error(
                    "verify-shadowed",
                    format!("{}: {} is found at {found}, not at the imported {expected}", l.arch, l.soname),
                )),
                Err(e) => libraries.push(error("verify-missing", format!("{}: {e}", l.arch))),
            }
        }
        (modules, libraries)
    };
    let abis: Vec<&'static Abi> = plan.architectures.iter().filter_map(|a| Abi::by_tuple(a)).collect();
    let parts = threads::map_in_order(&abis, |&abi| check_abi(abi));
    // Every module issue first, then every library issue, each in ABI order.
    let (modules, libraries): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    Ok(modules.into_iter().chain(libraries).flatten().collect())
}

fn check_closure(
    c: &Closure,
    abi: &'static Abi,
    module: &str,
    chosen: &HashMap<(&str, &str), (&str, Side)>,
    same_file: &dyn Fn(&str, &str) -> bool,
    issues: &mut Vec<Issue>,
) {
    if c.abi != abi {
        issues.push(error("verify-wrong-abi", format!("{module}: the container copy is {}", c.abi.tuple)));
        return;
    }
    for o in &c.objects[1..] {
        let by = o.loader.and_then(|i| c.objects[i].path.clone()).unwrap_or_default();
        if let Some(e) = &o.error {
            issues.push(error("verify-missing", format!("{module}: {} {e} (needed by {by})", o.name)));
            continue;
        }
        let (Some(path), Some(obj)) = (&o.path, &o.object) else { continue };
        let soname = obj.facts.soname.as_deref().unwrap_or(&o.name);
        if let Some((expected, side)) = chosen.get(&(abi.tuple, soname))
            && !same_file(path, expected)
        {
            issues.push(error(
                "verify-shadowed",
                format!(
                    "{module}: {soname} resolves to {path} through {} of {by}, not to the {} copy the plan chose ({expected})",
                    source_name(o.source),
                    side.as_str()
                ),
            ));
        }
    }
    for p in &c.version_problems {
        let who = c.objects[p.object].path.clone().unwrap_or_default();
        let provider = c.objects[p.provider].path.clone().unwrap_or_default();
        let message = format!("{module}: {} ({provider}) lacks {} needed by {who}", p.file, p.version);
        issues.push(if p.weak {
            warning("verify-weak-version", message)
        } else {
            error("verify-version", message)
        });
    }
}

fn check_manifest(
    loader: &Resolver,
    view: &Sysroot,
    abi: &'static Abi,
    module: &str,
    manifest: &str,
    expected: Option<&str>,
    issues: &mut Vec<Issue>,
) {
    let bytes = match view.read_file(manifest, 1 << 20) {
        Ok(b) => b,
        Err(e) => {
            issues.push(error("verify-manifest", format!("{module}: {manifest}: {e}")));
            return;
        }
    };
    let field = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(json) => find_library_path(&json),
        Err(_) => Some(String::from_utf8_lossy(&bytes).lines().next().unwrap_or("").trim().to_string()),
    };
    let Some(field) = field.filter(|f| !f.is_empty()) else { return };
    let found = if field.contains('/') { Ok(field.clone()) } else { loader.find_library(abi, &field) };
    match (found, expected) {
        (Ok(path), Some(expected)) => {
            let ok = match (view.canonicalize(&path), view.canonicalize(expected)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if !ok {
                issues.push(error(
                    "verify-manifest",
                    format!("{module}: {manifest} names {field}, which the container finds at {path}, not at {expected}"),
                ));
            }
        }
        (Err(e), _) => issues.push(error("verify-manifest", format!("{module}: {manifest}: {e}"))),
        (Ok(_), None) => {}
    }
}

fn find_library_path(json: &serde_json::Value) -> Option<String> {
    match json {
        serde_json::Value::Object(map) => map
            .get("library_path")
            .and_then(|v| v.as_str().map(String::from))
            .or_else(|| map.values().find_map(find_library_path)),
        serde_json::Value::Array(items) => items.iter().find_map(find_library_path),
        _ => None,
    }
}
