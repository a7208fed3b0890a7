//! segstate: x86 segment state and CPL, bit-exact across every hypervisor boundary.
#![cfg_attr(not(feature = "std"), no_std)]
