//! A guest segment that a dump prints as separate fields — its selector, base, limit
//! and VMX access rights, each on a line of its own (HAXM's and hyperkit's VMCS field
//! dumps, bhyvectl's descriptor and selector lines) — put together, or, when the paste
//! shows only some of them, named by what it lacks and not read: a segment rule on a
//! guessed field would be a guess.
//!
//! The access rights are the VMCS's (SDM Vol. 3C §25.4.1, Table 25-2), bit 16
//! "unusable", decoded by [`VmxAccessRights`]; bhyve hands them out in that layout on
//! AMD hosts too ([`crate::format::bhyve`]).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::RawDump;
use crate::arch::{CR0_PE, PrivilegeLevel, SegReg, Segment, Selector};
use crate::format::vmx::VmxAccessRights;

/// The note on a dump that shows segment registers by their selectors alone, no
/// descriptor cache (Xen's and gdb's register dumps, VirtualBox's terse one): `what`
/// shows them, each selector as `printed` writes it as that dump prints it, and the
/// segment rules need `needs`, which `hint` says how to get.
pub(crate) fn selectors_only(
    what: &str,
    selectors: &[(SegReg, u64)],
    printed: fn(u64) -> String,
    needs: &str,
    hint: &str,
) -> String {
    let shown: Vec<String> = selectors
        .iter()
        .map(|&(reg, sel)| format!("{} {}", reg.name(), printed(sel)))
        .collect();
    format!(
        "{what} shows selectors only ({}), no descriptor cache: the segment rules need the \
         {needs} ({hint})",
        shown.join(", ")
    )
}

/// One guest segment's four fields as far as read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SegmentParts {
    /// The selector.
    pub selector: Option<u64>,
    /// The limit.
    pub limit: Option<u64>,
    /// The access rights, VMX layout.
    pub ar: Option<u64>,
    /// The base.
    pub base: Option<u64>,
}

/// A segment's four parts by name, each with whether the dump shows it.
type Named = [(&'static str, bool); 4];

impl SegmentParts {
    /// The parts' names, each with whether it was read.
    fn named(self) -> Named {
        [
            ("selector", self.selector.is_some()),
            ("access rights", self.ar.is_some()),
            ("base", self.base.is_some()),
            ("limit", self.limit.is_some()),
        ]
    }
}

/// The eight segments' parts, in [`SegReg::index`] order.
pub(crate) type AllParts = [SegmentParts; 8];

/// How [`assemble`] treats what it cannot read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cut {
    /// Why a dump shows a segment in part, for the note: how its printer lays the
    /// four fields out (`HAXM prints the four fields of a segment apart, the limits
    /// last`).
    pub why: &'static str,
    /// Whether SS's access rights give the CPL (SS.DPL is the CPL of a VMCS, SDM Vol.
    /// 3C §25.4.1); false where the save area behind the dump may be a VMCB, whose CPL
    /// is a field of its own.
    pub cpl_from_ss: bool,
}

/// Puts the segments read whole into `d`; names those shown only in part by what they
/// lack (grouped, so a paste cut before the limits gives one line) and leaves them
/// unread; takes the CPL from SS's access rights whenever they are shown and `cut`
/// allows it.
pub(crate) fn assemble(d: &mut RawDump, parts: &AllParts, cut: Cut) {
    let mut partial: Vec<(Named, Vec<SegReg>)> = Vec::new();
    for reg in SegReg::ALL {
        let p = parts[reg.index()];
        if let (Some(sel), Some(limit), Some(ar), Some(base)) = (p.selector, p.limit, p.ar, p.base)
        {
            let ar = VmxAccessRights(ar as u32);
            d.guest.segments[reg] = Some(Segment {
                selector: Selector(sel as u16),
                base,
                limit: limit as u32,
                attributes: ar.attributes(),
                unusable: ar.unusable(),
            });
            continue;
        }
        let named = p.named();
        if named.iter().all(|(_, read)| !read) {
            continue;
        }
        d.partial_segments.push(reg);
        match partial.iter_mut().find(|(n, _)| *n == named) {
            Some((_, regs)) => regs.push(reg),
            None => partial.push((named, alloc::vec![reg])),
        }
    }
    for (named, regs) in partial {
        let list = |read: bool| {
            named
                .iter()
                .filter(|(_, r)| *r == read)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
        };
        let (shown, lacking) = (list(true), list(false));
        let one = regs.len() == 1;
        d.note(format!(
            "{} {} not read: the dump has {} {} but no {} ({}), so no segment rule is judged \
             on {}",
            regs.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
            if one { "is" } else { "are" },
            if one { "its" } else { "their" },
            joined(&shown, "and"),
            joined(&lacking, "or"),
            cut.why,
            if one { "it" } else { "them" },
        ));
    }
    let Some(ar) = parts[SegReg::Ss.index()].ar.filter(|_| cut.cpl_from_ss) else {
        if cut.cpl_from_ss {
            real_mode_cpl(d);
        }
        return;
    };
    let cpl = VmxAccessRights(ar as u32).dpl();
    d.guest.cpl = Some(cpl);
    if d.guest.segments[SegReg::Ss].is_none() {
        d.note(format!(
            "CPL {} read from SS's access rights ({ar:#x}) alone: SS.DPL is the CPL (SDM Vol. \
             3C §25.4.1)",
            cpl.bits()
        ));
    }
}

/// The CPL of a VMCS dump cut before SS's access rights whose CR0 field has PE clear:
/// 0. The guest is in real mode, where the CPL is 0, and VM entry holds the VMCS's
/// CPL, SS.DPL, to it: with PE clear in the CR0 field SS.DPL must be 0 (SDM Vol. 3C
/// §27.3.1.2, "Checks on Guest Segment Registers"; Linux's `vmx_get_cpl` reads SS.DPL).
/// Left unknown with PE set or no CR0 read.
pub(crate) fn real_mode_cpl(d: &mut RawDump) {
    if d.guest.cpl.is_some() || d.guest.cr0.is_none_or(|cr0| cr0 & CR0_PE != 0) {
        return;
    }
    d.guest.cpl = Some(PrivilegeLevel::Ring0);
    d.note(String::from(
        "CPL 0: real mode (PE clear in the CR0 field), where the CPL is 0; the dump has no \
         SS access rights, but VM entry requires SS.DPL, the VMCS's CPL, to be 0 when CR0.PE \
         is 0 (SDM Vol. 3C §27.3.1.2)",
    ));
}

/// `a`, `a and b`, `a, b and c` (`conj` is `and` or `or`).
fn joined(items: &[&str], conj: &str) -> String {
    match items {
        [] => String::new(),
        [one] => String::from(*one),
        [init @ .., last] => format!("{} {conj} {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;
    use crate::ingest::log::Dialect;

    const CUT: Cut = Cut {
        why: "the paste ends inside them",
        cpl_from_ss: true,
    };

    #[test]
    fn whole_segments_are_read_and_parts_are_named() {
        let mut parts = AllParts::default();
        parts[SegReg::Cs.index()] = SegmentParts {
            selector: Some(0x10),
            limit: Some(0xffff_ffff),
            ar: Some(0xa09b),
            base: Some(0),
        };
        parts[SegReg::Ss.index()] = SegmentParts {
            selector: Some(0x2b),
            ar: Some(0xc0f3),
            ..SegmentParts::default()
        };
        let mut d = RawDump::new(Dialect::Haxm, 1);
        assemble(&mut d, &parts, CUT);
        assert!(d.guest.segments[SegReg::Cs].unwrap().attributes.l);
        assert_eq!(d.partial_segments, [SegReg::Ss]);
        assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring3));
        assert!(
            d.notes[0].starts_with(
                "SS is not read: the dump has its selector and access rights but no base or \
                 limit (the paste ends inside them)"
            ),
            "{:?}",
            d.notes
        );
        // Without leave to read the CPL from SS, none is read.
        let mut d = RawDump::new(Dialect::Haxm, 1);
        assemble(
            &mut d,
            &parts,
            Cut {
                cpl_from_ss: false,
                ..CUT
            },
        );
        assert_eq!((d.guest.cpl, d.notes.len()), (None, 1));
    }
}
