//! Renderings of one [`Plan`]: `json` (the contract's shape), `bwrap` (bubblewrap arguments, one
//! per line or NUL-separated for `bwrap --args FD`), `cdi` (a Container Device Interface spec),
//! `oci` (an OCI runtime-spec fragment: `mounts` and `process.env`) and `env` (shell `export`
//! lines). Renderers know nothing about ELF or how the plan was decided.

use serde_json::{Value, json};

use crate::plan::Plan;

/// The output formats of `graft plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Bwrap,
    Cdi,
    Oci,
    Env,
    /// Graphviz: per ABI, the imported modules and libraries, host and runtime copies coloured
    /// apart.
    Dot,
}

/// The plan as the contract's JSON.
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_default() + "\n"
}

/// The bubblewrap arguments that apply the plan (mounts, symlinks, environment), in order.
pub fn bwrap_args(plan: &Plan) -> Vec<String> {
    let mut args = Vec::new();
    for m in &plan.mounts {
        if m.kind == "tmpfs" {
            args.extend(["--tmpfs".to_string(), m.destination.clone()]);
        } else if m.options.iter().any(|o| o == "ro") {
            args.extend(["--ro-bind".to_string(), m.source.clone(), m.destination.clone()]);
        } else {
            args.extend(["--bind".to_string(), m.source.clone(), m.destination.clone()]);
        }
    }
    for s in &plan.symlinks {
        args.extend(["--symlink".to_string(), s.target.clone(), s.link.clone()]);
    }
    for (k, v) in &plan.env {
        args.extend(["--setenv".to_string(), k.clone(), v.clone()]);
    }
    args
}

/// `--format bwrap`: one argument per line, or each followed by NUL.
pub fn bwrap(plan: &Plan, nul: bool) -> String {
    let sep = if nul { '\0' } else { '\n' };
    bwrap_args(plan).into_iter().map(|a| format!("{a}{sep}")).collect()
}

/// `--format env`: shell `export` lines.
pub fn env(plan: &Plan) -> String {
    plan.env.iter().map(|(k, v)| format!("export {k}={}\n", shell_quote(v))).collect()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn env_list(plan: &Plan) -> Vec<String> {
    plan.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A mount's options with the hardening every bind gets in a container spec, plus `extra`.
fn spec_options(m: &crate::plan::Mount, extra: &[&str]) -> Vec<String> {
    let mut options = m.options.clone();
    if m.kind == "bind" {
        options.extend(["nosuid", "nodev"].iter().chain(extra).map(|o| o.to_string()));
    }
    options
}

/// `--format oci`: the `mounts` and `process.env` of an OCI runtime spec.
pub fn oci(plan: &Plan) -> String {
    let mounts: Vec<Value> = plan
        .mounts
        .iter()
        .map(|m| {
            json!({ "destination": m.destination, "type": m.kind, "source": m.source, "options": spec_options(m, &[]) })
        })
        .collect();
    let spec = json!({ "mounts": mounts, "process": { "env": env_list(plan) } });
    serde_json::to_string_pretty(&spec).unwrap_or_default() + "\n"
}

/// `--format cdi`: a CDI spec with one device, `graft.dev/graphics=all`, whose container edits
/// are the plan.
pub fn cdi(plan: &Plan) -> String {
    let mounts: Vec<Value> = plan
        .mounts
        .iter()
        .map(|m| {
            json!({
                "hostPath": m.source, "containerPath": m.destination, "type": m.kind,
                "options": spec_options(m, &["bind"]),
            })
        })
        .collect();
    let spec = json!({
        "cdiVersion": "0.6.0",
        "kind": "graft.dev/graphics",
        "devices": [ { "name": "all", "containerEdits": {} } ],
        "containerEdits": { "env": env_list(plan), "mounts": mounts },
    });
    serde_json::to_string_pretty(&spec).unwrap_or_default() + "\n"
}

/// Renders a plan in a format.
/// Writes the plan in `format` to `out`. JSON is written as it is serialised, so that the whole
/// text (some 300 KB for a host with Mesa on two ABIs) is never held in memory.
pub fn write(plan: &Plan, format: Format, nul: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, plan)?;
            out.write_all(b"\n")
        }
        _ => out.write_all(render(plan, format, nul).as_bytes()),
    }
}

/// The plan in `format`, as text.
pub fn render(plan: &Plan, format: Format, nul: bool) -> String {
    match format {
        Format::Json => json(plan),
        Format::Bwrap => bwrap(plan, nul),
        Format::Cdi => cdi(plan),
        Format::Oci => oci(plan),
        Format::Env => env(plan),
        Format::Dot => dot(plan),
    }
}

/// `--format dot`.
pub fn dot(plan: &Plan) -> String {
    let mut s = String::from("digraph plan {\n  rankdir=LR;\n  node [style=filled, fontname=monospace];\n");
    for arch in &plan.architectures {
        s += &format!("  subgraph \"cluster_{arch}\" {{\n    label=\"{arch}\";\n");
        for d in plan.drivers.iter().filter(|d| &d.arch == arch) {
            let color = if d.status == "ok" { "palegreen" } else { "salmon" };
            s += &format!(
                "    \"{arch}:{}\" [label=\"{}\\n{}\", shape=box, fillcolor={color}];\n",
                d.name,
                d.name,
                d.kind.as_str()
            );
        }
        for l in plan.libraries.iter().filter(|l| &l.arch == arch) {
            let color = match l.chosen {
                crate::compare::Side::Host => "lightblue",
                crate::compare::Side::Runtime => "lightgrey",
            };
            s += &format!(
                "    \"{arch}:{}\" [label=\"{}\\n{}\", fillcolor={color}];\n",
                l.soname,
                l.soname,
                l.chosen.as_str()
            );
        }
        s += "  }\n";
        for (a, from, to) in plan.edges.iter().filter(|(a, _, _)| a == arch) {
            s += &format!("  \"{a}:{from}\" -> \"{a}:{to}\";\n");
        }
    }
    s + "}\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Mount, Plan};
    use std::collections::BTreeMap;

    fn plan() -> Plan {
        Plan {
            version: 1,
            host: "/".into(),
            runtime: "/rt".into(),
            staging: "/tmp/s".into(),
            architectures: vec!["x86_64-linux-gnu".into()],
            libraries: vec![],
            drivers: vec![],
            mounts: vec![
                Mount {
                    source: "tmpfs".into(),
                    destination: "/overrides".into(),
                    kind: "tmpfs".into(),
                    options: vec![],
                },
                Mount {
                    source: "/usr/lib/x/libz.so.1.3".into(),
                    destination: "/overrides/lib/x/libz.so.1".into(),
                    kind: "bind".into(),
                    options: vec!["ro".into()],
                },
            ],
            symlinks: vec![],
            env: BTreeMap::from([("LD_LIBRARY_PATH".to_string(), "/overrides/lib/x".to_string())]),
            issues: vec![],
            staged: vec![],
            edges: vec![],
        }
    }

    #[test]
    fn bwrap_and_env() {
        let p = plan();
        assert_eq!(
            bwrap(&p, false),
            "--tmpfs\n/overrides\n--ro-bind\n/usr/lib/x/libz.so.1.3\n/overrides/lib/x/libz.so.1\n--setenv\nLD_LIBRARY_PATH\n/overrides/lib/x\n"
        );
        assert_eq!(bwrap(&p, true).matches('\0').count(), 8);
        assert_eq!(env(&p), "export LD_LIBRARY_PATH='/overrides/lib/x'\n");
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn cdi_and_oci_carry_the_same_mounts() {
        let p = plan();
        let cdi: Value = serde_json::from_str(&cdi(&p)).unwrap();
        assert_eq!(cdi["containerEdits"]["mounts"][1]["containerPath"], "/overrides/lib/x/libz.so.1");
        assert_eq!(cdi["containerEdits"]["env"][0], "LD_LIBRARY_PATH=/overrides/lib/x");
        let oci: Value = serde_json::from_str(&oci(&p)).unwrap();
        assert_eq!(oci["mounts"][0]["type"], "tmpfs");
        assert_eq!(oci["process"]["env"][0], "LD_LIBRARY_PATH=/overrides/lib/x");
    }
}
