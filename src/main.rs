//! The `graft` command line: parses arguments and calls the library.

/// mimalloc: a plan makes some 50 000 small allocations (paths, names, ELF facts) on two threads,
/// and glibc's malloc spent a third of the plan's instructions on them. Built without transparent
/// huge pages (`no_thp`): a short run that faults 2 MiB pages in spends its time clearing them.
/// Measured on the test bed's plan: 20% fewer instructions, about 8% less wall time.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use graft::abi::Abi;
use graft::elf::ElfFacts;
use graft::loader::{FactsCache, Hwcaps, Options, Resolver};
use graft::plan::{self, Plan, PlanOptions};
use graft::render::{self, Format};
use graft::sysroot::Sysroot;
use graft::{check, launch, report};

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
        /// Output format (`--json` is `--format json`).
        #[arg(long, value_enum, default_value = "text")]
        format: TreeFormat,
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
    /// Report the host's graphics stack; with --runtime, build the plan and verify it.
    Check {
        /// The container's root filesystem; without it, only the host is checked.
        #[arg(long)]
        runtime: Option<PathBuf>,
        #[command(flatten)]
        host: HostArgs,
        #[arg(long)]
        json: bool,
    },
    /// Explain the decision for one SONAME: both copies, their versions, the rule, who needs what.
    Why {
        soname: String,
        #[command(flatten)]
        trees: Trees,
        #[arg(long)]
        json: bool,
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

/// `graft tree` output formats.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TreeFormat {
    Text,
    Json,
    Dot,
}

/// `--arch` values as ABIs; `None` when not given.
fn parse_abis(arch: &[String]) -> Result<Option<Vec<&'static Abi>>, String> {
    if arch.is_empty() {
        return Ok(None);
    }
    arch.iter()
        .map(|t| Abi::by_tuple(t).ok_or_else(|| format!("--arch: unknown ABI '{t}'")))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The driver search variables of this process, when the host is this machine's `/`.
fn discovery_env(host: &std::path::Path) -> std::collections::HashMap<String, String> {
    let live = std::fs::canonicalize(host).is_ok_and(|p| p == std::path::Path::new("/"));
    if live { std::env::vars().collect() } else { Default::default() }
}

/// Where drivers come from, for which ABIs, and where generated files go.
#[derive(clap::Args)]
struct HostArgs {
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

impl HostArgs {
    /// Plan options for a runtime.
    fn options(&self, runtime: &std::path::Path) -> Result<PlanOptions, String> {
        Ok(PlanOptions {
            host: self.host.clone(),
            runtime: runtime.to_path_buf(),
            abis: parse_abis(&self.arch)?,
            staging: self.staging.clone().unwrap_or_else(plan::default_staging),
            env: discovery_env(&self.host),
            needed_by: false,
            edges: false,
        })
    }
}

/// The trees a plan is made from.
#[derive(clap::Args)]
struct Trees {
    /// The container's root filesystem.
    #[arg(long)]
    runtime: PathBuf,
    #[command(flatten)]
    host: HostArgs,
}

impl Trees {
    fn options(&self) -> Result<PlanOptions, String> {
        self.host.options(&self.runtime)
    }

    /// Builds the plan (with its dependency edges when `edges`) and writes its generated files.
    fn plan(&self, edges: bool) -> Result<Plan, String> {
        let facts = FactsCache::default();
        let plan = plan::build_with_facts(&PlanOptions { edges, ..self.options()? }, &facts)?;
        // The ELF facts of some hundreds of files: the process ends soon after the plan, and
        // freeing them one by one would only delay it.
        std::mem::forget(facts);
        plan.write_staging()?;
        Ok(plan)
    }
}

fn main() {
    let cli = Cli::parse();
    let code = run(cli.command).unwrap_or_else(|message| {
        eprintln!("graft: {message}");
        2
    });
    // The process ends here without the C library's exit handlers: their only work would be
    // mimalloc's, which hands every free page back to the system one `madvise` at a time (some
    // fifty calls after a plan) just before the system reclaims them all anyway. Standard output
    // is the only buffer left to write.
    let _ = std::io::stdout().flush();
    // SAFETY: _exit(2) only ends the process; nothing of this one runs after it.
    unsafe { nix::libc::_exit(i32::from(code)) }
}

/// Writes a report to standard output; a reader that went away (`graft tree | head`) is not an
/// error worth a message.
fn emit(text: &str) -> Result<(), String> {
    write_to(None, |out| out.write_all(text.as_bytes()))
}

/// Runs `write` on a buffered `output` file, or standard output when there is none, as [`emit`].
fn write_to(
    output: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), String> {
    const BUFFER: usize = 64 * 1024;
    match output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut out = std::io::BufWriter::with_capacity(BUFFER, file);
            write(&mut out).and_then(|()| out.flush()).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => {
            let mut out = std::io::BufWriter::with_capacity(BUFFER, std::io::stdout().lock());
            match write(&mut out).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("standard output: {e}")),
                _ => Ok(()),
            }
        }
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
        Command::Tree { root, json, format, library_path, hwcaps, platform, files } => {
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
            match (json, format) {
                (true, _) | (_, TreeFormat::Json) => {
                    emit(&format!("{}\n", report::tree_json(&root.display().to_string(), &results)))?
                }
                (_, TreeFormat::Dot) => emit(&report::tree_dot(&results))?,
                (_, TreeFormat::Text) => emit(&report::tree_text(&results))?,
            }
            Ok(if complete { 0 } else { 1 })
        }
        Command::Plan { trees, format, nul, output } => {
            let plan = trees.plan(format == Format::Dot)?;
            write_to(output.as_deref(), |out| render::write(&plan, format, nul, out))?;
            for issue in plan.issues.iter().filter(|i| i.severity != "info") {
                eprintln!("graft: {}: {}: {}", issue.severity, issue.code, issue.message);
            }
            // The process ends here: freeing the plan's thousands of strings one by one would
            // only delay it (2% of a plan's instructions).
            std::mem::forget(plan);
            Ok(0)
        }
        Command::Check { runtime, host, json } => {
            let report = match runtime {
                None => check::check_host(&host.host, parse_abis(&host.arch)?, discovery_env(&host.host))?,
                Some(runtime) => {
                    let options = host.options(&runtime)?;
                    let report = check::check_runtime(&options);
                    if host.staging.is_none() {
                        // The default staging directory is this process's own.
                        let _ = std::fs::remove_dir_all(&options.staging);
                    }
                    report?
                }
            };
            if json {
                emit(&format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default()))?;
            } else {
                use std::io::IsTerminal;
                let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                emit(&report::check_text(&report, color))?;
            }
            Ok(if report.errors() > 0 { 1 } else { 0 })
        }
        Command::Why { soname, trees, json } => {
            let plan = plan::build(&PlanOptions { needed_by: true, ..trees.options()? })?;
            let choices: Vec<_> = plan.libraries.iter().filter(|l| l.soname == soname).collect();
            if choices.is_empty() {
                return Err(format!(
                    "{soname}: not in the closure of any imported driver for {}",
                    plan.architectures.join(", ")
                ));
            }
            if json {
                emit(&format!("{:#}\n", report::why_json(&soname, &choices)))?;
            } else {
                emit(&report::why_text(&soname, &choices))?;
            }
            Ok(0)
        }
        Command::Run { trees, command } => {
            let plan = trees.plan(false)?;
            for issue in plan.issues.iter().filter(|i| i.severity == "error") {
                eprintln!("graft: {}: {}: {}", issue.severity, issue.code, issue.message);
            }
            let status = launch::run(&plan, &command);
            if trees.host.staging.is_none() {
                // The default staging directory is this process's own.
                let _ = std::fs::remove_dir_all(&plan.staging);
            }
            status
        }
    }
}
