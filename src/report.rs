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
                    deps.insert(o.name.to_string(), json!(o.path.as_deref()));
                }
                let mut errors: Vec<Value> = c.objects[1..]
                    .iter()
                    .filter_map(|o| {
                        let reason = o.error.as_ref()?;
                        let by = o.loader.and_then(|l| c.objects[l].path.as_deref());
                        Some(json!({ "name": &*o.name, "requested_by": by, "reason": reason, "fatal": o.fatal }))
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
    let by = c.objects[p.object].path.as_deref().unwrap_or_default().to_string();
    let provider = c.objects[p.provider].path.as_deref().unwrap_or_default();
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
                        (Some(p), _) => p,
                        (None, Some(e)) => e.as_str(),
                        (None, None) => "not found",
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

/// `graft tree --format dot`: each file's closure, edges from requester to provider.
pub fn tree_dot(results: &[TreeResult]) -> String {
    let mut s = String::from("digraph tree {\n  rankdir=LR;\n  node [shape=box, fontname=monospace];\n");
    for (file, result) in results {
        let Ok(c) = result else { continue };
        let id = |i: usize| format!("{file}:{}", c.objects[i].path.as_deref().unwrap_or(&c.objects[i].name));
        for (i, o) in c.objects.iter().enumerate() {
            let label = o.path.as_deref().map_or_else(|| format!("{} (not found)", o.name), str::to_string);
            let style = if o.error.is_some() { ", style=filled, fillcolor=salmon" } else { "" };
            s += &format!("  \"{}\" [label=\"{label}\"{style}];\n", id(i));
        }
        for (from, _, to) in &c.edges {
            s += &format!("  \"{}\" -> \"{}\";\n", id(*from), id(*to));
        }
    }
    s + "}\n"
}

/// ANSI colours for a terminal, or nothing.
struct Paint(bool);

impl Paint {
    fn status(&self, s: &str) -> String {
        let code = match s {
            "ok" => "32",
            "unusable" | "error" => "31",
            "warning" => "33",
            _ => return s.to_string(),
        };
        if self.0 { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
}

/// `graft check` for a person: drivers grouped by ABI and kind, aligned, then the issues and a
/// summary line.
pub fn check_text(r: &crate::check::CheckReport, color: bool) -> String {
    let paint = Paint(color);
    let mut s = format!("host {}", r.host);
    if let Some(rt) = &r.runtime {
        s += &format!(", runtime {rt}");
    }
    s += "\n";
    let kind_w = r.drivers.iter().map(|d| d.kind.as_str().len()).max().unwrap_or(0);
    let name_w = r.drivers.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for sum in &r.summaries {
        s += &format!("{}\n", sum.arch);
        let mut drivers: Vec<_> = r.drivers.iter().filter(|d| d.arch == sum.arch).collect();
        drivers.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        for d in drivers {
            let detail =
                if d.status == "ok" { d.library.clone().unwrap_or_default() } else { d.reason.clone() };
            // Pad before colouring so the escape codes do not upset the alignment.
            let status = format!("{:<8}", d.status);
            s += &format!(
                "  {:<kind_w$}  {:<name_w$}  {}  {detail}\n",
                d.kind.as_str(),
                d.name,
                paint.status(status.trim_end()) + &status[d.status.len()..]
            );
        }
    }
    if !r.issues.is_empty() {
        s += "issues\n";
        for i in &r.issues {
            s += &format!("  {} {}: {}\n", paint.status(&i.severity), i.code, i.message);
        }
    }
    let per_abi: Vec<String> =
        r.summaries.iter().map(|x| format!("{} {} ok, {} unusable", x.arch, x.ok, x.unusable)).collect();
    s += &format!(
        "summary: {}; {} error{}, {} warning{}\n",
        if per_abi.is_empty() { "no ABI".to_string() } else { per_abi.join("; ") },
        r.errors(),
        if r.errors() == 1 { "" } else { "s" },
        r.warnings(),
        if r.warnings() == 1 { "" } else { "s" }
    );
    s
}

/// `graft why --json`: each ABI's decision with who needs which versions.
pub fn why_json(soname: &str, choices: &[&crate::plan::LibraryChoice]) -> Value {
    let entries: Vec<Value> = choices
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
            if let Some(map) = v.as_object_mut() {
                map.insert("needed_by".into(), serde_json::to_value(&c.needed_by).unwrap_or(Value::Null));
            }
            v
        })
        .collect();
    json!({ "soname": soname, "decisions": entries })
}

/// `graft why` for a person.
pub fn why_text(soname: &str, choices: &[&crate::plan::LibraryChoice]) -> String {
    let mut s = String::new();
    for c in choices {
        s += &format!(
            "{soname} [{}]: {} ({})\n",
            c.arch,
            c.chosen.as_str(),
            serde_json::to_value(c.rule).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        );
        s += &format!("  reason   {}\n", c.reason);
        for (side, path, file, versions) in [
            ("host", &c.host_path, &c.host_file, &c.host_versions),
            ("runtime", &c.runtime_path, &c.runtime_file, &c.runtime_versions),
        ] {
            match path {
                Some(p) => {
                    let real =
                        file.as_deref().filter(|f| f != p).map(|f| format!(" -> {f}")).unwrap_or_default();
                    let newest = if versions.is_empty() {
                        "no version definitions".to_string()
                    } else {
                        versions.join(" ")
                    };
                    s += &format!("  {side:<8} {p}{real}; newest: {newest}\n");
                }
                None => s += &format!("  {side:<8} none\n"),
            }
        }
        if let Some(cp) = &c.container_path {
            s += &format!("  in the container: {cp}\n");
        }
        let other = c.chosen.other().as_str();
        let (decisive, rest): (Vec<_>, Vec<_>) = c.needed_by.iter().partition(|n| !n.only_chosen.is_empty());
        if !decisive.is_empty() {
            s += &format!("  needing versions the {other} copy lacks\n");
            for n in decisive.iter().take(25) {
                s += &format!("    {}: {}\n", n.object, n.only_chosen.join(" "));
            }
            if decisive.len() > 25 {
                s += &format!("    ... and {} more\n", decisive.len() - 25);
            }
        }
        if !rest.is_empty() {
            s += &format!("  {} more objects need versions from it that both copies define\n", rest.len());
        }
    }
    s
}
