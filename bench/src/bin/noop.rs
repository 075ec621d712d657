//! `noop`: the static no-op process of the per-agency floor (`bench/src/harness/floor.rs`). It
//! has no Rust runtime start-up (`no_main`): exec, exit 0, nothing else, so starting it costs
//! what starting any process costs this machine.
#![no_main]

/// The C entry point: returns 0 at once.
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    0
}
