//! Literal constructors shared by the rule tests: no cooking, only fields.
#![allow(dead_code)]

use segstate::arch::{PerSegReg, SegReg};
use segstate::format::kvm::KvmDtable;
use segstate::format::qemu::{QemuFlags, QemuSegmentCache};
use segstate::format::svm::{SvmAttrib, VmcbSegment};
use segstate::format::vmx::{VmxAccessRights, VmxSegment};
use segstate::profile::{Profile, Rule, RuleSet};

pub fn vmcb(selector: u16, attrib: u16, limit: u32, base: u64) -> VmcbSegment {
    VmcbSegment {
        selector,
        attrib: SvmAttrib(attrib),
        limit,
        base,
    }
}

pub fn vmcs(selector: u16, ar: u32, limit: u32, base: u64) -> VmxSegment {
    VmxSegment {
        selector,
        base,
        limit,
        access_rights: VmxAccessRights(ar),
    }
}

pub fn cache(selector: u32, flags: u32, limit: u32, base: u64) -> QemuSegmentCache {
    QemuSegmentCache {
        selector,
        base,
        limit,
        flags: QemuFlags(flags),
    }
}

/// A `kvm_segment` written field by field: `kseg(selector, limit, base, [type, present,
/// dpl, db, s, l, g, avl, unusable])`.
#[allow(unused_imports)] // Only the rule-pinning files write expected kvm_segments.
pub use segstate::testing::kvm_segment as kseg;

/// A `kvm_dtable` (GDTR or IDTR as `kvm_sregs` holds it), padding zero.
pub fn dtable(base: u64, limit: u16) -> KvmDtable {
    KvmDtable {
        base,
        limit,
        padding: [0; 3],
    }
}

/// Asserts the profile really has the rule, so a registry change is noticed here too.
pub fn rules_with(profile: Profile, rule: Rule) -> RuleSet {
    assert!(
        profile.rules.has(rule),
        "{} is expected to apply {}",
        profile.name,
        rule.id()
    );
    profile.rules
}

/// QEMU caches of a real-mode vCPU whose code/data segments carry `dpl` (old KVM
/// reported real-mode DPL 3): TR and LDTR without a DPL.
pub fn real_mode_caches(dpl: u32) -> PerSegReg<QemuSegmentCache> {
    PerSegReg::from_fn(|reg| match reg {
        SegReg::Tr => cache(0, 0x0000_8b00, 0xffff, 0),
        SegReg::Ldtr => cache(0, 0x0000_8200, 0xffff, 0),
        _ => cache(0x1000, 0x0000_9300 | dpl << 13, 0xffff, 0x10000),
    })
}

/// Runs `apply` once with `rules` (which has `rule`) and once with `rule` switched off,
/// and asserts the two exact outputs: what the rule does, and what [`Rule::when_off`]
/// describes.
#[track_caller]
pub fn on_off<T: PartialEq + core::fmt::Debug>(
    rules: RuleSet,
    rule: Rule,
    apply: impl Fn(RuleSet) -> T,
    on: T,
    off: T,
) {
    assert_eq!(apply(rules), on, "{} on", rule.id());
    assert_eq!(apply(rules.without(rule)), off, "{} off", rule.id());
}

/// xorshift64*: deterministic and dependency-free, for the no-panic sweeps.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Declares one `#[test]` per cooking rule, each written once as
///
/// ```text
/// /// What the rule is and the input where it matters.
/// test_name: PROFILE has RuleVariant {
///     let input = ...;                 // any number of bindings
///     |r| convert(r, &input) => on_value, off off_value;
///     then |rules| { more asserts }    // optional
/// }
/// ```
///
/// The test asserts the profile has the rule ([`rules_with`]), that the conversion gives
/// `on_value` with the profile's rules and `off_value` with the rule switched off
/// ([`on_off`]), then runs the `then` block with the profile's rules.
#[allow(unused_macros)] // Only the rule-pinning files declare tests with it.
macro_rules! rule_tests {
    ($(
        $(#[$meta:meta])*
        $name:ident: $profile:ident has $rule:ident {
            $(let $bind:pat = $value:expr;)*
            $apply:expr => $on:expr, off $off:expr;
            $(then |$rules:ident| $then:block)?
        }
    )*) => {$(
        $(#[$meta])*
        #[test]
        fn $name() {
            let rule = Rule::$rule;
            let rules = rules_with(Profile::$profile, rule);
            $(let $bind = $value;)*
            on_off(rules, rule, $apply, $on, $off);
            $(
                let $rules = rules;
                $then
            )?
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use rule_tests;
