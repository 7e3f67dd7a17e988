//! Renderings of one [`Plan`]: `json` (the contract's shape), `bwrap` (bubblewrap arguments, one
//! per line or NUL-separated for `bwrap --args FD`), `cdi` (a Container Device Interface spec),
//! `oci` (an OCI runtime-spec fragment: `mounts` and `process.env`) and `env` (shell `export`
//! lines). Renderers know nothing about ELF or how the plan was decided.

use std::io::{self, Write};

use serde::Serialize;
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

/// The plan as the contract's JSON, one record per line (see [`RecordPerLine`]).
pub fn json(plan: &Plan) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and serde_json writes UTF-8 only.
    let _ = write_json(plan, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn write_json(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    // serde_json writes a few bytes at a time: into a buffer of a type it knows, so that those
    // writes are inlined copies, not calls through `out`'s vtable.
    let mut buffered = io::BufWriter::with_capacity(64 * 1024, out);
    let mut serializer = serde_json::Serializer::with_formatter(&mut buffered, RecordPerLine::default());
    plan.serialize(&mut serializer).map_err(io::Error::from)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// JSON laid out for a plan: each field of the top-level object on a line of its own, and each
/// element of a top-level list or map (a library, a driver, a mount, a variable) on one line of
/// its own, its inside written out on that line. A plan has hundreds of mounts: one per line is
/// easy to read and to grep, and the text is a quarter smaller, and quicker to write, than with
/// every nested value indented on lines of its own.
#[derive(Default)]
struct RecordPerLine {
    /// How many arrays and objects are open.
    depth: usize,
    /// Whether the innermost open container has an element yet.
    has_value: bool,
}

impl RecordPerLine {
    /// Containers this deep or less put each element on a line of its own.
    const LINE_DEPTH: usize = 2;

    fn open(&mut self, w: &mut (impl Write + ?Sized), bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close(&mut self, w: &mut (impl Write + ?Sized), bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.depth < Self::LINE_DEPTH && self.has_value {
            self.newline(w)?;
        }
        w.write_all(bracket)
    }

    fn element(&mut self, w: &mut (impl Write + ?Sized), first: bool) -> io::Result<()> {
        if self.depth <= Self::LINE_DEPTH {
            if !first {
                w.write_all(b",")?;
            }
            self.newline(w)
        } else if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn newline(&self, w: &mut (impl Write + ?Sized)) -> io::Result<()> {
        const SPACES: &[u8] = b"\n        ";
        w.write_all(&SPACES[..1 + 2 * self.depth.min(4)])
    }
}

impl serde_json::ser::Formatter for RecordPerLine {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.element(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.element(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// The bubblewrap arguments that apply the plan (mounts, symlinks, environment), in order.
pub fn bwrap_args(plan: &Plan) -> Vec<String> {
    let mut args = Vec::new();
    for m in &plan.mounts {
        if m.kind == "tmpfs" {
            args.extend(["--tmpfs".to_string(), m.destination.clone()]);
        } else if m.options.contains(&"ro") {
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
fn spec_options<'a>(m: &crate::plan::Mount, extra: &[&'a str]) -> Vec<&'a str> {
    let mut options = m.options.to_vec();
    if m.kind == "bind" {
        options.extend(["nosuid", "nodev"].iter().chain(extra));
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

/// Writes the plan in `format` to `out`. JSON is written as it is serialised, so that the whole
/// text (some 300 KB for a host with Mesa on two ABIs) is never held in memory.
pub fn write(plan: &Plan, format: Format, nul: bool, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => write_json(plan, out),
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
                    kind: "tmpfs",
                    options: &[],
                },
                Mount {
                    source: "/usr/lib/x/libz.so.1.3".into(),
                    destination: "/overrides/lib/x/libz.so.1".into(),
                    kind: "bind",
                    options: &["ro"],
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
    fn json_puts_each_record_on_a_line_of_its_own() {
        let text = json(&plan());
        let want = [
            "{",
            r#"  "version": 1,"#,
            r#"  "host": "/","#,
            r#"  "runtime": "/rt","#,
            r#"  "staging": "/tmp/s","#,
            r#"  "architectures": ["#,
            r#"    "x86_64-linux-gnu""#,
            r#"  ],"#,
            r#"  "libraries": [],"#,
            r#"  "drivers": [],"#,
            r#"  "mounts": ["#,
            r#"    {"source": "tmpfs", "destination": "/overrides", "type": "tmpfs", "options": []},"#,
            r#"    {"source": "/usr/lib/x/libz.so.1.3", "destination": "/overrides/lib/x/libz.so.1", "type": "bind", "options": ["ro"]}"#,
            r#"  ],"#,
            r#"  "symlinks": [],"#,
            r#"  "env": {"#,
            r#"    "LD_LIBRARY_PATH": "/overrides/lib/x""#,
            r#"  },"#,
            r#"  "issues": []"#,
            "}",
            "",
        ];
        assert_eq!(text, want.join("\n"));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, serde_json::to_value(plan()).unwrap());
        let mut written = Vec::new();
        write(&plan(), Format::Json, false, &mut written).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), text);
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
