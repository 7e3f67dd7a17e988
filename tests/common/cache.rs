//! A test-side writer for glibc's ld.so.cache (loader.md section 2): old, new and compat layouts,
//! glibc-hwcaps extension entries, the generator section, either byte order, and knobs to produce
//! garbage (truncation, bad offsets).

use serde::Deserialize;
use std::cmp::Ordering;

pub const FLAG_X8664: u32 = 0x0303;
pub const FLAG_I386_LIBC6: u32 = 0x0003;
pub const FLAG_ELF: u32 = 0x0001;
pub const FLAG_AARCH64: u32 = 0x0a03;
pub const HWCAP_EXTENSION: u64 = 1 << 62;
pub const EXT_MAGIC: u32 = 0xEAA4_2174;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheEntry {
    /// The SONAME / file name looked up.
    pub key: String,
    /// Full in-root path.
    pub path: String,
    /// Flags word: a number or a string such as "0x0303". Named shorthands: "x86_64", "i386",
    /// "elf", "aarch64".
    pub flags: serde_json::Value,
    /// glibc-hwcaps subdirectory name for an extension entry ("x86-64-v2", ...).
    #[serde(default)]
    pub hwcaps: Option<String>,
    /// Raw hwcap value for a non-extension entry (legacy bits).
    #[serde(default)]
    pub hwcap: Option<u64>,
}

impl CacheEntry {
    pub fn flags(&self) -> u32 {
        match &self.flags {
            serde_json::Value::Number(n) => n.as_u64().unwrap() as u32,
            serde_json::Value::String(s) => match s.as_str() {
                "x86_64" => FLAG_X8664,
                "i386" | "libc6" => FLAG_I386_LIBC6,
                "elf" => FLAG_ELF,
                "aarch64" => FLAG_AARCH64,
                hex => u32::from_str_radix(hex.trim_start_matches("0x"), 16)
                    .unwrap_or_else(|_| panic!("bad cache flags {hex}")),
            },
            v => panic!("bad cache flags {v}"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// "new" (default), "old" or "compat".
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub entries: Vec<CacheEntry>,
    /// Contents of the generator extension section (tag 0).
    #[serde(default)]
    pub generator: Option<String>,
    /// Write big-endian integers (and flag the header accordingly).
    #[serde(default)]
    pub big_endian: bool,
    /// Leave the new header's endianness flag 0 (as pre-2.32 writers did).
    #[serde(default)]
    pub no_endian_flag: bool,
    /// Keep entries in the given order instead of ldconfig's sort order.
    #[serde(default)]
    pub unsorted: bool,
    /// Truncate the written file to this many bytes.
    #[serde(default)]
    pub truncate: Option<usize>,
    /// Override nlibs in the new header (e.g. huge, to test bounds checks).
    #[serde(default)]
    pub nlibs: Option<u32>,
}

/// glibc's `_dl_cache_libcmp`: digit runs compare numerically and sort above non-digits.
pub fn libcmp(a: &str, b: &str) -> Ordering {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let (mut i, mut j) = (0, 0);
    loop {
        let c1 = a.get(i).copied().unwrap_or(0);
        let c2 = b.get(j).copied().unwrap_or(0);
        if c1 == 0 {
            return c1.cmp(&c2);
        }
        if c1.is_ascii_digit() {
            if c2.is_ascii_digit() {
                let mut v1: u64 = 0;
                while let Some(d) = a.get(i).filter(|d| d.is_ascii_digit()) {
                    v1 = v1 * 10 + u64::from(d - b'0');
                    i += 1;
                }
                let mut v2: u64 = 0;
                while let Some(d) = b.get(j).filter(|d| d.is_ascii_digit()) {
                    v2 = v2 * 10 + u64::from(d - b'0');
                    j += 1;
                }
                if v1 != v2 {
                    return v1.cmp(&v2);
                }
            } else {
                return Ordering::Greater;
            }
        } else if c2.is_ascii_digit() {
            return Ordering::Less;
        } else if c1 != c2 {
            return c1.cmp(&c2);
        } else {
            i += 1;
            j += 1;
        }
    }
}

/// ldconfig's entry order: descending by name, then by flags (descending), extension entries
/// before plain ones, extension entries by subdirectory name.
fn ldconfig_order(e1: &CacheEntry, e2: &CacheEntry) -> Ordering {
    libcmp(&e2.key, &e1.key).then_with(|| e2.flags().cmp(&e1.flags())).then_with(|| {
        match (&e1.hwcaps, &e2.hwcaps) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    })
}

struct W {
    buf: Vec<u8>,
    be: bool,
}
impl W {
    fn u32(&mut self, v: u32) {
        let b = if self.be { v.to_be_bytes() } else { v.to_le_bytes() };
        self.buf.extend_from_slice(&b);
    }
    fn u64(&mut self, v: u64) {
        let b = if self.be { v.to_be_bytes() } else { v.to_le_bytes() };
        self.buf.extend_from_slice(&b);
    }
    fn set_u32(&mut self, at: usize, v: u32) {
        let b = if self.be { v.to_be_bytes() } else { v.to_le_bytes() };
        self.buf[at..at + 4].copy_from_slice(&b);
    }
    fn align(&mut self, a: usize) {
        while !self.buf.len().is_multiple_of(a) {
            self.buf.push(0);
        }
    }
}

pub fn build(spec: &CacheSpec) -> Vec<u8> {
    let format = spec.format.as_deref().unwrap_or("new");
    let mut entries = spec.entries.clone();
    if !spec.unsorted {
        entries.sort_by(ldconfig_order);
    }
    let mut hwcaps_names: Vec<String> = entries.iter().filter_map(|e| e.hwcaps.clone()).collect();
    hwcaps_names.sort();
    hwcaps_names.dedup();

    let mut w = W { buf: Vec::new(), be: spec.big_endian };
    let want_old = format == "old" || format == "compat";
    let want_new = format == "new" || format == "compat";
    assert!(want_old || want_new, "bad cache format {format}");

    // Old part.
    let old_entries: Vec<&CacheEntry> =
        entries.iter().filter(|e| e.hwcaps.is_none() && e.hwcap.is_none()).collect();
    let mut old_count = old_entries.len();
    if format == "compat" && old_count % 2 == 1 {
        old_count += 1; // ldconfig duplicates the last entry to keep 8-byte alignment
    }
    let old_patch_start;
    if want_old {
        w.buf.extend_from_slice(b"ld.so-1.7.0\0");
        w.u32(old_count as u32);
        old_patch_start = w.buf.len();
        for _ in 0..old_count {
            w.u32(0);
            w.u32(0);
            w.u32(0);
        }
    } else {
        old_patch_start = 0;
    }
    let old_strings_base = w.buf.len(); // old offsets count from the end of the old entries
    if want_new {
        w.align(8);
    }
    let new_base = w.buf.len();

    // Strings, laid out after the new entries (or right after the old entries for old-only).
    let new_entries_size = if want_new { 48 + 24 * entries.len() } else { 0 };
    let mut strings: Vec<u8> = Vec::new();
    let mut str_index = std::collections::HashMap::new();
    let mut add = |s: &str, strings: &mut Vec<u8>| -> usize {
        if let Some(&o) = str_index.get(s) {
            return o;
        }
        let o = strings.len();
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        str_index.insert(s.to_string(), o);
        o
    };
    let offs: Vec<(usize, usize)> =
        entries.iter().map(|e| (add(&e.key, &mut strings), add(&e.path, &mut strings))).collect();
    let hw_offs: Vec<usize> = hwcaps_names.iter().map(|n| add(n, &mut strings)).collect();
    // Position of the string table relative to the new header (new/compat) or to the end of the
    // old entries (old).
    let strings_rel_new = new_entries_size;
    let strings_abs = new_base + new_entries_size;

    if want_new {
        w.buf.extend_from_slice(b"glibc-ld.so.cache1.1");
        w.u32(spec.nlibs.unwrap_or(entries.len() as u32));
        w.u32(strings.len() as u32);
        let flag: u8 = if spec.no_endian_flag {
            0
        } else if spec.big_endian {
            3
        } else {
            2
        };
        w.buf.extend_from_slice(&[flag, 0, 0, 0]);
        let ext_patch = w.buf.len();
        w.u32(0);
        w.buf.extend_from_slice(&[0; 12]);
        for (e, (k, v)) in entries.iter().zip(&offs) {
            w.u32(e.flags());
            w.u32((strings_rel_new + k) as u32);
            w.u32((strings_rel_new + v) as u32);
            w.u32(0);
            let hwcap = match &e.hwcaps {
                Some(n) => HWCAP_EXTENSION | hwcaps_names.iter().position(|x| x == n).unwrap() as u64,
                None => e.hwcap.unwrap_or(0),
            };
            w.u64(hwcap);
        }
        assert_eq!(w.buf.len(), strings_abs);
        w.buf.extend_from_slice(&strings);
        // Extension directory.
        let gen_bytes = spec.generator.clone().map(|g| g.into_bytes());
        let nsect = usize::from(gen_bytes.is_some()) + usize::from(!hwcaps_names.is_empty());
        if nsect > 0 {
            w.align(4);
            let ext_off = w.buf.len();
            // A file offset (the sections' offsets are file offsets too).
            w.set_u32(ext_patch, ext_off as u32);
            w.u32(EXT_MAGIC);
            w.u32(nsect as u32);
            let dir_end = w.buf.len() + 16 * nsect;
            let mut data: Vec<u8> = Vec::new();
            let mut sects: Vec<(u32, usize, usize)> = Vec::new();
            if let Some(g) = &gen_bytes {
                sects.push((0, dir_end + data.len(), g.len()));
                data.extend_from_slice(g);
                while !(dir_end + data.len()).is_multiple_of(4) {
                    data.push(0);
                }
            }
            if !hwcaps_names.is_empty() {
                let start = dir_end + data.len();
                let mut tmp = W { buf: Vec::new(), be: spec.big_endian };
                for o in &hw_offs {
                    // Indices into the string table, relative to the new header (loader.md 2.8).
                    tmp.u32((strings_rel_new + o) as u32);
                }
                sects.push((1, start, tmp.buf.len()));
                data.extend_from_slice(&tmp.buf);
            }
            for (tag, off, size) in sects {
                w.u32(tag);
                w.u32(0);
                w.u32(off as u32);
                w.u32(size as u32);
            }
            w.buf.extend_from_slice(&data);
        }
    } else {
        w.buf.extend_from_slice(&strings);
    }

    if want_old {
        // Old offsets are relative to the end of the old entry array.
        let delta = strings_abs - old_strings_base;
        let mut patched = Vec::new();
        for i in 0..old_count {
            let e = old_entries[i.min(old_entries.len() - 1)];
            let idx = entries.iter().position(|x| std::ptr::eq(x, e)).expect("entry");
            let (k, v) = offs[idx];
            patched.push((e.flags(), (delta + k) as u32, (delta + v) as u32));
        }
        for (i, (f, k, v)) in patched.into_iter().enumerate() {
            let at = old_patch_start + 12 * i;
            w.set_u32(at, f);
            w.set_u32(at + 4, k);
            w.set_u32(at + 8, v);
        }
    }

    if let Some(t) = spec.truncate {
        w.buf.truncate(t);
    }
    w.buf
}
