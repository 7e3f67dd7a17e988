//! The `graft` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use graft::abi::Abi;
use graft::elf::ElfFacts;
use graft::loader::{Hwcaps, Options, Resolver};
use graft::plan::{self, Plan, PlanOptions};
use graft::render::{self, Format};
use graft::sysroot::Sysroot;
use graft::{launch, report};

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
    /// Decide which drivers and libraries come from the host, and print the mount plan.
    Plan {
        #[command(flatten)]
        trees: Trees,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// With --format bwrap: NUL-separated arguments, for `bwrap --args FD`.
        #[arg(short = '0')]
        nul: bool,
        /// Write the plan to this file instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Start COMMAND in a bubblewrap container: the runtime as `/`, the plan applied.
    Run {
        #[command(flatten)]
        trees: Trees,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// The trees a plan is made from.
#[derive(clap::Args)]
struct Trees {
    /// The container's root filesystem.
    #[arg(long)]
    runtime: PathBuf,
    /// The tree the drivers come from.
    #[arg(long, default_value = "/")]
    host: PathBuf,
    /// ABIs to plan, as multiarch tuples separated by ','; default: every ABI both trees can run.
    #[arg(long, value_delimiter = ',', value_name = "TUPLE,...")]
    arch: Vec<String>,
    /// Where generated files go (default: under $XDG_RUNTIME_DIR or /tmp).
    #[arg(long)]
    staging: Option<PathBuf>,
}

impl Trees {
    /// Builds the plan and writes its generated files.
    fn plan(&self) -> Result<Plan, String> {
        let abis = if self.arch.is_empty() {
            None
        } else {
            Some(
                self.arch
                    .iter()
                    .map(|t| Abi::by_tuple(t).ok_or_else(|| format!("--arch: unknown ABI '{t}'")))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        let live = std::fs::canonicalize(&self.host).is_ok_and(|p| p == std::path::Path::new("/"));
        let env = if live { std::env::vars().collect() } else { Default::default() };
        let options = PlanOptions {
            host: self.host.clone(),
            runtime: self.runtime.clone(),
            abis,
            staging: self.staging.clone().unwrap_or_else(plan::default_staging),
            env,
        };
        let plan = plan::build(&options)?;
        plan.write_staging()?;
        Ok(plan)
    }
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
        Command::Plan { trees, format, nul, output } => {
            let plan = trees.plan()?;
            let text = render::render(&plan, format, nul);
            match output {
                Some(path) => std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?,
                None => emit(&text)?,
            }
            for issue in plan.issues.iter().filter(|i| i.severity != "info") {
                eprintln!("graft: {}: {}: {}", issue.severity, issue.code, issue.message);
            }
            Ok(0)
        }
        Command::Run { trees, command } => {
            let plan = trees.plan()?;
            for issue in plan.issues.iter().filter(|i| i.severity == "error") {
                eprintln!("graft: {}: {}: {}", issue.severity, issue.code, issue.message);
            }
            launch::run(&plan, &command)
        }
    }
}
