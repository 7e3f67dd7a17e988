//! The ABI table: for each Debian multiarch tuple graft knows, the ELF class, byte order and machine
//! its loader accepts, the interpreter path, the ld.so.cache flags the loader filters on, the
//! `$PLATFORM` value and the glibc-hwcaps subdirectory names.
//!
//! It owns no I/O: which tuple a file belongs to is decided from its ELF header facts.

/// One ABI as glibc's dynamic loader sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Abi {
    /// Debian multiarch tuple, e.g. `x86_64-linux-gnu`.
    pub tuple: &'static str,
    /// ELFCLASS64 when true, ELFCLASS32 otherwise.
    pub class64: bool,
    /// ELFDATA2MSB when true.
    pub big_endian: bool,
    /// `e_machine`.
    pub machine: u16,
    /// The canonical PT_INTERP path.
    pub interpreter: &'static str,
    /// ld.so.cache entry flags this loader accepts (`_dl_cache_check_flags`).
    pub cache_flags: &'static [i32],
    /// The AT_PLATFORM string the kernel passes (`$PLATFORM`).
    pub platform: &'static str,
    /// glibc-hwcaps subdirectory names, best first (`dl-hwcaps-subdirs.c`).
    pub glibc_hwcaps: &'static [&'static str],
    /// Legacy (glibc < 2.37) "important" hwcap names searched as subdirectories.
    pub legacy_hwcaps: &'static [&'static str],
}

const EM_386: u16 = 3;
const EM_ARM: u16 = 40;
const EM_PPC64: u16 = 21;
const EM_S390: u16 = 22;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;

/// Every ABI graft knows, x86_64 first.
pub static ABIS: &[Abi] = &[
    Abi {
        tuple: "x86_64-linux-gnu",
        class64: true,
        big_endian: false,
        machine: EM_X86_64,
        interpreter: "/lib64/ld-linux-x86-64.so.2",
        cache_flags: &[0x0303],
        platform: "x86_64",
        glibc_hwcaps: &["x86-64-v4", "x86-64-v3", "x86-64-v2"],
        legacy_hwcaps: &["x86_64"],
    },
    Abi {
        tuple: "i386-linux-gnu",
        class64: false,
        big_endian: false,
        machine: EM_386,
        interpreter: "/lib/ld-linux.so.2",
        cache_flags: &[0x0001, 0x0003],
        platform: "i686",
        glibc_hwcaps: &[],
        legacy_hwcaps: &["sse2"],
    },
    Abi {
        tuple: "aarch64-linux-gnu",
        class64: true,
        big_endian: false,
        machine: EM_AARCH64,
        interpreter: "/lib/ld-linux-aarch64.so.1",
        cache_flags: &[0x0a03],
        platform: "aarch64",
        glibc_hwcaps: &[],
        legacy_hwcaps: &[],
    },
    Abi {
        tuple: "arm-linux-gnueabihf",
        class64: false,
        big_endian: false,
        machine: EM_ARM,
        interpreter: "/lib/ld-linux-armhf.so.3",
        cache_flags: &[0x0903],
        platform: "v7l",
        glibc_hwcaps: &[],
        legacy_hwcaps: &[],
    },
    Abi {
        tuple: "powerpc64le-linux-gnu",
        class64: true,
        big_endian: false,
        machine: EM_PPC64,
        interpreter: "/lib64/ld64.so.2",
        cache_flags: &[0x0503],
        platform: "power9",
        glibc_hwcaps: &["power10", "power9"],
        legacy_hwcaps: &[],
    },
    Abi {
        tuple: "s390x-linux-gnu",
        class64: true,
        big_endian: true,
        machine: EM_S390,
        interpreter: "/lib/ld64.so.1",
        cache_flags: &[0x0403],
        platform: "z13",
        glibc_hwcaps: &["z16", "z15", "z14", "z13"],
        legacy_hwcaps: &[],
    },
    Abi {
        tuple: "riscv64-linux-gnu",
        class64: true,
        big_endian: false,
        machine: EM_RISCV,
        interpreter: "/lib/ld-linux-riscv64-lp64d.so.1",
        cache_flags: &[0x1003],
        platform: "",
        glibc_hwcaps: &[],
        legacy_hwcaps: &[],
    },
];

impl Abi {
    /// This ABI's position in [`ABIS`].
    pub fn index(&'static self) -> usize {
        ABIS.iter()
            .position(|a| std::ptr::eq(a, self))
            .or_else(|| ABIS.iter().position(|a| a.tuple == self.tuple))
            .unwrap_or(0)
    }

    /// The ABI whose loader accepts an object of this class, byte order and machine.
    pub fn for_object(class64: bool, big_endian: bool, machine: u16) -> Option<&'static Abi> {
        ABIS.iter().find(|a| a.class64 == class64 && a.big_endian == big_endian && a.machine == machine)
    }

    /// The ABI named by a multiarch tuple.
    pub fn by_tuple(tuple: &str) -> Option<&'static Abi> {
        ABIS.iter().find(|a| a.tuple == tuple)
    }

    /// The SONAME of the interpreter: the last component of its path.
    pub fn interpreter_soname(&self) -> &'static str {
        self.interpreter.rsplit('/').next().unwrap_or(self.interpreter)
    }

    /// Whether a candidate of this class and machine is one this loader would consider
    /// (`elf_machine_matches_host` plus the class check); a mismatch is skipped silently.
    pub fn accepts(&self, class64: bool, machine: u16) -> bool {
        self.class64 == class64 && self.machine == machine
    }

    /// Whether an ld.so.cache entry's flags are usable by this loader.
    pub fn accepts_cache_flags(&self, flags: i32) -> bool {
        self.cache_flags.contains(&flags)
    }
}

/// The best x86-64 glibc-hwcaps level of the CPU graft runs on, as glibc's
/// `dl-hwcaps-subdirs.c` would rank it: the subdirectories searched, best first.
pub fn native_x86_64_hwcaps() -> &'static [&'static str] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let v2 = has!("cmpxchg16b")
            && has!("popcnt")
            && has!("sse3")
            && has!("sse4.1")
            && has!("sse4.2")
            && has!("ssse3");
        let v3 = v2
            && has!("avx")
            && has!("avx2")
            && has!("bmi1")
            && has!("bmi2")
            && has!("f16c")
            && has!("fma")
            && has!("lzcnt")
            && has!("movbe")
            && has!("xsave");
        let v4 = v3
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl");
        let all = ABIS[0].glibc_hwcaps;
        if v4 {
            all
        } else if v3 {
            &all[1..]
        } else if v2 {
            &all[2..]
        } else {
            &[]
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_header_facts() {
        assert_eq!(Abi::for_object(true, false, 62).unwrap().tuple, "x86_64-linux-gnu");
        assert_eq!(Abi::for_object(false, false, 3).unwrap().tuple, "i386-linux-gnu");
        assert_eq!(Abi::for_object(true, false, 183).unwrap().tuple, "aarch64-linux-gnu");
        assert!(Abi::for_object(false, false, 62).is_none(), "x32 is not in the table");
        assert_eq!(Abi::by_tuple("i386-linux-gnu").unwrap().interpreter_soname(), "ld-linux.so.2");
    }

    #[test]
    fn cache_flags_filter_like_the_loader() {
        let x86_64 = Abi::by_tuple("x86_64-linux-gnu").unwrap();
        let i386 = Abi::by_tuple("i386-linux-gnu").unwrap();
        assert!(x86_64.accepts_cache_flags(0x0303));
        assert!(!x86_64.accepts_cache_flags(0x0003));
        assert!(i386.accepts_cache_flags(0x0001) && i386.accepts_cache_flags(0x0003));
        assert!(!i386.accepts_cache_flags(0x0303));
    }
}
