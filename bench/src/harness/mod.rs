//! The harness: starting and reaping processes, measuring time, CPU and memory, the link
//! emulator, preparing data, the floors, and running a plan's configurations in turn. Sections
//! build on it; it knows nothing of them.

pub mod ctx;
pub mod data;
pub mod floor;
pub mod link;
pub mod load;
pub mod machine;
pub mod measure;
pub mod memory;
pub mod procs;
pub mod run;
