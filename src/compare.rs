//! Which of two same-SONAME libraries is newer, and why.
//!
//! The chain, first decisive rule wins:
//! 1. glibc: `libc.so.6` is compared by its public `GLIBC_2.x` version definitions (the newest
//!    release wins); the rest of the glibc family follows libc's side (see [`is_glibc_family`]).
//! 2. version definitions: the copy whose set is a strict superset of the other's is newer.
//! 3. file names: when both real file names carry a version after `.so.`, the higher one.
//! 4. otherwise a tie, and the host's copy is taken.
//!
//! Every answer carries its rule and a one-line reason. This module reads no files: it compares
//! [`ElfFacts`] and file names it is given.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::Serialize;

use crate::elf::ElfFacts;

/// Which tree a copy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Host,
    Runtime,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Host => Side::Runtime,
            Side::Runtime => Side::Host,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Host => "host",
            Side::Runtime => "runtime",
        }
    }
}

/// The rule that decided. [`compare`] answers with the first four; a plan adds the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Glibc,
    VersionDefinitions,
    FileName,
    Tie,
    /// A vendor driver library: always the host's.
    Driver,
    /// Only one side has it.
    Absent,
    /// Switched because an object in the container needs a version only the other copy defines.
    Satisfaction,
}

/// One comparison's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub chosen: Side,
    pub rule: Rule,
    pub reason: String,
}

/// One copy of a library: its facts and its real file name (symlinks resolved).
pub struct Copy<'a> {
    pub facts: &'a ElfFacts,
    pub file_name: &'a str,
}

/// Whether a SONAME belongs to glibc, which must come from one side as a whole.
pub fn is_glibc_family(soname: &str) -> bool {
    const FAMILY: &[&str] = &[
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libresolv.so.2",
        "libutil.so.1",
        "libanl.so.1",
        "libmvec.so.1",
        "libnsl.so.1",
        "libBrokenLocale.so.1",
        "libthread_db.so.1",
        "libmemusage.so",
        "libpcprofile.so",
        "libc_malloc_debug.so.0",
    ];
    // libcrypt.so.1 is libxcrypt on every current distribution, with its own XCRYPT_* versions:
    // it is compared on its own.
    FAMILY.contains(&soname)
        || soname.starts_with("libnss_") && soname.ends_with(".so.2")
        || soname.starts_with("ld-linux")
        || soname.starts_with("ld64.so.")
}

/// A `GLIBC_2.x[.y]` name as numbers; `None` for GLIBC_PRIVATE, GLIBC_ABI_* and other names.
fn glibc_version(name: &str) -> Option<Vec<u32>> {
    version_numbers(name.strip_prefix("GLIBC_")?)
}

fn version_numbers(s: &str) -> Option<Vec<u32>> {
    s.split('.').map(|p| p.parse().ok()).collect()
}

/// The newest public `GLIBC_2.x` a libc defines.
pub fn glibc_release(facts: &ElfFacts) -> Option<Vec<u32>> {
    facts.defined_versions().filter_map(glibc_version).max()
}

fn show(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// Compares the two copies of one SONAME.
pub fn compare(soname: &str, host: &Copy, runtime: &Copy) -> Verdict {
    if soname == "libc.so.6"
        && let (Some(h), Some(r)) = (glibc_release(host.facts), glibc_release(runtime.facts))
    {
        let (chosen, reason) = match h.cmp(&r) {
            Ordering::Less => (
                Side::Runtime,
                format!("runtime glibc GLIBC_{} is newer than host GLIBC_{}", show(&r), show(&h)),
            ),
            Ordering::Greater => (
                Side::Host,
                format!("host glibc GLIBC_{} is newer than runtime GLIBC_{}", show(&h), show(&r)),
            ),
            Ordering::Equal => {
                (Side::Host, format!("same glibc GLIBC_{} on both sides; host preferred", show(&h)))
            }
        };
        return Verdict { chosen, rule: Rule::Glibc, reason };
    }
    let hv: BTreeSet<&str> = host.facts.defined_versions().collect();
    let rv: BTreeSet<&str> = runtime.facts.defined_versions().collect();
    let host_extra: Vec<&str> = hv.difference(&rv).copied().collect();
    let runtime_extra: Vec<&str> = rv.difference(&hv).copied().collect();
    match (host_extra.is_empty(), runtime_extra.is_empty()) {
        (false, true) => {
            return Verdict {
                chosen: Side::Host,
                rule: Rule::VersionDefinitions,
                reason: format!("host defines {} that the runtime lacks", summarize_versions(&host_extra)),
            };
        }
        (true, false) => {
            return Verdict {
                chosen: Side::Runtime,
                rule: Rule::VersionDefinitions,
                reason: format!("runtime defines {} that the host lacks", summarize_versions(&runtime_extra)),
            };
        }
        _ => {}
    }
    let neither = if !host_extra.is_empty() && !runtime_extra.is_empty() {
        format!(
            " (neither version set contains the other: host adds {}, runtime adds {})",
            summarize_versions(&host_extra),
            summarize_versions(&runtime_extra)
        )
    } else {
        String::new()
    };
    if let (Some(h), Some(r)) = (name_version(host.file_name), name_version(runtime.file_name)) {
        match h.cmp(&r) {
            Ordering::Greater => {
                return Verdict {
                    chosen: Side::Host,
                    rule: Rule::FileName,
                    reason: format!(
                        "host {} is newer than runtime {}{neither}",
                        host.file_name, runtime.file_name
                    ),
                };
            }
            Ordering::Less => {
                return Verdict {
                    chosen: Side::Runtime,
                    rule: Rule::FileName,
                    reason: format!(
                        "runtime {} is newer than host {}{neither}",
                        runtime.file_name, host.file_name
                    ),
                };
            }
            Ordering::Equal => {}
        }
    }
    Verdict {
        chosen: Side::Host,
        rule: Rule::Tie,
        reason: format!(
            "tie: no rule tells {} and {} apart{neither}; host preferred",
            host.file_name, runtime.file_name
        ),
    }
}

/// The version numbers a real file name carries after `.so.` (`libstdc++.so.6.0.33` → 6.0.33,
/// `libLLVM.so.19.1` → 19.1); for `libfoo-1.2.so` the numbers before `.so`.
fn name_version(file_name: &str) -> Option<Vec<u32>> {
    if let Some(i) = file_name.find(".so.") {
        return version_numbers(&file_name[i + 4..]);
    }
    let stem = file_name.strip_suffix(".so")?;
    let dash = stem.rfind('-')?;
    version_numbers(&stem[dash + 1..])
}

/// The newest version an object defines for each prefix (`GLIBC_2.41`, `GLIBCXX_3.4.33`), by
/// prefix name; names without a numeric version (`GLIBC_PRIVATE`), or with more than eight
/// numbers, are left out.
pub fn newest_per_prefix(facts: &ElfFacts) -> Vec<String> {
    // (prefix, numbers, whole name); a plan asks this of every library it lists, on both sides,
    // so the numbers go into a small array rather than a list on the heap.
    let mut best: Vec<(&str, Numbers, &str)> = Vec::new();
    for name in facts.defined_versions() {
        let Some(i) = name.rfind('_') else { continue };
        let (prefix, Some(numbers)) = (&name[..i], Numbers::parse(&name[i + 1..])) else { continue };
        match best.iter_mut().find(|(p, _, _)| *p == prefix) {
            None => best.push((prefix, numbers, name)),
            Some(slot) if numbers.get() > slot.1.get() => *slot = (prefix, numbers, name),
            Some(_) => {}
        }
    }
    best.sort_unstable_by_key(|&(prefix, _, _)| prefix);
    best.into_iter().map(|(_, _, name)| name.to_string()).collect()
}

/// Up to eight dotted numbers (`3.4.33`) without a heap list; compared as [`version_numbers`]
/// lists are, through [`Numbers::get`].
#[derive(Clone, Copy)]
struct Numbers([u32; 8], usize);

impl Numbers {
    fn parse(s: &str) -> Option<Numbers> {
        let mut numbers = Numbers([0; 8], 0);
        for part in s.split('.') {
            *numbers.0.get_mut(numbers.1)? = part.parse().ok()?;
            numbers.1 += 1;
        }
        Some(numbers)
    }

    fn get(&self) -> &[u32] {
        &self.0[..self.1]
    }
}

/// `GLIBCXX_3.4.29..3.4.33, CXXABI_1.3.13`: per prefix the lowest and highest of a set of version
/// names.
pub fn summarize_versions(names: &[&str]) -> String {
    /// A version prefix and its (numeric key, text) members.
    type Group = (String, Vec<(Vec<u32>, String)>);
    let mut groups: Vec<Group> = Vec::new();
    for name in names {
        let (prefix, rest) = match name.rfind('_') {
            Some(i) => (&name[..=i], &name[i + 1..]),
            None => ("", *name),
        };
        let key = version_numbers(rest).unwrap_or_default();
        match groups.iter_mut().find(|(p, _)| p == prefix) {
            Some((_, v)) => v.push((key, rest.to_string())),
            None => groups.push((prefix.to_string(), vec![(key, rest.to_string())])),
        }
    }
    groups
        .into_iter()
        .map(|(prefix, mut v)| {
            v.sort();
            let (lo, hi) = (&v[0].1, &v[v.len() - 1].1);
            if lo == hi { format!("{prefix}{lo}") } else { format!("{prefix}{lo}..{hi}") }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::VersionDef;

    fn facts(versions: &[&str]) -> ElfFacts {
        ElfFacts {
            version_definitions: versions
                .iter()
                .enumerate()
                .map(|(i, n)| VersionDef {
                    index: i as u16 + 2,
                    name: n.to_string(),
                    hash: crate::elf::elf_hash(n.as_bytes()),
                    flags: 0,
                    base: false,
                    weak: false,
                    parents: vec![],
                })
                .collect(),
            ..ElfFacts::default()
        }
    }

    #[test]
    fn glibc_by_release_not_by_set() {
        let host = facts(&["GLIBC_2.2.5", "GLIBC_2.41", "GLIBC_PRIVATE", "GLIBC_ABI_DT_RELR"]);
        let runtime = facts(&["GLIBC_2.2.5", "GLIBC_2.31", "GLIBC_2.9", "GLIBC_PRIVATE"]);
        let v = compare(
            "libc.so.6",
            &Copy { facts: &host, file_name: "libc.so.6" },
            &Copy { facts: &runtime, file_name: "libc-2.31.so" },
        );
        assert_eq!((v.chosen, v.rule), (Side::Host, Rule::Glibc));
        assert!(v.reason.contains("GLIBC_2.41") && v.reason.contains("GLIBC_2.31"), "{}", v.reason);
    }

    #[test]
    fn superset_then_file_name_then_tie() {
        let old = facts(&["GLIBCXX_3.4", "GLIBCXX_3.4.28", "CXXABI_1.3"]);
        let new = facts(&[
            "GLIBCXX_3.4",
            "GLIBCXX_3.4.28",
            "GLIBCXX_3.4.29",
            "GLIBCXX_3.4.33",
            "CXXABI_1.3",
            "CXXABI_1.3.15",
        ]);
        let v = compare(
            "libstdc++.so.6",
            &Copy { facts: &new, file_name: "libstdc++.so.6.0.33" },
            &Copy { facts: &old, file_name: "libstdc++.so.6.0.28" },
        );
        assert_eq!((v.chosen, v.rule), (Side::Host, Rule::VersionDefinitions));
        assert_eq!(v.reason, "host defines CXXABI_1.3.15, GLIBCXX_3.4.29..3.4.33 that the runtime lacks");
        let v = compare(
            "libstdc++.so.6",
            &Copy { facts: &old, file_name: "libstdc++.so.6.0.28" },
            &Copy { facts: &new, file_name: "libstdc++.so.6.0.33" },
        );
        assert_eq!(v.chosen, Side::Runtime);

        let none = facts(&[]);
        let v = compare(
            "libz.so.1",
            &Copy { facts: &none, file_name: "libz.so.1.2.11" },
            &Copy { facts: &none, file_name: "libz.so.1.3.1" },
        );
        assert_eq!((v.chosen, v.rule), (Side::Runtime, Rule::FileName));
        let v = compare(
            "libfoo.so.1",
            &Copy { facts: &none, file_name: "libfoo.so.1" },
            &Copy { facts: &none, file_name: "libfoo.so.1" },
        );
        assert_eq!((v.chosen, v.rule), (Side::Host, Rule::Tie));
    }

    #[test]
    fn neither_superset_falls_to_file_name_and_says_so() {
        let a = facts(&["V_1", "V_2"]);
        let b = facts(&["V_1", "V_3"]);
        let v = compare(
            "libx.so.1",
            &Copy { facts: &a, file_name: "libx.so.1.2" },
            &Copy { facts: &b, file_name: "libx.so.1.10" },
        );
        assert_eq!((v.chosen, v.rule), (Side::Runtime, Rule::FileName));
        assert!(v.reason.contains("neither version set"), "{}", v.reason);
    }

    #[test]
    fn newest_version_of_each_prefix_by_number() {
        let f = facts(&[
            "GLIBC_2.2.5",
            "GLIBC_2.34",
            "GLIBC_2.4",
            "GLIBC_PRIVATE",
            "GLIBCXX_3.4.9",
            "GLIBCXX_3.4.33",
            "GLIBCXX_3.4",
            "CXXABI_1.3",
            "CXXABI_1.3.0",
            "V_1.2.3.4.5.6.7.8.9",
        ]);
        assert_eq!(newest_per_prefix(&f), ["CXXABI_1.3.0", "GLIBC_2.34", "GLIBCXX_3.4.33"]);
    }

    #[test]
    fn family_and_names() {
        assert!(is_glibc_family("libpthread.so.0") && is_glibc_family("libnss_files.so.2"));
        assert!(is_glibc_family("ld-linux-x86-64.so.2") && is_glibc_family("ld-linux.so.2"));
        assert!(!is_glibc_family("libstdc++.so.6") && !is_glibc_family("libcrypt.so.1"));
        assert_eq!(name_version("libLLVM.so.19.1"), Some(vec![19, 1]));
        assert_eq!(name_version("libLLVM-19.so"), Some(vec![19]));
        assert_eq!(name_version("libfoo.so"), None);
    }
}
