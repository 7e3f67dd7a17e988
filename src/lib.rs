//! graft: import a host's graphics drivers into a container runtime, with an ld.so-faithful
//! dependency engine underneath. See the README for the architecture.

pub mod abi;
pub mod elf;
pub mod ldcache;
pub mod ldconf;
pub mod loader;
pub mod report;
pub mod sysroot;
