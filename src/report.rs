//! Human and JSON reports of ELF facts (`graft inspect`) and load closures (`graft tree`).
//! Shapes follow ../shared/CONTRACT.md; this module only formats, it decides nothing.

use serde_json::{Value, json};

use crate::elf::{ElfFacts, type_name};
use crate::loader::{Closure, VersionProblem};

/// `graft inspect --json`.
pub fn inspect_json(path: &str, f: &ElfFacts) -> Value {
    json!({
        "path": path,
        "class": if f.class64 { "ELF64" } else { "ELF32" },
        "data": if f.big_endian { "big" } else { "little" },
        "machine": f.machine,
        "arch": f.abi().map(|a| a.tuple),
        "type": type_name(f.e_type),
        "interpreter": f.interpreter,
        "soname": f.soname,
        "needed": f.needed,
        "rpath": f.rpath,
        "runpath": f.runpath,
        "flags_1": f.flags_1,
        "nodeflib": f.nodeflib(),
        "version_definitions": f.version_definitions,
        "version_needs": f.version_needs,
    })
}

/// `graft inspect` for a person.
pub fn inspect_text(path: &str, f: &ElfFacts) -> String {
    let mut s = String::new();
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    s += &format!("{path}\n");
    s += &format!(
        "  class      ELF{} {}-endian, machine {}, {}\n",
        if f.class64 { 64 } else { 32 },
        if f.big_endian { "big" } else { "little" },
        f.machine,
        f.abi().map_or("unknown ABI", |a| a.tuple)
    );
    s += &format!("  type       {}\n", type_name(f.e_type));
    s += &format!("  interp     {}\n", opt(&f.interpreter));
    s += &format!("  soname     {}\n", opt(&f.soname));
    s += &format!("  needed     {}\n", if f.needed.is_empty() { "-".into() } else { f.needed.join(" ") });
    s += &format!("  rpath      {}\n", opt(&f.rpath));
    s += &format!("  runpath    {}\n", opt(&f.runpath));
    s += &format!("  flags_1    {:#x}{}\n", f.flags_1, if f.nodeflib() { " (NODEFLIB)" } else { "" });
    if !f.version_definitions.is_empty() {
        s += "  version definitions\n";
        for d in &f.version_definitions {
            s += &format!(
                "    {:>3} {}{}{}\n",
                d.index,
                d.name,
                if d.base { " (BASE)" } else { "" },
                if d.parents.is_empty() { String::new() } else { format!(" : {}", d.parents.join(" ")) }
            );
        }
    }
    if !f.version_needs.is_empty() {
        s += "  version needs\n";
        for n in &f.version_needs {
            let names: Vec<String> = n
                .versions
                .iter()
                .map(|v| if v.weak { format!("{} (weak)", v.name) } else { v.name.clone() })
                .collect();
            s += &format!("    {}: {}\n", n.file, names.join(" "));
        }
    }
    s
}

/// One `tree` result: the file and its closure, or why the file itself cannot be loaded.
pub type TreeResult = (String, Result<Closure, String>);

/// `graft tree --json`.
pub fn tree_json(root: &str, results: &[TreeResult]) -> Value {
    let objects: Vec<Value> = results
        .iter()
        .map(|(file, result)| match result {
            Err(e) => json!({ "path": file, "arch": null, "deps": {}, "errors": [], "warnings": [], "error": e }),
            Ok(c) => {
                let mut deps = serde_json::Map::new();
                for o in &c.objects[1..] {
                    deps.insert(o.name.clone(), json!(o.path));
                }
                let mut errors: Vec<Value> = c.objects[1..]
                    .iter()
                    .filter_map(|o| {
                        let reason = o.error.as_ref()?;
                        let by = o.loader.and_then(|l| c.objects[l].path.clone());
                        Some(json!({ "name": o.name, "requested_by": by, "reason": reason, "fatal": o.fatal }))
                    })
                    .collect();
                let mut warnings = c.warnings.clone();
                for p in &c.version_problems {
                    let (by, reason) = version_problem(c, p);
                    if p.weak {
                        warnings.push(format!("{reason} (weak)"));
                    } else {
                        errors.push(json!({ "name": p.file, "requested_by": by, "reason": reason, "fatal": true }));
                    }
                }
                json!({ "path": file, "arch": c.abi.tuple, "deps": deps, "errors": errors, "warnings": warnings, "error": null })
            }
        })
        .collect();
    json!({ "root": root, "objects": objects })
}

/// The needing object's path and ld.so's wording for a version problem.
fn version_problem(c: &Closure, p: &VersionProblem) -> (String, String) {
    let by = c.objects[p.object].path.clone().unwrap_or_default();
    let provider = c.objects[p.provider].path.clone().unwrap_or_default();
    let reason = format!("{provider}: version `{}' not found (required by {by})", p.version);
    (by, reason)
}

/// `graft tree` for a person: each object under the one that first needed it.
pub fn tree_text(results: &[TreeResult]) -> String {
    let mut s = String::new();
    for (file, result) in results {
        match result {
            Err(e) => s += &format!("{file}: {e}\n"),
            Ok(c) => {
                s += &format!("{file} [{}]\n", c.abi.tuple);
                let mut children: Vec<Vec<usize>> = vec![Vec::new(); c.objects.len()];
                for (i, o) in c.objects.iter().enumerate().skip(1) {
                    children[o.loader.unwrap_or(0)].push(i);
                }
                let mut stack: Vec<(usize, usize)> = children[0].iter().rev().map(|&i| (i, 1)).collect();
                while let Some((i, depth)) = stack.pop() {
                    let o = &c.objects[i];
                    let target = match (&o.path, &o.error) {
                        (Some(p), _) => p.clone(),
                        (None, Some(e)) => e.clone(),
                        (None, None) => "not found".into(),
                    };
                    s += &format!("{}{} => {}\n", "    ".repeat(depth), o.name, target);
                    stack.extend(children[i].iter().rev().map(|&j| (j, depth + 1)));
                }
                for p in &c.version_problems {
                    let (_, reason) = version_problem(c, p);
                    s += &format!("  {}: {reason}\n", if p.weak { "warning" } else { "error" });
                }
                for w in &c.warnings {
                    s += &format!("  warning: {w}\n");
                }
            }
        }
    }
    s
}
