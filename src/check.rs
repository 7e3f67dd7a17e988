//! `graft check`: the diagnosis a user reads when a driver will not load.
//!
//! Without a runtime: every driver module found on the host, per ABI and kind, with whether its
//! closure is complete and loadable there (the reason names the missing SONAME and who needs it,
//! the version and which file lacks it, the manifest that does not parse). With a runtime: the
//! plan is built, then verified in the container's view ([`crate::verify`]). Unusable modules and
//! every verification failure are `error` issues.

use std::path::Path;

use serde::Serialize;

use crate::abi::{ABIS, Abi};
use crate::drivers::{self, DiscoveryOptions};
use crate::loader::{FactsCache, Options, Resolver};
use crate::plan::{self, DriverEntry, Issue, PlanOptions};
use crate::sysroot::Sysroot;
use crate::verify;

/// Counts for one ABI.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub arch: String,
    pub ok: usize,
    pub unusable: usize,
}

/// What `graft check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub host: String,
    pub runtime: Option<String>,
    pub drivers: Vec<DriverEntry>,
    pub issues: Vec<Issue>,
    pub summaries: Vec<Summary>,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.issues.iter().filter(|i| i.severity == "error").count()
    }

    pub fn warnings(&self) -> usize {
        self.issues.iter().filter(|i| i.severity == "warning").count()
    }

    fn summarize(&mut self, abis: &[String]) {
        self.summaries = abis
            .iter()
            .map(|arch| {
                let of = |status: &str| {
                    self.drivers.iter().filter(|d| &d.arch == arch && d.status == status).count()
                };
                Summary { arch: arch.clone(), ok: of("ok"), unusable: of("unusable") }
            })
            .collect();
    }
}

fn unusable_issue(d: &DriverEntry) -> Issue {
    Issue {
        severity: "error".into(),
        code: "driver-unusable".into(),
        message: format!("{} {} {}: {}", d.arch, d.kind.as_str(), d.name, d.reason),
    }
}

/// The host's graphics stack, per ABI the host has a loader for.
pub fn check_host(
    host: &Path,
    abis: Option<Vec<&'static Abi>>,
    env: std::collections::HashMap<String, String>,
) -> Result<CheckReport, String> {
    let root = Sysroot::open(host).map_err(|e| format!("host: {e}"))?;
    let resolver = Resolver::new(&root, Options::default());
    let abis: Vec<&'static Abi> = abis.unwrap_or_else(|| {
        ABIS.iter()
            .filter(|a| resolver.facts(a.interpreter).is_ok_and(|(_, f)| f.abi() == Some(*a)))
            .collect()
    });
    let discovery = drivers::discover(&resolver, &DiscoveryOptions { abis: abis.clone(), env });
    let mut report = CheckReport {
        host: root.root().display().to_string(),
        runtime: None,
        drivers: Vec::new(),
        issues: discovery
            .warnings
            .iter()
            .map(|w| Issue {
                severity: "warning".into(),
                code: "driver-discovery".into(),
                message: w.clone(),
            })
            .collect(),
        summaries: Vec::new(),
    };
    for m in &discovery.modules {
        let (status, reason) = match plan::evaluate_module(&resolver, m, true) {
            Ok(_) => ("ok", String::new()),
            Err(why) => ("unusable", why),
        };
        let entry = DriverEntry {
            kind: m.kind,
            arch: m.abi.tuple.into(),
            name: m.name.clone(),
            manifest: m.manifest.as_ref().map(|x| x.path.clone()),
            library: m.library.clone(),
            container_path: None,
            container_manifest: None,
            status: status.into(),
            reason,
        };
        if status != "ok" {
            report.issues.push(unusable_issue(&entry));
        }
        report.drivers.push(entry);
    }
    report.summarize(&abis.iter().map(|a| a.tuple.to_string()).collect::<Vec<_>>());
    Ok(report)
}

/// The plan for a runtime, verified in the container's view.
pub fn check_runtime(options: &PlanOptions) -> Result<CheckReport, String> {
    let facts = FactsCache::default();
    let plan = plan::build_with_facts(options, &facts)?;
    plan.write_staging()?;
    let mut issues: Vec<Issue> =
        plan.issues.iter().filter(|i| i.code != "driver-unusable").cloned().collect();
    issues.extend(plan.drivers.iter().filter(|d| d.status != "ok").map(unusable_issue));
    issues.extend(verify::verify(&plan, &facts)?);
    let mut report = CheckReport {
        host: plan.host.clone(),
        runtime: Some(plan.runtime.clone()),
        drivers: plan.drivers.clone(),
        issues,
        summaries: Vec::new(),
    };
    report.summarize(&plan.architectures);
    Ok(report)
}
