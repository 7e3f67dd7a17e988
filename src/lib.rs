//! graft: import a host's graphics drivers into a container runtime, with an ld.so-faithful
//! dependency engine underneath. See the README for the architecture.

pub mod abi;
pub mod check;
pub mod compare;
pub mod drivers;
pub mod elf;
pub mod launch;
pub mod ldcache;
pub mod ldconf;
pub mod loader;
pub mod memo;
pub mod plan;
pub mod render;
pub mod report;
pub mod sysroot;
pub mod threads;
pub mod verify;
