//! The sections of the report, one module each, every one a [`crate::section::Section`].

pub mod agencies;
pub mod far;
pub mod load;
pub mod loopback;
