//! The ELF facts of one file: class, byte order, machine, type, PT_INTERP, and from the dynamic
//! segment SONAME, DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_FLAGS_1, the version definitions and the
//! version needs.
//!
//! Reading follows the loader: only the ELF header, the program headers, PT_DYNAMIC, the dynamic
//! strings and the DT_VERDEF/DT_VERNEED records are touched, each located through the PT_LOAD
//! segments (the section headers, which the loader never reads, are not needed and may be missing).
//! Parsing uses the object crate's low-level `read::elf` record types; a file is read with `pread`
//! a few aligned blocks at a time ([`Reader`]), never mapped. Every offset, size and count comes
//! from the file and is bounds-checked. This module does not search for files and does not
//! decide whether a loader would accept one: see `loader`.

use std::fs::File;
use std::path::Path;

use object::Endianness;
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use serde::Serialize;

use crate::abi::Abi;

/// Why a file could not be read as ELF. The text is one line, without the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfError(pub String);

impl std::fmt::Display for ElfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(reason: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError(reason.into()))
}

/// The identification bytes and the first header fields, enough for the loader's
/// candidate checks (`open_verify`) without mapping the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    pub class64: bool,
    pub big_endian: bool,
    /// `EI_CLASS`, `EI_DATA`, `EI_VERSION`, `EI_OSABI`, `EI_ABIVERSION` as found.
    pub class: u8,
    pub data: u8,
    pub version: u8,
    pub osabi: u8,
    pub abiversion: u8,
    pub padding_zero: bool,
    pub e_type: u16,
    pub e_machine: u16,
    pub e_version: u32,
    pub e_phentsize: u16,
}

/// Bytes needed to read an [`Ident`]: the size of an ELF32 header.
pub const IDENT_LEN: usize = 52;

impl Ident {
    /// Reads the identification from the first bytes of a file. `None` when the bytes are not an
    /// ELF header (too short or bad magic) or the class/data bytes are invalid.
    pub fn parse(bytes: &[u8]) -> Option<Ident> {
        if bytes.len() < IDENT_LEN || bytes[..4] != elf::ELFMAG {
            return None;
        }
        let class64 = match bytes[4] {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big_endian = match bytes[5] {
            1 => false,
            2 => true,
            _ => return None,
        };
        let u16_at = |o: usize| {
            let b = [bytes[o], bytes[o + 1]];
            if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }
        };
        let u32_at = |o: usize| {
            let b = [bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]];
            if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
        };
        // e_phentsize sits after e_entry/e_phoff/e_shoff/e_flags/e_ehsize, whose width depends on the class.
        let phentsize_at = if class64 { 54 } else { 42 };
        Some(Ident {
            class64,
            big_endian,
            class: bytes[4],
            data: bytes[5],
            version: bytes[6],
            osabi: bytes[7],
            abiversion: bytes[8],
            padding_zero: bytes[9..16].iter().all(|&b| b == 0),
            e_type: u16_at(16),
            e_machine: u16_at(18),
            e_version: u32_at(20),
            e_phentsize: if bytes.len() >= phentsize_at + 2 { u16_at(phentsize_at) } else { 0 },
        })
    }
}

/// One version definition (`Verdef` with its `Verdaux` names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionDef {
    pub index: u16,
    pub name: String,
    /// [`elf_hash`] of `name`, computed here (not the file's `vd_hash`), so that looking a name up
    /// compares numbers before strings.
    #[serde(skip)]
    pub hash: u32,
    pub flags: u16,
    /// `VER_FLG_BASE`: the entry naming the file itself.
    pub base: bool,
    pub weak: bool,
    /// Names from the second and later `Verdaux` records.
    pub parents: Vec<String>,
}

/// One version an object needs from one file (`Vernaux`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionNeedName {
    pub name: String,
    /// [`elf_hash`] of `name`, computed here (not the file's `vna_hash`).
    #[serde(skip)]
    pub hash: u32,
    pub index: u16,
    pub weak: bool,
}

/// The versions an object needs from one DT_NEEDED file (`Verneed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionNeed {
    pub file: String,
    pub versions: Vec<VersionNeedName>,
}

/// Everything graft needs to know about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElfFacts {
    pub class64: bool,
    pub big_endian: bool,
    pub machine: u16,
    pub e_type: u16,
    pub interpreter: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Option<String>,
    pub runpath: Option<String>,
    pub flags_1: u64,
    /// Whether the file has a PT_DYNAMIC segment at all (static executables do not).
    pub dynamic: bool,
    pub version_definitions: Vec<VersionDef>,
    pub version_needs: Vec<VersionNeed>,
}

impl ElfFacts {
    /// Maps and parses a file. Anything but a regular file is refused before it is opened for
    /// reading, so a FIFO or a device never blocks.
    pub fn read(path: &Path) -> Result<ElfFacts, ElfError> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let meta = std::fs::metadata(path).map_err(|e| ElfError(io_reason(&e)))?;
        let ft = meta.file_type();
        if !ft.is_file() {
            let kind = if ft.is_dir() {
                "a directory"
            } else if ft.is_fifo() {
                "a FIFO"
            } else if ft.is_socket() {
                "a socket"
            } else {
                "a device"
            };
            return err(format!("not a regular file ({kind})"));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .open(path)
            .map_err(|e| ElfError(io_reason(&e)))?;
        Self::read_file(&file)
    }

    /// Maps and parses an already opened file.
    pub fn read_file(file: &File) -> Result<ElfFacts, ElfError> {
        let meta = file.metadata().map_err(|e| ElfError(io_reason(&e)))?;
        Self::read_opened(file, &meta)
    }

    /// Parses an opened file whose metadata the caller already has.
    pub fn read_opened(file: &File, meta: &std::fs::Metadata) -> Result<ElfFacts, ElfError> {
        if !meta.is_file() {
            return err("not a regular file");
        }
        Self::parse_from(&mut Reader::file(file, meta.len()))
    }

    /// Parses the bytes of a whole file.
    pub fn parse(data: &[u8]) -> Result<ElfFacts, ElfError> {
        Self::parse_from(&mut Reader::slice(data))
    }

    /// Parses what `reader` reads (its blocks are reused: a caller that looked at the header
    /// first pays for no second read).
    pub fn parse_from(reader: &mut Reader) -> Result<ElfFacts, ElfError> {
        let ident = match reader.bytes(0, 16) {
            Ok(b) => <[u8; 16]>::try_from(b).unwrap_or_default(),
            Err(Miss::Outside) => {
                return err(if reader.len() < 4 { "file too short" } else { "invalid ELF header" });
            }
            Err(Miss::Io(e)) => return err(format!("cannot read file data: {e}")),
        };
        if ident[..4] != elf::ELFMAG {
            return err("invalid ELF header");
        }
        match ident[4] {
            1 => parse_class::<elf::FileHeader32<Endianness>>(reader),
            2 => parse_class::<elf::FileHeader64<Endianness>>(reader),
            c => err(format!("invalid ELF class {c}")),
        }
    }

    /// The ABI whose loader would load this object, if graft knows it.
    pub fn abi(&self) -> Option<&'static Abi> {
        Abi::for_object(self.class64, self.big_endian, self.machine)
    }

    /// `DF_1_NODEFLIB`: the cache and the default directories are not searched for this
    /// object's needs.
    pub fn nodeflib(&self) -> bool {
        self.flags_1 & elf::DF_1_NODEFLIB.0 != 0
    }

    /// The names this object defines as versions, without the BASE entry.
    pub fn defined_versions(&self) -> impl Iterator<Item = &str> {
        self.version_definitions.iter().filter(|d| !d.base).map(|d| d.name.as_str())
    }

    /// Whether this object defines the version `name` (not as its BASE entry); `hash` is
    /// [`elf_hash`] of `name`.
    pub fn defines_hashed(&self, name: &str, hash: u32) -> bool {
        self.version_definitions.iter().any(|d| d.hash == hash && !d.base && d.name == name)
    }

    /// Whether this object defines the version `name` (not as its BASE entry).
    pub fn defines(&self, name: &str) -> bool {
        self.defines_hashed(name, elf_hash(name.as_bytes()))
    }

    /// Whether this object defines the version a `Vernaux` record asks for.
    pub fn defines_need(&self, need: &VersionNeedName) -> bool {
        self.defines_hashed(&need.name, need.hash)
    }
}

/// The System V ELF hash of a name (the function behind `vd_hash`, `vna_hash` and DT_HASH).
pub fn elf_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 4).wrapping_add(u32::from(c));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// A one-line reason for an I/O error, without the path.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Why a [`Reader`] could not give a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The range is not inside the file.
    Outside,
    /// Reading failed (or the file shrank while it was read).
    Io(String),
}

impl Miss {
    /// The parse error for this miss: `outside` when the range is not in the file.
    fn or(self, outside: &str) -> ElfError {
        match self {
            Miss::Outside => ElfError(outside.to_string()),
            Miss::Io(e) => ElfError(format!("cannot read file data: {e}")),
        }
    }
}

/// Size and alignment of the blocks a [`Reader`] reads from a file.
const BLOCK: u64 = 4096;

/// The bytes of an ELF file, read on demand: a slice in memory, or an open file read with
/// `pread` in [`BLOCK`]-aligned blocks that are kept for the rest of the parse. A parse touches
/// a handful of blocks (the header page, PT_DYNAMIC, the strings and version records it names),
/// which costs less than mapping the file and faulting the same pages in, and leaves nothing to
/// unmap.
pub struct Reader<'a> {
    source: Source<'a>,
    len: u64,
    /// (file offset, bytes), most recent last.
    blocks: Vec<(u64, Vec<u8>)>,
}

enum Source<'a> {
    Slice(&'a [u8]),
    File(&'a File),
}

impl<'a> Reader<'a> {
    /// A reader over bytes in memory.
    pub fn slice(data: &'a [u8]) -> Reader<'a> {
        Reader { source: Source::Slice(data), len: data.len() as u64, blocks: Vec::new() }
    }

    /// A reader over an open regular file of `len` bytes.
    pub fn file(file: &'a File, len: u64) -> Reader<'a> {
        Reader { source: Source::File(file), len, blocks: Vec::new() }
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `size` bytes at `offset`.
    #[inline]
    pub fn bytes(&mut self, offset: u64, size: u64) -> Result<&[u8], Miss> {
        let end = offset.checked_add(size).filter(|&e| e <= self.len).ok_or(Miss::Outside)?;
        if let Source::Slice(data) = self.source {
            return Ok(&data[offset as usize..end as usize]);
        }
        let i = match self.blocks.iter().rposition(|(at, b)| *at <= offset && end <= at + b.len() as u64) {
            Some(i) => i,
            None => self.read_block(offset, end)?,
        };
        let (at, block) = &self.blocks[i];
        Ok(&block[(offset - at) as usize..(end - at) as usize])
    }

    /// Reads the blocks that hold `offset..end` (inside the file) as one more block; its index.
    /// Kept out of [`Reader::bytes`], whose every other call finds a block already read.
    #[cold]
    #[inline(never)]
    fn read_block(&mut self, offset: u64, end: u64) -> Result<usize, Miss> {
        use std::os::unix::fs::FileExt;
        let Source::File(file) = self.source else { return Err(Miss::Outside) };
        let start = offset - offset % BLOCK;
        let stop = end.div_ceil(BLOCK).saturating_mul(BLOCK).min(self.len);
        let n = usize::try_from(stop - start).map_err(|_| Miss::Outside)?;
        let mut buf = SPARE_BLOCKS.with(|spare| spare.borrow_mut().pop()).unwrap_or_default();
        buf.resize(n, 0);
        let read = file.read_exact_at(&mut buf, start);
        self.blocks.push((start, buf));
        read.map_err(|e| Miss::Io(io_reason(&e)))?;
        Ok(self.blocks.len() - 1)
    }

    /// A plain-old-data value (an ELF record) at `offset`.
    fn read<T: object::Pod>(&mut self, offset: u64) -> Result<T, Miss> {
        let bytes = self.bytes(offset, std::mem::size_of::<T>() as u64)?;
        object::pod::from_bytes::<T>(bytes).map(|(v, _)| *v).map_err(|()| Miss::Outside)
    }

    /// The NUL-terminated string starting at `start`, which must end before `end`; `None` when no
    /// NUL comes before `end`.
    fn c_string(&mut self, start: u64, end: u64) -> Result<Option<&[u8]>, Miss> {
        // Most strings end inside the block they start in: look there first, with one read.
        let in_block = (BLOCK - start % BLOCK).min(end.saturating_sub(start));
        let nul = self.bytes(start, in_block)?.iter().position(|&b| b == 0);
        if let Some(len) = nul {
            return self.bytes(start, len as u64).map(Some);
        }
        if start + in_block >= end {
            return Ok(None);
        }
        let mut want = (end - start).min(in_block.saturating_add(256));
        loop {
            let nul = self.bytes(start, want)?.iter().position(|&b| b == 0);
            if let Some(len) = nul {
                return self.bytes(start, len as u64).map(Some);
            }
            if start + want >= end {
                return Ok(None);
            }
            want = want.saturating_mul(8).min(end - start);
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        SPARE_BLOCKS.with(|spare| {
            let mut spare = spare.borrow_mut();
            for (_, block) in self.blocks.drain(..) {
                if spare.len() < MAX_SPARE_BLOCKS && block.capacity() <= 4 * BLOCK as usize {
                    spare.push(block);
                }
            }
        });
    }
}

/// How many block buffers each thread keeps for the next file.
const MAX_SPARE_BLOCKS: usize = 32;

thread_local! {
    /// Block buffers of files already parsed, reused so that each file's reads neither allocate
    /// nor clear memory.
    static SPARE_BLOCKS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A view of the file through the PT_LOAD segments, as the loader maps it.
struct Loads {
    /// (p_vaddr, p_offset, p_filesz)
    segments: Vec<(u64, u64, u64)>,
}

impl Loads {
    /// The file offset of a virtual address, if a PT_LOAD maps it from the file.
    fn offset(&self, addr: u64) -> Option<u64> {
        self.segments.iter().find_map(|&(vaddr, offset, filesz)| {
            let delta = addr.checked_sub(vaddr)?;
            (delta < filesz).then(|| offset.checked_add(delta)).flatten()
        })
    }
}

/// The dynamic string table: where it is in the file and how long.
struct Strings {
    offset: u64,
    size: u64,
}

impl Strings {
    /// The string at `off` in the table.
    fn get(&self, r: &mut Reader, off: u64) -> Result<String, ElfError> {
        if off >= self.size {
            return err(format!("dynamic string offset {off:#x} is outside the string table"));
        }
        match r.c_string(self.offset + off, self.offset + self.size) {
            Ok(Some(bytes)) => Ok(match std::str::from_utf8(bytes) {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            }),
            Ok(None) | Err(Miss::Outside) => err(format!("dynamic string at {off:#x} is not terminated")),
            Err(miss) => Err(miss.or("")),
        }
    }
}

fn parse_class<H: FileHeader<Endian = Endianness>>(r: &mut Reader) -> Result<ElfFacts, ElfError> {
    let header: H = r.read(0).map_err(|m| m.or("invalid ELF header"))?;
    if !header.is_supported() {
        return err("invalid ELF header");
    }
    let endian = header.endian().or_else(|_| err("invalid ELF byte order"))?;
    let phentsize = usize::from(header.e_phentsize(endian));
    let ph_size = std::mem::size_of::<H::ProgramHeader>();
    if header.e_phnum(endian) != 0 && phentsize != ph_size {
        return err(format!("ELF file's phentsize {phentsize} is not the expected size"));
    }
    // e_phnum as the loader reads it: no PN_XNUM extension, the whole table must be in the file.
    let phoff: u64 = header.e_phoff(endian).into();
    let phnum = usize::from(header.e_phnum(endian));
    let outside = || {
        ElfError(format!("cannot read file data: {phnum} program headers at {phoff:#x} lie outside the file"))
    };
    let phdrs: Vec<H::ProgramHeader> = if phnum == 0 {
        Vec::new()
    } else {
        let table = r.bytes(phoff, (phnum * ph_size) as u64).map_err(|m| match m {
            Miss::Outside => outside(),
            m => m.or(""),
        })?;
        object::pod::slice_from_bytes::<H::ProgramHeader>(table, phnum).map_err(|()| outside())?.0.to_vec()
    };
    let mut facts = ElfFacts {
        class64: header.is_class_64(),
        big_endian: header.is_big_endian(),
        machine: header.e_machine(endian).0,
        e_type: header.e_type(endian).0,
        ..ElfFacts::default()
    };
    let loads = Loads {
        segments: phdrs
            .iter()
            .filter(|p| p.p_type(endian) == elf::PT_LOAD)
            .map(|p| (p.p_vaddr(endian).into(), p.p_offset(endian).into(), p.p_filesz(endian).into()))
            .collect(),
    };
    let mut dynamic = None;
    for phdr in &phdrs {
        let (offset, size): (u64, u64) = (phdr.p_offset(endian).into(), phdr.p_filesz(endian).into());
        match phdr.p_type(endian) {
            elf::PT_INTERP => {
                const BAD: &str = "PT_INTERP lies outside the file or is not terminated";
                let bytes = r.bytes(offset, size).map_err(|m| m.or(BAD))?;
                let len = bytes.iter().position(|&b| b == 0).ok_or_else(|| ElfError(BAD.into()))?;
                facts.interpreter = Some(String::from_utf8_lossy(&bytes[..len]).into_owned());
            }
            elf::PT_DYNAMIC if dynamic.is_none() => {
                if offset.checked_add(size).is_none_or(|end| end > r.len()) {
                    return err("PT_DYNAMIC lies outside the file");
                }
                dynamic = Some((offset, size));
            }
            _ => {}
        }
    }
    let Some((dyn_offset, dyn_size)) = dynamic else {
        return Ok(facts);
    };
    facts.dynamic = true;

    // The entries up to DT_NULL; strings come after, as DT_STRTAB may follow the tags naming them.
    let entry = std::mem::size_of::<H::Dyn>() as u64;
    let mut entries: Vec<(elf::DynamicTag, u64)> = Vec::with_capacity(64);
    for i in 0..dyn_size / entry {
        let d: H::Dyn =
            r.read(dyn_offset + i * entry).map_err(|m| m.or("PT_DYNAMIC lies outside the file"))?;
        let tag = d.d_tag(endian);
        if tag == elf::DT_NULL {
            break;
        }
        entries.push((tag, d.d_val(endian).into()));
    }
    let mut strtab = None;
    let mut strsz = None;
    let (mut verdef, mut verdefnum, mut verneed, mut verneednum) = (None, 0u64, None, 0u64);
    for &(tag, val) in &entries {
        match tag {
            elf::DT_STRTAB => strtab = Some(val),
            elf::DT_STRSZ => strsz = Some(val),
            elf::DT_FLAGS_1 => facts.flags_1 = val,
            elf::DT_VERDEF => verdef = Some(val),
            elf::DT_VERDEFNUM => verdefnum = val,
            elf::DT_VERNEED => verneed = Some(val),
            elf::DT_VERNEEDNUM => verneednum = val,
            _ => {}
        }
    }
    let strings = match strtab {
        Some(addr) => {
            let offset = loads.offset(addr).ok_or_else(|| {
                ElfError(format!("DT_STRTAB address {addr:#x} is not in any PT_LOAD segment"))
            })?;
            if offset > r.len() {
                return err("dynamic string table lies outside the file");
            }
            let avail = r.len() - offset;
            Strings { offset, size: strsz.unwrap_or(avail).min(avail) }
        }
        None => Strings { offset: 0, size: 0 },
    };
    let join = |slot: &mut Option<String>, s: String| match slot {
        Some(prev) => {
            prev.push(':');
            prev.push_str(&s);
        }
        None => *slot = Some(s),
    };
    for &(tag, val) in &entries {
        match tag {
            elf::DT_NEEDED => facts.needed.push(strings.get(r, val)?),
            elf::DT_SONAME => facts.soname = Some(strings.get(r, val)?),
            elf::DT_RPATH => join(&mut facts.rpath, strings.get(r, val)?),
            elf::DT_RUNPATH => join(&mut facts.runpath, strings.get(r, val)?),
            _ => {}
        }
    }
    if let Some(addr) = verdef {
        facts.version_definitions = read_verdefs(r, endian, &loads, addr, verdefnum, &strings)?;
    }
    if let Some(addr) = verneed {
        facts.version_needs = read_verneeds(r, endian, &loads, addr, verneednum, &strings)?;
    }
    Ok(facts)
}

/// The largest number of version records a file of this size can hold; bounds hostile counts.
fn record_limit(r: &Reader, count: u64, record: u64) -> u64 {
    count.min(r.len() / record)
}

fn read_verdefs(
    r: &mut Reader,
    endian: Endianness,
    loads: &Loads,
    addr: u64,
    count: u64,
    strings: &Strings,
) -> Result<Vec<VersionDef>, ElfError> {
    let mut offset = loads
        .offset(addr)
        .ok_or_else(|| ElfError(format!("DT_VERDEF address {addr:#x} is not in any PT_LOAD segment")))?;
    // Sized from the count the file gives, up to a bound: a hostile count must not reserve much.
    let mut out = Vec::with_capacity(record_limit(r, count, 20).min(1024) as usize);
    for _ in 0..record_limit(r, count, 20) {
        let vd: elf::Verdef<Endianness> =
            r.read(offset).map_err(|m| m.or("version definition lies outside the file"))?;
        let flags = vd.vd_flags.get(endian).0;
        let mut names = Vec::with_capacity(usize::from(vd.vd_cnt.get(endian)).min(8));
        let mut aux = offset.checked_add(u64::from(vd.vd_aux.get(endian)));
        for _ in 0..vd.vd_cnt.get(endian) {
            let Some(at) = aux else { break };
            let vda: elf::Verdaux<Endianness> =
                r.read(at).map_err(|m| m.or("version definition name lies outside the file"))?;
            names.push(strings.get(r, vda.vda_name.get(endian).into())?);
            let next = vda.vda_next.get(endian);
            aux = if next == 0 { None } else { at.checked_add(next.into()) };
        }
        let mut names = names.into_iter();
        let name = names.next().unwrap_or_default();
        out.push(VersionDef {
            index: vd.vd_ndx.get(endian).0,
            hash: elf_hash(name.as_bytes()),
            name,
            flags,
            base: flags & elf::VER_FLG_BASE.0 != 0,
            weak: flags & elf::VER_FLG_WEAK.0 != 0,
            parents: names.collect(),
        });
        let next = vd.vd_next.get(endian);
        if next == 0 {
            break;
        }
        offset = offset
            .checked_add(next.into())
            .ok_or_else(|| ElfError("version definition chain overflows".into()))?;
    }
    Ok(out)
}

fn read_verneeds(
    r: &mut Reader,
    endian: Endianness,
    loads: &Loads,
    addr: u64,
    count: u64,
    strings: &Strings,
) -> Result<Vec<VersionNeed>, ElfError> {
    let mut offset = loads
        .offset(addr)
        .ok_or_else(|| ElfError(format!("DT_VERNEED address {addr:#x} is not in any PT_LOAD segment")))?;
    let mut out = Vec::with_capacity(record_limit(r, count, 16).min(64) as usize);
    for _ in 0..record_limit(r, count, 16) {
        let vn: elf::Verneed<Endianness> =
            r.read(offset).map_err(|m| m.or("version need lies outside the file"))?;
        let mut versions = Vec::with_capacity(usize::from(vn.vn_cnt.get(endian)).min(64));
        let mut aux = offset.checked_add(u64::from(vn.vn_aux.get(endian)));
        for _ in 0..vn.vn_cnt.get(endian) {
            let Some(at) = aux else { break };
            let vna: elf::Vernaux<Endianness> =
                r.read(at).map_err(|m| m.or("version need name lies outside the file"))?;
            let name = strings.get(r, vna.vna_name.get(endian).into())?;
            versions.push(VersionNeedName {
                hash: elf_hash(name.as_bytes()),
                name,
                index: vna.vna_other.get(endian).0,
                weak: vna.vna_flags.get(endian).0 & elf::VER_FLG_WEAK.0 != 0,
            });
            let next = vna.vna_next.get(endian);
            aux = if next == 0 { None } else { at.checked_add(next.into()) };
        }
        out.push(VersionNeed { file: strings.get(r, vn.vn_file.get(endian).into())?, versions });
        let next = vn.vn_next.get(endian);
        if next == 0 {
            break;
        }
        offset =
            offset.checked_add(next.into()).ok_or_else(|| ElfError("version need chain overflows".into()))?;
    }
    Ok(out)
}

/// The ELF type's name as readelf prints it.
pub fn type_name(e_type: u16) -> String {
    match e_type {
        0 => "NONE".into(),
        1 => "REL".into(),
        2 => "EXEC".into(),
        3 => "DYN".into(),
        4 => "CORE".into(),
        t => format!("{t:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_with_reasons() {
        assert_eq!(ElfFacts::parse(b"").unwrap_err().0, "file too short");
        assert_eq!(ElfFacts::parse(b"/* GNU ld script */ GROUP(a b)").unwrap_err().0, "invalid ELF header");
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&elf::ELFMAG);
        header[4] = 9;
        assert!(ElfFacts::parse(&header).unwrap_err().0.contains("class"));
    }

    #[test]
    fn reads_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let facts = ElfFacts::read(&exe).unwrap();
        assert!(facts.dynamic);
        assert!(facts.needed.iter().any(|n| n.starts_with("libc.so")));
        assert!(facts.interpreter.is_some());
        assert!(facts.abi().is_some());
    }

    #[test]
    fn file_reads_agree_with_slice_reads() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&exe).unwrap();
        assert_eq!(ElfFacts::read(&exe).unwrap(), ElfFacts::parse(&bytes).unwrap());
    }

    #[test]
    fn reader_strings_cross_blocks() {
        let path = std::env::temp_dir().join(format!("graft-elf-reader-{}", std::process::id()));
        let mut data = vec![b'x'; 3 * BLOCK as usize];
        let long_start = BLOCK as usize - 6;
        data[long_start + 3000] = 0; // a string of 3000 bytes over the first block boundary
        data[2 * BLOCK as usize + 10] = 0;
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let mut r = Reader::file(&file, data.len() as u64);
        let s = r.c_string(long_start as u64, data.len() as u64).unwrap().unwrap();
        assert_eq!(s.len(), 3000);
        // No NUL before the bound: none found, and nothing read past it.
        assert_eq!(r.c_string(2 * BLOCK + 11, 3 * BLOCK).unwrap(), None);
        assert_eq!(r.bytes(3 * BLOCK - 4, 8).unwrap_err(), Miss::Outside);
        assert_eq!(r.bytes(u64::MAX - 1, 8).unwrap_err(), Miss::Outside);
        assert_eq!(r.read::<u32>(4).unwrap(), u32::from_ne_bytes(*b"xxxx"));
        drop(r);
        drop(file);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn elf_hash_matches_glibc_version_hashes() {
        // The vd_hash values glibc's own libc.so.6 carries for these versions.
        assert_eq!(elf_hash(b"GLIBC_2.2.5"), 0x0969_1a75);
        assert_eq!(elf_hash(b"GLIBC_2.0"), 0x0d69_6910);
        assert_eq!(elf_hash(b""), 0);
        let facts = ElfFacts::read(&std::env::current_exe().unwrap()).unwrap();
        for need in facts.version_needs.iter().flat_map(|n| &n.versions) {
            assert_eq!(need.hash, elf_hash(need.name.as_bytes()));
        }
    }

    #[test]
    fn ident_reads_header_fields() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(exe).unwrap();
        let id = Ident::parse(&bytes).unwrap();
        assert_eq!(id.version, 1);
        assert_eq!(id.e_version, 1);
        assert!(id.e_phentsize == 56 || id.e_phentsize == 32);
        assert!(Ident::parse(&bytes[..20]).is_none());
    }
}
