//! segstate against a plain C implementation of the same conversions.
//!
//! - [`ffi`]: the C baseline (`c/segconv.c`, built at -O2 by `build.rs`);
//! - [`rust`]: segstate's functions over the same batches;
//! - [`inputs`]: deterministic varied inputs;
//! - [`cases`]: each comparison, Rust and C side by side, shared by the criterion
//!   benches and the `ratios` binary.

pub mod cases;
pub mod ffi;
pub mod inputs;
pub mod rust;
