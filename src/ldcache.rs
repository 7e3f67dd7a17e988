//! Reading `ld.so.cache` in its three layouts: old (`ld.so-1.7.0`), compat (old followed by new)
//! and new (`glibc-ld.so.cache1.1`, default since glibc 2.32), with the glibc-hwcaps extension.
//!
//! Every offset and count comes from the file and is bounds-checked; a malformed cache is an
//! error naming the reason. Lookup follows `_dl_load_cache_lookup`: same-name entries in file
//! order, entries whose flags the ABI rejects skipped, glibc-hwcaps entries ranked by the active
//! subdirectory list, the first plain entry ending the scan. This module does not know where the
//! cache lives in a sysroot (see `loader`).

use crate::memo::FastMap;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const EXTENSION_MAGIC: u32 = 0xEAA4_2174;
const EXTENSION_TAG_GLIBC_HWCAPS: u32 = 1;
/// Bit 62 of `hwcap`: the entry belongs to a glibc-hwcaps subdirectory.
const HWCAP_EXTENSION: u64 = 1 << 62;
/// Bits 32..41 of `hwcap`: the x86 ISA level the library needs.
const HWCAP_ISA_LEVEL_MASK: u64 = 0x3ff << 32;

/// One cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub flags: i32,
    pub key: String,
    pub value: String,
    pub hwcap: u64,
    /// The glibc-hwcaps subdirectory name for extension entries.
    pub hwcaps_subdir: Option<String>,
}

/// A parsed cache.
#[derive(Debug, Clone, Default)]
pub struct LdCache {
    pub format: &'static str,
    pub entries: Vec<CacheEntry>,
    index: FastMap<String, Vec<usize>>,
}

struct Reader<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl Reader<'_> {
    fn u32(&self, at: usize) -> Result<u32, String> {
        let b: [u8; 4] = self
            .data
            .get(at..at.checked_add(4).ok_or("offset overflow")?)
            .ok_or_else(|| format!("truncated at offset {at:#x}"))?
            .try_into()
            .map_err(|_| "truncated")?;
        Ok(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    fn u64(&self, at: usize) -> Result<u64, String> {
        let (lo, hi) = (self.u32(at)? as u64, self.u32(at + 4)? as u64);
        Ok(if self.big_endian { (lo << 32) | hi } else { (hi << 32) | lo })
    }

    fn string(&self, at: usize) -> Result<String, String> {
        let rest = self
            .data
            .get(at..)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| format!("string offset {at:#x} is outside the file"))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| format!("string at {at:#x} is not terminated"))?;
        let bytes = &rest[..end];
        Ok(match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        })
    }
}

impl LdCache {
    /// Parses a whole cache file.
    pub fn parse(data: &[u8]) -> Result<LdCache, String> {
        let mut cache = if data.starts_with(NEW_MAGIC) {
            parse_new(data, 0)?
        } else if data.starts_with(OLD_MAGIC) {
            let le = Reader { data, big_endian: false };
            let nlibs = le.u32(12)? as usize;
            let old_end = nlibs
                .checked_mul(12)
                .and_then(|n| n.checked_add(16))
                .filter(|&e| e <= data.len())
                .ok_or("old-format entry count runs past the end of the file")?;
            let new_at = (old_end + 7) & !7;
            if data.get(new_at..).is_some_and(|d| d.starts_with(NEW_MAGIC)) {
                let mut c = parse_new(data, new_at)?;
                c.format = "compat";
                c
            } else {
                parse_old(data, nlibs, old_end)?
            }
        } else {
            return Err("not an ld.so.cache (unknown magic)".into());
        };
        cache.build_index();
        Ok(cache)
    }

    /// A cache built from entries in lookup order (e.g. an emulated ldconfig scan).
    pub fn from_entries(format: &'static str, entries: Vec<CacheEntry>) -> LdCache {
        let mut cache = LdCache { format, entries, index: FastMap::default() };
        cache.build_index();
        cache
    }

    fn build_index(&mut self) {
        for (i, e) in self.entries.iter().enumerate() {
            self.index.entry(e.key.clone()).or_default().push(i);
        }
    }

    /// The path the loader takes from the cache for `name`, given which flags the ABI accepts
    /// and the active glibc-hwcaps subdirectories (best first).
    pub fn lookup(
        &self,
        name: &str,
        accepts: impl Fn(i32) -> bool,
        hwcaps: &[String],
    ) -> Option<&CacheEntry> {
        let mut best: Option<(usize, &CacheEntry)> = None;
        for &i in self.index.get(name)? {
            let e = &self.entries[i];
            if !accepts(e.flags) {
                continue;
            }
            if let Some(sub) = &e.hwcaps_subdir {
                if let Some(rank) = hwcaps.iter().position(|h| h == sub)
                    && best.is_none_or(|(r, _)| rank < r)
                {
                    best = Some((rank, e));
                }
                continue;
            }
            if e.hwcap != 0 {
                // A legacy hwcaps entry (tls, platform, AT_HWCAP bits): not used by this emulation.
                continue;
            }
            return Some(best.map_or(e, |(_, b)| b));
        }
        best.map(|(_, b)| b)
    }
}

fn parse_old(data: &[u8], nlibs: usize, strings: usize) -> Result<LdCache, String> {
    let r = Reader { data, big_endian: false };
    let mut entries = Vec::with_capacity(nlibs);
    for i in 0..nlibs {
        let at = 16 + i * 12;
        let flags = r.u32(at)? as i32;
        let key = r.u32(at + 4)? as usize;
        let value = r.u32(at + 8)? as usize;
        // The old writer is known to leave garbage keys (loader.md 2.2): skip what does not read.
        let (Ok(key), Ok(value)) = (r.string(strings + key), r.string(strings + value)) else { continue };
        entries.push(CacheEntry { flags, key, value, hwcap: 0, hwcaps_subdir: None });
    }
    Ok(LdCache { format: "old", entries, index: FastMap::default() })
}

fn parse_new(data: &[u8], base: usize) -> Result<LdCache, String> {
    let flags = *data.get(base + 28).ok_or("new-format header is truncated")?;
    let fits = |big_endian| {
        let r = Reader { data, big_endian };
        r.u32(base + 20)
            .ok()
            .and_then(|n| (n as usize).checked_mul(24))
            .is_some_and(|n| base + 48 + n <= data.len())
    };
    let big_endian = match flags & 3 {
        2 => false,
        3 => true,
        1 => return Err("header marks the byte order as invalid".into()),
        // An old writer left the byte order unset: take the one under which the entries fit.
        _ => {
            let native_big = cfg!(target_endian = "big");
            if fits(native_big) { native_big } else { !native_big }
        }
    };
    let r = Reader { data, big_endian };
    let nlibs = r.u32(base + 20)? as usize;
    let entries_end = nlibs
        .checked_mul(24)
        .and_then(|n| n.checked_add(base + 48))
        .filter(|&e| e <= data.len())
        .ok_or("entry count runs past the end of the file")?;
    let _ = entries_end;
    let hwcaps_names = read_hwcaps_extension(&r, base)?;
    let mut entries = Vec::with_capacity(nlibs);
    for i in 0..nlibs {
        let at = base + 48 + i * 24;
        let flags = r.u32(at)? as i32;
        let key = r.string(base + r.u32(at + 4)? as usize)?;
        let value = r.string(base + r.u32(at + 8)? as usize)?;
        let hwcap = r.u64(at + 16)?;
        let hwcaps_subdir = if hwcap & !HWCAP_ISA_LEVEL_MASK & !0xffff_ffff == HWCAP_EXTENSION {
            let idx = (hwcap & 0xffff_ffff) as usize;
            Some(
                hwcaps_names
                    .get(idx)
                    .cloned()
                    .ok_or_else(|| format!("entry {key}: glibc-hwcaps index {idx} out of range"))?,
            )
        } else {
            None
        };
        entries.push(CacheEntry { flags, key, value, hwcap, hwcaps_subdir });
    }
    Ok(LdCache { format: "new", entries, index: FastMap::default() })
}

/// The glibc-hwcaps subdirectory names of the extension directory, if any.
fn read_hwcaps_extension(r: &Reader, base: usize) -> Result<Vec<String>, String> {
    let ext = r.u32(base + 32)? as usize;
    if ext == 0 {
        return Ok(Vec::new());
    }
    if !ext.is_multiple_of(4) || r.u32(ext).ok() != Some(EXTENSION_MAGIC) {
        // The loader ignores a misplaced extension directory.
        return Ok(Vec::new());
    }
    let count = r.u32(ext + 4)? as usize;
    let mut names = Vec::new();
    for i in 0..count.min(r.data.len() / 16) {
        let at = ext + 8 + i * 16;
        let (tag, offset, size) = (r.u32(at)?, r.u32(at + 8)? as usize, r.u32(at + 12)? as usize);
        if tag != EXTENSION_TAG_GLIBC_HWCAPS || offset % 4 != 0 || size % 4 != 0 {
            continue;
        }
        if offset.checked_add(size).is_none_or(|e| e > r.data.len()) {
            return Err("glibc-hwcaps extension section runs past the end of the file".into());
        }
        for j in 0..size / 4 {
            names.push(r.string(base + r.u32(offset + j * 4)? as usize)?);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a little-endian new-format cache: (flags, key, value, hwcap) entries and
    /// glibc-hwcaps names.
    fn build_new(entries: &[(i32, &str, &str, u64)], hwcaps: &[&str]) -> Vec<u8> {
        let mut strings = Vec::new();
        let strings_at = 48 + entries.len() * 24;
        let mut add = |s: &str| {
            let off = strings_at + strings.len();
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            off as u32
        };
        let mut body = Vec::new();
        for (flags, key, value, hwcap) in entries {
            body.extend_from_slice(&flags.to_le_bytes());
            body.extend_from_slice(&add(key).to_le_bytes());
            body.extend_from_slice(&add(value).to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
            body.extend_from_slice(&hwcap.to_le_bytes());
        }
        let hw: Vec<u32> = hwcaps.iter().map(|h| add(h)).collect();
        let mut out = Vec::new();
        out.extend_from_slice(NEW_MAGIC);
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&[2, 0, 0, 0]);
        let ext_at = (strings_at + strings.len() + 3) & !3;
        out.extend_from_slice(&(if hw.is_empty() { 0 } else { ext_at as u32 }).to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&body);
        out.extend_from_slice(&strings);
        if !hw.is_empty() {
            out.resize(ext_at, 0);
            out.extend_from_slice(&EXTENSION_MAGIC.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            let data_at = ext_at + 8 + 16;
            for v in [EXTENSION_TAG_GLIBC_HWCAPS, 0, data_at as u32, (hw.len() * 4) as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for h in hw {
                out.extend_from_slice(&h.to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn new_format_lookup_filters_flags_and_ranks_hwcaps() {
        let data = build_new(
            &[
                (0x0303, "libfoo.so.1", "/v2/libfoo.so.1", HWCAP_EXTENSION),
                (0x0303, "libfoo.so.1", "/v3/libfoo.so.1", HWCAP_EXTENSION | 1),
                (0x0303, "libfoo.so.1", "/lib/libfoo.so.1", 0),
                (0x0003, "libfoo.so.1", "/lib32/libfoo.so.1", 0),
            ],
            &["x86-64-v2", "x86-64-v3"],
        );
        let c = LdCache::parse(&data).unwrap();
        assert_eq!(c.format, "new");
        let x86_64 = |f| f == 0x0303;
        let i386 = |f| f == 1 || f == 3;
        assert_eq!(
            c.lookup("libfoo.so.1", x86_64, &["x86-64-v3".into(), "x86-64-v2".into()]).unwrap().value,
            "/v3/libfoo.so.1"
        );
        assert_eq!(c.lookup("libfoo.so.1", x86_64, &["x86-64-v2".into()]).unwrap().value, "/v2/libfoo.so.1");
        assert_eq!(c.lookup("libfoo.so.1", x86_64, &[]).unwrap().value, "/lib/libfoo.so.1");
        assert_eq!(c.lookup("libfoo.so.1", i386, &["x86-64-v3".into()]).unwrap().value, "/lib32/libfoo.so.1");
        assert!(c.lookup("libbar.so.1", x86_64, &[]).is_none());
    }

    #[test]
    fn hostile_caches_are_errors_not_panics() {
        let good = build_new(&[(0x0303, "libfoo.so.1", "/lib/libfoo.so.1", 0)], &[]);
        for cut in 0..good.len() {
            let _ = LdCache::parse(&good[..cut]);
        }
        let mut huge = good.clone();
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(LdCache::parse(&huge).unwrap_err().contains("past the end"));
        let mut bad_string = good.clone();
        bad_string[52..56].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(LdCache::parse(&bad_string).is_err());
        assert!(LdCache::parse(b"hello").is_err());
    }

    #[test]
    fn old_format_strings_follow_the_entries() {
        let mut data = OLD_MAGIC.to_vec();
        data.push(0);
        data.extend_from_slice(&1u32.to_le_bytes());
        data.extend_from_slice(&3i32.to_le_bytes());
        data.extend_from_slice(&0u32.to_le_bytes());
        data.extend_from_slice(&11u32.to_le_bytes());
        data.extend_from_slice(b"libz.so.1\0\0/lib/libz.so.1\0");
        let c = LdCache::parse(&data).unwrap();
        assert_eq!(c.format, "old");
        assert_eq!(c.lookup("libz.so.1", |f| f == 3, &[]).unwrap().value, "/lib/libz.so.1");
    }
}
