//! A small ELF writer for synthetic shared objects and executables.
//!
//! It writes just what a dynamic loader (and `ldconfig`) looks at: the ELF header, program headers
//! (PT_INTERP, one PT_LOAD covering the whole file, PT_DYNAMIC), `.dynstr`, a one-entry `.dynsym`,
//! `.gnu.version_d`, `.gnu.version_r`, `.dynamic` and section headers naming all of them. The same
//! data is reachable both through the dynamic tags (virtual addresses, translated through PT_LOAD)
//! and through the section headers. Knobs exist to break each piece for negative tests.

use serde::Deserialize;

pub const EM_386: u16 = 3;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const DF_1_NODEFLIB: u64 = 0x800;

/// A version definition: either just a name or a name with flags and parents.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum VerdefSpec {
    Name(String),
    Full {
        name: String,
        #[serde(default)]
        flags: u16,
        #[serde(default)]
        parents: Vec<String>,
    },
}

impl VerdefSpec {
    pub fn name(&self) -> &str {
        match self {
            VerdefSpec::Name(n) => n,
            VerdefSpec::Full { name, .. } => name,
        }
    }
    pub fn flags(&self) -> u16 {
        match self {
            VerdefSpec::Name(_) => 0,
            VerdefSpec::Full { flags, .. } => *flags,
        }
    }
    pub fn parents(&self) -> &[String] {
        match self {
            VerdefSpec::Name(_) => &[],
            VerdefSpec::Full { parents, .. } => parents,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum VernauxSpec {
    Name(String),
    Full {
        name: String,
        #[serde(default)]
        weak: bool,
    },
}

impl VernauxSpec {
    pub fn name(&self) -> &str {
        match self {
            VernauxSpec::Name(n) => n,
            VernauxSpec::Full { name, .. } => name,
        }
    }
    pub fn weak(&self) -> bool {
        match self {
            VernauxSpec::Name(_) => false,
            VernauxSpec::Full { weak, .. } => *weak,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct VerneedSpec {
    pub file: String,
    pub versions: Vec<VernauxSpec>,
}

/// Declarative description of one synthetic ELF file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElfSpec {
    /// "x86_64", "i386" or "aarch64": sets class, byte order and machine.
    #[serde(default)]
    pub arch: Option<String>,
    /// Raw overrides (negative cases): 32 or 64, "little"/"big", e_machine number.
    #[serde(default)]
    pub class: Option<u8>,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub machine: Option<u16>,
    /// "dyn" (default) or "exec", or a raw e_type number.
    #[serde(default, rename = "type")]
    pub etype: Option<serde_json::Value>,
    #[serde(default)]
    pub interp: Option<String>,
    #[serde(default)]
    pub soname: Option<String>,
    #[serde(default)]
    pub needed: Vec<String>,
    #[serde(default)]
    pub rpath: Option<String>,
    #[serde(default)]
    pub runpath: Option<String>,
    #[serde(default)]
    pub flags_1: Option<u64>,
    /// Shorthand for `flags_1 |= DF_1_NODEFLIB`.
    #[serde(default)]
    pub nodeflib: bool,
    /// Version definitions after the BASE one (the BASE entry, named by the SONAME or the file
    /// name, is added automatically when this list is non-empty).
    #[serde(default)]
    pub verdefs: Vec<VerdefSpec>,
    /// Shorthand for a libc: "2.36" defines GLIBC_<base> .. GLIBC_2.36 plus GLIBC_PRIVATE, where
    /// base is 2.2.5 on x86_64, 2.0 on i386, 2.17 on aarch64.
    #[serde(default)]
    pub glibc: Option<String>,
    #[serde(default)]
    pub verneeds: Vec<VerneedSpec>,
    // ---- negative-case knobs ----
    #[serde(default)]
    pub osabi: Option<u8>,
    #[serde(default)]
    pub ei_version: Option<u8>,
    #[serde(default)]
    pub phnum: Option<u16>,
    #[serde(default)]
    pub shnum: Option<u16>,
    #[serde(default)]
    pub phoff: Option<u64>,
    #[serde(default)]
    pub shoff: Option<u64>,
    /// Override the file offset of PT_DYNAMIC (and its p_filesz when `dynamic_size` is set).
    #[serde(default)]
    pub dynamic_offset: Option<u64>,
    #[serde(default)]
    pub dynamic_size: Option<u64>,
    /// Override the value of DT_STRTAB (a virtual address).
    #[serde(default)]
    pub strtab_addr: Option<u64>,
    /// Override the value of DT_STRSZ.
    #[serde(default)]
    pub strsz: Option<u64>,
    /// Make the DT_NEEDED string offsets point here instead (relative to .dynstr).
    #[serde(default)]
    pub needed_offset: Option<u64>,
    /// Omit section headers (e_shoff = 0, e_shnum = 0).
    #[serde(default)]
    pub no_sections: bool,
    /// Truncate the written file to this many bytes.
    #[serde(default)]
    pub truncate: Option<usize>,
    /// Bytes appended after the ELF image (for size tests); zeros.
    #[serde(default)]
    pub pad: Option<usize>,
}

struct Out {
    buf: Vec<u8>,
    le: bool,
    is64: bool,
}

impl Out {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        if self.le {
            self.buf.extend_from_slice(&v.to_le_bytes())
        } else {
            self.buf.extend_from_slice(&v.to_be_bytes())
        }
    }
    fn u32(&mut self, v: u32) {
        if self.le {
            self.buf.extend_from_slice(&v.to_le_bytes())
        } else {
            self.buf.extend_from_slice(&v.to_be_bytes())
        }
    }
    fn u64(&mut self, v: u64) {
        if self.le {
            self.buf.extend_from_slice(&v.to_le_bytes())
        } else {
            self.buf.extend_from_slice(&v.to_be_bytes())
        }
    }
    /// Address/offset-sized word.
    fn word(&mut self, v: u64) {
        if self.is64 { self.u64(v) } else { self.u32(v as u32) }
    }
    fn align(&mut self, a: usize) {
        while !self.buf.len().is_multiple_of(a) {
            self.buf.push(0);
        }
    }
    fn pos(&self) -> u64 {
        self.buf.len() as u64
    }
}

#[derive(Default)]
struct StrTab {
    data: Vec<u8>,
}

impl StrTab {
    fn new() -> Self {
        StrTab { data: vec![0] }
    }
    fn add(&mut self, s: &str) -> u32 {
        // Reuse an identical string (must be followed by NUL at a string start).
        let needle: Vec<u8> = s.bytes().chain(std::iter::once(0)).collect();
        if let Some(p) = self.data.windows(needle.len()).position(|w| w == needle.as_slice())
            && (p == 0 || self.data[p - 1] == 0)
        {
            return p as u32;
        }
        let off = self.data.len() as u32;
        self.data.extend_from_slice(&needle);
        off
    }
}

/// SysV ELF hash, as used by vd_hash / vna_hash.
pub fn elf_hash(name: &str) -> u32 {
    let mut h: u32 = 0;
    for &c in name.as_bytes() {
        h = (h << 4).wrapping_add(c as u32);
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// GLIBC version node names for a libc of the given release on the given arch.
pub fn glibc_versions(arch: &str, release: &str) -> Vec<String> {
    let minor: u32 = release
        .strip_prefix("2.")
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("glibc release must look like 2.N, got {release}"));
    let mut v = Vec::new();
    let start = match arch {
        "x86_64" => {
            v.push("GLIBC_2.2.5".to_string());
            3
        }
        "aarch64" => 17,
        _ => 0,
    };
    for m in start..=minor {
        v.push(format!("GLIBC_2.{m}"));
    }
    v.push("GLIBC_PRIVATE".to_string());
    v
}

/// (vn_file offset, [(vna_hash, vna_name offset, vna_flags, vna_other)]).
type NeedRec = (u32, Vec<(u32, u32, u16, u16)>);

struct Sec {
    name: u32,
    typ: u32,
    flags: u64,
    off: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

/// Build the bytes of the ELF described by `spec`. `fallback_name` names the BASE verdef when the
/// spec has no SONAME.
pub fn build(spec: &ElfSpec, fallback_name: &str) -> Vec<u8> {
    let arch = spec.arch.as_deref().unwrap_or("x86_64");
    let (mut is64, mut le, mut machine) = match arch {
        "x86_64" => (true, true, EM_X86_64),
        "i386" => (false, true, EM_386),
        "aarch64" => (true, true, EM_AARCH64),
        other => panic!("unknown arch {other}"),
    };
    if let Some(c) = spec.class {
        is64 = c == 64;
    }
    if let Some(d) = &spec.data {
        le = d == "little";
    }
    if let Some(m) = spec.machine {
        machine = m;
    }
    let etype: u16 = match &spec.etype {
        None => 3,
        Some(serde_json::Value::String(s)) if s == "dyn" => 3,
        Some(serde_json::Value::String(s)) if s == "exec" => 2,
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap() as u16,
        Some(v) => panic!("bad ELF type {v}"),
    };
    let base: u64 = if etype == 2 { if is64 { 0x40_0000 } else { 0x804_8000 } } else { 0 };

    // ---- strings ----
    let mut dynstr = StrTab::new();
    let needed_offs: Vec<u32> = spec.needed.iter().map(|n| dynstr.add(n)).collect();
    let soname_off = spec.soname.as_ref().map(|s| dynstr.add(s));
    let rpath_off = spec.rpath.as_ref().map(|s| dynstr.add(s));
    let runpath_off = spec.runpath.as_ref().map(|s| dynstr.add(s));

    let mut verdefs: Vec<VerdefSpec> = spec.verdefs.clone();
    if let Some(rel) = &spec.glibc {
        for v in glibc_versions(arch, rel) {
            verdefs.push(VerdefSpec::Name(v));
        }
    }
    // (index, flags, names...)
    let mut defs: Vec<(u16, u16, Vec<u32>)> = Vec::new();
    if !verdefs.is_empty() {
        let base_name = spec.soname.clone().unwrap_or_else(|| fallback_name.to_string());
        defs.push((1, 1, vec![dynstr.add(&base_name)]));
        for (i, d) in verdefs.iter().enumerate() {
            let mut names = vec![dynstr.add(d.name())];
            for p in d.parents() {
                names.push(dynstr.add(p));
            }
            defs.push(((i + 2) as u16, d.flags(), names));
        }
    }
    let mut next_index = (defs.len() as u16 + 1).max(2);
    let mut needs: Vec<NeedRec> = Vec::new();
    for n in &spec.verneeds {
        let file = dynstr.add(&n.file);
        let mut auxes = Vec::new();
        for v in &n.versions {
            let name = dynstr.add(v.name());
            auxes.push((elf_hash(v.name()), name, if v.weak() { 2 } else { 0 }, next_index));
            next_index += 1;
        }
        needs.push((file, auxes));
    }

    let mut shstr = StrTab::new();

    let ehsize: u64 = if is64 { 64 } else { 52 };
    let phentsize: u64 = if is64 { 56 } else { 32 };
    let nph: u64 = if spec.interp.is_some() { 3 } else { 2 };

    let mut o = Out { buf: vec![0; (ehsize + phentsize * nph) as usize], le, is64 };

    // .interp
    let interp_off = o.pos();
    if let Some(i) = &spec.interp {
        o.buf.extend_from_slice(i.as_bytes());
        o.u8(0);
    }
    let interp_size = o.pos() - interp_off;

    // .dynsym: one null symbol
    o.align(8);
    let dynsym_off = o.pos();
    let symsize: u64 = if is64 { 24 } else { 16 };
    o.buf.extend(std::iter::repeat_n(0u8, symsize as usize));

    // .dynstr
    let dynstr_off = o.pos();
    o.buf.extend_from_slice(&dynstr.data);
    let dynstr_size = dynstr.data.len() as u64;

    // .gnu.version_d
    o.align(4);
    let verdef_off = o.pos();
    for (i, (ndx, flags, names)) in defs.iter().enumerate() {
        let last = i + 1 == defs.len();
        o.u16(1);
        o.u16(*flags);
        o.u16(*ndx);
        o.u16(names.len() as u16);
        let name0 = cstr_at(&dynstr.data, names[0]);
        o.u32(elf_hash(&name0));
        o.u32(20);
        o.u32(if last { 0 } else { 20 + 8 * names.len() as u32 });
        for (j, n) in names.iter().enumerate() {
            o.u32(*n);
            o.u32(if j + 1 == names.len() { 0 } else { 8 });
        }
    }
    let verdef_size = o.pos() - verdef_off;

    // .gnu.version_r
    o.align(4);
    let verneed_off = o.pos();
    for (i, (file, auxes)) in needs.iter().enumerate() {
        let last = i + 1 == needs.len();
        o.u16(1);
        o.u16(auxes.len() as u16);
        o.u32(*file);
        o.u32(16);
        o.u32(if last { 0 } else { 16 + 16 * auxes.len() as u32 });
        for (j, (hash, name, flags, other)) in auxes.iter().enumerate() {
            o.u32(*hash);
            o.u16(*flags);
            o.u16(*other);
            o.u32(*name);
            o.u32(if j + 1 == auxes.len() { 0 } else { 16 });
        }
    }
    let verneed_size = o.pos() - verneed_off;

    // .dynamic
    o.align(8);
    let dynamic_off = o.pos();
    let mut dyns: Vec<(u64, u64)> = Vec::new();
    for off in &needed_offs {
        dyns.push((1, spec.needed_offset.unwrap_or(*off as u64)));
    }
    if let Some(s) = soname_off {
        dyns.push((14, s as u64));
    }
    if let Some(s) = rpath_off {
        dyns.push((15, s as u64));
    }
    if let Some(s) = runpath_off {
        dyns.push((29, s as u64));
    }
    dyns.push((5, spec.strtab_addr.unwrap_or(base + dynstr_off)));
    dyns.push((10, spec.strsz.unwrap_or(dynstr_size)));
    dyns.push((6, base + dynsym_off));
    dyns.push((11, symsize));
    let mut flags_1 = spec.flags_1.unwrap_or(0);
    if spec.nodeflib {
        flags_1 |= DF_1_NODEFLIB;
    }
    if flags_1 != 0 {
        dyns.push((0x6fff_fffb, flags_1));
    }
    if !defs.is_empty() {
        dyns.push((0x6fff_fffc, base + verdef_off));
        dyns.push((0x6fff_fffd, defs.len() as u64));
    }
    if !needs.is_empty() {
        dyns.push((0x6fff_fffe, base + verneed_off));
        dyns.push((0x6fff_ffff, needs.len() as u64));
    }
    dyns.push((0, 0));
    for (t, v) in &dyns {
        o.word(*t);
        o.word(*v);
    }
    let dynamic_size = o.pos() - dynamic_off;

    // .shstrtab and section headers
    let mut secs: Vec<Sec> =
        vec![Sec { name: 0, typ: 0, flags: 0, off: 0, size: 0, link: 0, info: 0, align: 0, entsize: 0 }];
    let alloc = 2u64;
    if spec.interp.is_some() {
        secs.push(Sec {
            name: shstr.add(".interp"),
            typ: 1,
            flags: alloc,
            off: interp_off,
            size: interp_size,
            link: 0,
            info: 0,
            align: 1,
            entsize: 0,
        });
    }
    let dynstr_index = secs.len() as u32 + 1;
    secs.push(Sec {
        name: shstr.add(".dynsym"),
        typ: 11,
        flags: alloc,
        off: dynsym_off,
        size: symsize,
        link: dynstr_index,
        info: 1,
        align: 8,
        entsize: symsize,
    });
    secs.push(Sec {
        name: shstr.add(".dynstr"),
        typ: 3,
        flags: alloc,
        off: dynstr_off,
        size: dynstr_size,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    if !defs.is_empty() {
        secs.push(Sec {
            name: shstr.add(".gnu.version_d"),
            typ: 0x6fff_fffd,
            flags: alloc,
            off: verdef_off,
            size: verdef_size,
            link: dynstr_index,
            info: defs.len() as u32,
            align: 4,
            entsize: 0,
        });
    }
    if !needs.is_empty() {
        secs.push(Sec {
            name: shstr.add(".gnu.version_r"),
            typ: 0x6fff_fffe,
            flags: alloc,
            off: verneed_off,
            size: verneed_size,
            link: dynstr_index,
            info: needs.len() as u32,
            align: 4,
            entsize: 0,
        });
    }
    secs.push(Sec {
        name: shstr.add(".dynamic"),
        typ: 6,
        flags: alloc | 1,
        off: dynamic_off,
        size: dynamic_size,
        link: dynstr_index,
        info: 0,
        align: 8,
        entsize: if is64 { 16 } else { 8 },
    });
    let shstrndx = secs.len() as u16;
    let shstr_name = shstr.add(".shstrtab");
    let shstr_off = o.pos();
    o.buf.extend_from_slice(&shstr.data);
    secs.push(Sec {
        name: shstr_name,
        typ: 3,
        flags: 0,
        off: shstr_off,
        size: shstr.data.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    o.align(8);
    let shoff = o.pos();
    if !spec.no_sections {
        for s in &secs {
            o.u32(s.name);
            o.u32(s.typ);
            o.word(s.flags);
            o.word(base + s.off * u64::from(s.flags & alloc != 0));
            o.word(s.off);
            o.word(s.size);
            o.u32(s.link);
            o.u32(s.info);
            o.word(s.align);
            o.word(s.entsize);
        }
    }
    let file_size = o.pos();

    // ---- header and program headers, written at the start ----
    let mut h = Out { buf: Vec::new(), le, is64 };
    h.buf.extend_from_slice(b"\x7fELF");
    h.u8(if is64 { 2 } else { 1 });
    h.u8(if le { 1 } else { 2 });
    h.u8(spec.ei_version.unwrap_or(1));
    h.u8(spec.osabi.unwrap_or(0));
    h.buf.extend_from_slice(&[0; 8]);
    h.u16(etype);
    h.u16(machine);
    h.u32(1);
    h.word(if etype == 2 { base + 0x1000 } else { 0 }); // e_entry
    h.word(spec.phoff.unwrap_or(ehsize));
    h.word(if spec.no_sections { 0 } else { spec.shoff.unwrap_or(shoff) });
    h.u32(0); // e_flags
    h.u16(ehsize as u16);
    h.u16(phentsize as u16);
    h.u16(spec.phnum.unwrap_or(nph as u16));
    h.u16(if is64 { 64 } else { 40 });
    h.u16(if spec.no_sections { 0 } else { spec.shnum.unwrap_or(secs.len() as u16) });
    h.u16(if spec.no_sections { 0 } else { shstrndx });
    assert_eq!(h.buf.len() as u64, ehsize);

    let phdr = |h: &mut Out, typ: u32, flags: u32, off: u64, size: u64, align: u64| {
        if is64 {
            h.u32(typ);
            h.u32(flags);
            h.u64(off);
            h.u64(base + off);
            h.u64(base + off);
            h.u64(size);
            h.u64(size);
            h.u64(align);
        } else {
            h.u32(typ);
            h.u32(off as u32);
            h.u32((base + off) as u32);
            h.u32((base + off) as u32);
            h.u32(size as u32);
            h.u32(size as u32);
            h.u32(flags);
            h.u32(align as u32);
        }
    };
    if spec.interp.is_some() {
        phdr(&mut h, 3, 4, interp_off, interp_size, 1);
    }
    phdr(&mut h, 1, 6, 0, file_size, 0x1000);
    phdr(
        &mut h,
        2,
        6,
        spec.dynamic_offset.unwrap_or(dynamic_off),
        spec.dynamic_size.unwrap_or(dynamic_size),
        8,
    );
    let hl = h.buf.len();
    o.buf[..hl].copy_from_slice(&h.buf);

    if let Some(p) = spec.pad {
        o.buf.extend(std::iter::repeat_n(0u8, p));
    }
    if let Some(t) = spec.truncate {
        o.buf.truncate(t);
    }
    o.buf
}

fn cstr_at(data: &[u8], off: u32) -> String {
    let s = &data[off as usize..];
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}
