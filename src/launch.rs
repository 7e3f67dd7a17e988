//! `graft run`: start a command in a bubblewrap container whose root is the runtime (read-only),
//! with `/proc`, `/dev`, a private `/tmp` and `/run`, the display sockets and GPU device nodes of
//! a live host, and the plan applied. The exit status is the command's.

use std::path::Path;
use std::process::Command;

use crate::plan::Plan;
use crate::render;

/// The bubblewrap command line for a plan and a command.
pub fn bwrap_command(plan: &Plan, command: &[String]) -> Command {
    let mut bwrap = Command::new("bwrap");
    bwrap.args(runtime_root_args(Path::new(&plan.runtime)));
    bwrap.args([
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/run",
        "--die-with-parent",
    ]);
    if plan.host == "/" {
        for dev in gpu_device_nodes() {
            bwrap.args(["--dev-bind", &dev, &dev]);
        }
    }
    if std::env::var_os("DISPLAY").is_some() && Path::new("/tmp/.X11-unix").is_dir() {
        bwrap.args(["--ro-bind", "/tmp/.X11-unix", "/tmp/.X11-unix"]);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_dir()) {
        bwrap.arg("--bind").arg(&dir).arg(&dir);
    }
    bwrap.args(render::bwrap_args(plan));
    bwrap.arg("--").args(command);
    bwrap
}

/// The runtime as the container's root. bubblewrap's own root is a tmpfs; each top-level entry
/// of the runtime is bound read-only into it (symlinks recreated), so that `/overrides` and the
/// other mount points can be made next to them without writing to the runtime.
fn runtime_root_args(runtime: &Path) -> Vec<String> {
    let mut args = Vec::new();
    let Ok(entries) = std::fs::read_dir(runtime) else { return args };
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in names {
        if matches!(name.as_str(), "proc" | "dev" | "tmp" | "run" | "sys" | "overrides") {
            continue;
        }
        let path = runtime.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.file_type().is_symlink() {
            if let Ok(target) = std::fs::read_link(&path) {
                args.extend(["--symlink".into(), target.to_string_lossy().into_owned(), format!("/{name}")]);
            }
        } else if meta.is_dir() || meta.is_file() {
            args.extend(["--ro-bind".into(), path.display().to_string(), format!("/{name}")]);
        }
    }
    args
}

/// GPU device nodes of the machine graft runs on: `/dev/dri`, NVIDIA's nodes, WSL's `/dev/dxg`.
fn gpu_device_nodes() -> Vec<String> {
    let mut nodes = Vec::new();
    if Path::new("/dev/dri").is_dir() {
        nodes.push("/dev/dri".to_string());
    }
    if let Ok(entries) = std::fs::read_dir("/dev") {
        let mut nvidia: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("nvidia") || n == "dxg")
            .map(|n| format!("/dev/{n}"))
            .collect();
        nvidia.sort();
        nodes.extend(nvidia);
    }
    nodes
}

/// Runs the command and returns its exit status (128 + signal when killed).
pub fn run(plan: &Plan, command: &[String]) -> Result<u8, String> {
    let status = bwrap_command(plan, command).status().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "bwrap: not found; install bubblewrap (apt-get install bubblewrap)".to_string()
        } else {
            format!("bwrap: {e}")
        }
    })?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => 128u8.saturating_add(sig as u8),
        _ => 1,
    })
}
