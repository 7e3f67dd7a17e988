//! The `graft` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use graft::elf::ElfFacts;
use graft::loader::{Hwcaps, Options, Resolver};
use graft::report;
use graft::sysroot::Sysroot;

#[derive(Parser)]
#[command(name = "graft", version, about = "Import a host's graphics drivers into a container runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The ELF facts of one file: class, machine, ABI, interpreter, SONAME, needs, paths, versions.
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Resolve files and their whole dependency closure as the root's own ld.so would.
    Tree {
        /// The directory tree the files live in, seen as `/`.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        #[arg(long)]
        json: bool,
        /// LD_LIBRARY_PATH for the emulated loader, as in-root directories separated by ':'.
        #[arg(long, value_name = "DIRS")]
        library_path: Option<String>,
        /// glibc-hwcaps level to search: native (this CPU), none, or a name such as x86-64-v3.
        #[arg(long, value_name = "LEVEL", default_value = "native")]
        hwcaps: String,
        /// `$PLATFORM` (AT_PLATFORM); the ABI's usual value when not given.
        #[arg(long)]
        platform: Option<String>,
        /// In-root paths of the files to resolve.
        #[arg(required = true)]
        files: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("graft: {message}");
            ExitCode::from(2)
        }
    }
}

/// Writes a report to standard output; a reader that went away (`graft tree | head`) is not an
/// error worth a message.
fn emit(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("standard output: {e}")),
        _ => Ok(()),
    }
}

fn run(command: Command) -> Result<u8, String> {
    match command {
        Command::Inspect { file, json } => {
            let facts = ElfFacts::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let shown = file.display().to_string();
            if json {
                emit(&format!("{:#}\n", report::inspect_json(&shown, &facts)))?;
            } else {
                emit(&report::inspect_text(&shown, &facts))?;
            }
            Ok(0)
        }
        Command::Tree { root, json, library_path, hwcaps, platform, files } => {
            let sysroot = Sysroot::open(&root)?;
            let hwcaps = match hwcaps.as_str() {
                "native" => Hwcaps::Native,
                "none" | "baseline" => Hwcaps::None,
                level => Hwcaps::Level(level.to_string()),
            };
            let library_path =
                library_path.map(|p| p.split([':', ';']).map(str::to_string).collect()).unwrap_or_default();
            let resolver = Resolver::new(&sysroot, Options { library_path, hwcaps, platform });
            let results: Vec<report::TreeResult> = files
                .iter()
                .map(|f| {
                    let in_root = if f.starts_with('/') { f.clone() } else { format!("/{f}") };
                    let r = resolver.resolve(&in_root).map_err(|e| format!("{in_root}: {e}"));
                    (f.clone(), r)
                })
                .collect();
            let complete = results.iter().all(|(_, r)| r.as_ref().is_ok_and(|c| c.complete()));
            if json {
                emit(&format!("{}\n", report::tree_json(&root.display().to_string(), &results)))?;
            } else {
                emit(&report::tree_text(&results))?;
            }
            Ok(if complete { 0 } else { 1 })
        }
    }
}
