//! VirtualBox's own diagnosis of a failed VT-x VM entry: the `HM error` of the `VT-x
//! info` block VBox.log prints with a `VERR_VMX_INVALID_GUEST_STATE` Guru Meditation
//! (VirtualBox 6 and 7, `hmR3InfoExitHistory`'s neighbour in `VMM/VMMR3/HM.cpp`):
//!
//! ```text
//! 00:00:05.485406 CPU[0]: VT-x info:
//! 00:00:05.485406   HM error           = 0x23a (570)
//! 00:00:05.485407   rcLastExitToR3     = VERR_VMX_INVALID_GUEST_STATE
//! 00:00:05.485410     Real-on-v86 active = true
//! ```
//!
//! The number is one of `VMX_IGS_*` (`include/VBox/vmm/hm_vmx.h`, "VMX HM-error codes
//! for VERR_VMX_INVALID_GUEST_STATE", 500-625): VirtualBox ran its own copy of the
//! guest-state checks after the hardware refused the entry (`hmR0VmxCheckGuestState`)
//! and names the first that fails. The table is as four copies of `hm_vmx.h` in the
//! project's source index have it (VirtualBox 6.x-7.x); 622 is not defined.

/// `VMX_IGS_*`: the code, its name, what it says.
#[rustfmt::skip]
pub const VMX_IGS: &[(u32, &str, &str)] = &[
    (500, "VMX_IGS_ERROR", "An error occurred while checking invalid-guest-state"),
    (501, "VMX_IGS_REASON_NOT_FOUND", "The invalid guest-state checks did not find any reason why"),
    (502, "VMX_IGS_CR0_FIXED1", "CR0 fixed1 bits invalid"),
    (503, "VMX_IGS_CR0_FIXED0", "CR0 fixed0 bits invalid"),
    (504, "VMX_IGS_CR0_PG_PE_COMBO", "CR0.PE and CR0.PE invalid VT-x/host combination"),
    (505, "VMX_IGS_CR4_FIXED1", "CR4 fixed1 bits invalid"),
    (506, "VMX_IGS_CR4_FIXED0", "CR4 fixed0 bits invalid"),
    (507, "VMX_IGS_DEBUGCTL_MSR_RESERVED", "Reserved bits in VMCS' DEBUGCTL MSR field not set to 0 when VMX_VMCS_CTRL_ENTRY_LOAD_DEBUG is used"),
    (508, "VMX_IGS_CR0_PG_LONGMODE", "CR0.PG not set for long-mode when not using unrestricted guest"),
    (509, "VMX_IGS_CR4_PAE_LONGMODE", "CR4.PAE not set for long-mode guest when not using unrestricted guest"),
    (510, "VMX_IGS_CR4_PCIDE", "CR4.PCIDE set for 32-bit guest"),
    (511, "VMX_IGS_DR7_RESERVED", "VMCS' DR7 reserved bits not set to 0"),
    (512, "VMX_IGS_PERF_GLOBAL_MSR_RESERVED", "VMCS' PERF_GLOBAL MSR reserved bits not set to 0"),
    (513, "VMX_IGS_EFER_MSR_RESERVED", "VMCS' EFER MSR reserved bits not set to 0"),
    (514, "VMX_IGS_EFER_LMA_GUEST_MODE_MISMATCH", "VMCS' EFER MSR.LMA does not match the IA32e mode guest control"),
    (515, "VMX_IGS_EFER_LMA_LME_MISMATCH", "VMCS' EFER MSR.LMA does not match EFER.LME of the guest when using paging without unrestricted guest"),
    (516, "VMX_IGS_CS_ATTR_P_INVALID", "CS.Attr.P bit invalid"),
    (517, "VMX_IGS_CS_ATTR_RESERVED", "CS.Attr reserved bits not set to 0"),
    (518, "VMX_IGS_CS_ATTR_G_INVALID", "CS.Attr.G bit invalid"),
    (519, "VMX_IGS_CS_ATTR_UNUSABLE", "CS is unusable"),
    (520, "VMX_IGS_CS_SS_ATTR_DPL_UNEQUAL", "CS and SS DPL unequal"),
    (521, "VMX_IGS_CS_SS_ATTR_DPL_MISMATCH", "CS and SS DPL mismatch"),
    (522, "VMX_IGS_CS_ATTR_TYPE_INVALID", "CS Attr.Type invalid"),
    (523, "VMX_IGS_SS_CS_RPL_UNEQUAL", "CS and SS RPL unequal"),
    (524, "VMX_IGS_SS_ATTR_DPL_RPL_UNEQUAL", "SS.Attr.DPL and SS RPL unequal"),
    (525, "VMX_IGS_SS_ATTR_DPL_INVALID", "SS.Attr.DPL invalid for segment type"),
    (526, "VMX_IGS_SS_ATTR_TYPE_INVALID", "SS.Attr.Type invalid"),
    (527, "VMX_IGS_SS_ATTR_P_INVALID", "SS.Attr.P bit invalid"),
    (528, "VMX_IGS_SS_ATTR_RESERVED", "SS.Attr reserved bits not set to 0"),
    (529, "VMX_IGS_SS_ATTR_G_INVALID", "SS.Attr.G bit invalid"),
    (530, "VMX_IGS_DS_ATTR_A_INVALID", "DS.Attr.A bit invalid"),
    (531, "VMX_IGS_DS_ATTR_P_INVALID", "DS.Attr.P bit invalid"),
    (532, "VMX_IGS_DS_ATTR_DPL_RPL_UNEQUAL", "DS.Attr.DPL and DS RPL unequal"),
    (533, "VMX_IGS_DS_ATTR_RESERVED", "DS.Attr reserved bits not set to 0"),
    (534, "VMX_IGS_DS_ATTR_G_INVALID", "DS.Attr.G bit invalid"),
    (535, "VMX_IGS_DS_ATTR_TYPE_INVALID", "DS.Attr.Type invalid"),
    (536, "VMX_IGS_ES_ATTR_A_INVALID", "ES.Attr.A bit invalid"),
    (537, "VMX_IGS_ES_ATTR_P_INVALID", "ES.Attr.P bit invalid"),
    (538, "VMX_IGS_ES_ATTR_DPL_RPL_UNEQUAL", "ES.Attr.DPL and ES RPL unequal"),
    (539, "VMX_IGS_ES_ATTR_RESERVED", "ES.Attr reserved bits not set to 0"),
    (540, "VMX_IGS_ES_ATTR_G_INVALID", "ES.Attr.G bit invalid"),
    (541, "VMX_IGS_ES_ATTR_TYPE_INVALID", "ES.Attr.Type invalid"),
    (542, "VMX_IGS_FS_ATTR_A_INVALID", "FS.Attr.A bit invalid"),
    (543, "VMX_IGS_FS_ATTR_P_INVALID", "FS.Attr.P bit invalid"),
    (544, "VMX_IGS_FS_ATTR_DPL_RPL_UNEQUAL", "FS.Attr.DPL and FS RPL unequal"),
    (545, "VMX_IGS_FS_ATTR_RESERVED", "FS.Attr reserved bits not set to 0"),
    (546, "VMX_IGS_FS_ATTR_G_INVALID", "FS.Attr.G bit invalid"),
    (547, "VMX_IGS_FS_ATTR_TYPE_INVALID", "FS.Attr.Type invalid"),
    (548, "VMX_IGS_GS_ATTR_A_INVALID", "GS.Attr.A bit invalid"),
    (549, "VMX_IGS_GS_ATTR_P_INVALID", "GS.Attr.P bit invalid"),
    (550, "VMX_IGS_GS_ATTR_DPL_RPL_UNEQUAL", "GS.Attr.DPL and GS RPL unequal"),
    (551, "VMX_IGS_GS_ATTR_RESERVED", "GS.Attr reserved bits not set to 0"),
    (552, "VMX_IGS_GS_ATTR_G_INVALID", "GS.Attr.G bit invalid"),
    (553, "VMX_IGS_GS_ATTR_TYPE_INVALID", "GS.Attr.Type invalid"),
    (554, "VMX_IGS_V86_CS_BASE_INVALID", "V86 mode CS.Base invalid"),
    (555, "VMX_IGS_V86_CS_LIMIT_INVALID", "V86 mode CS.Limit invalid"),
    (556, "VMX_IGS_V86_CS_ATTR_INVALID", "V86 mode CS.Attr invalid"),
    (557, "VMX_IGS_V86_SS_BASE_INVALID", "V86 mode SS.Base invalid"),
    (558, "VMX_IGS_V86_SS_LIMIT_INVALID", "V86 mode SS.Limit invalid"),
    (559, "VMX_IGS_V86_SS_ATTR_INVALID", "V86 mode SS.Attr invalid"),
    (560, "VMX_IGS_V86_DS_BASE_INVALID", "V86 mode DS.Base invalid"),
    (561, "VMX_IGS_V86_DS_LIMIT_INVALID", "V86 mode DS.Limit invalid"),
    (562, "VMX_IGS_V86_DS_ATTR_INVALID", "V86 mode DS.Attr invalid"),
    (563, "VMX_IGS_V86_ES_BASE_INVALID", "V86 mode ES.Base invalid"),
    (564, "VMX_IGS_V86_ES_LIMIT_INVALID", "V86 mode ES.Limit invalid"),
    (565, "VMX_IGS_V86_ES_ATTR_INVALID", "V86 mode ES.Attr invalid"),
    (566, "VMX_IGS_V86_FS_BASE_INVALID", "V86 mode FS.Base invalid"),
    (567, "VMX_IGS_V86_FS_LIMIT_INVALID", "V86 mode FS.Limit invalid"),
    (568, "VMX_IGS_V86_FS_ATTR_INVALID", "V86 mode FS.Attr invalid"),
    (569, "VMX_IGS_V86_GS_BASE_INVALID", "V86 mode GS.Base invalid"),
    (570, "VMX_IGS_V86_GS_LIMIT_INVALID", "V86 mode GS.Limit invalid"),
    (571, "VMX_IGS_V86_GS_ATTR_INVALID", "V86 mode GS.Attr invalid"),
    (572, "VMX_IGS_LONGMODE_CS_BASE_INVALID", "Longmode CS.Base invalid"),
    (573, "VMX_IGS_LONGMODE_SS_BASE_INVALID", "Longmode SS.Base invalid"),
    (574, "VMX_IGS_LONGMODE_DS_BASE_INVALID", "Longmode DS.Base invalid"),
    (575, "VMX_IGS_LONGMODE_ES_BASE_INVALID", "Longmode ES.Base invalid"),
    (576, "VMX_IGS_SYSENTER_ESP_NOT_CANONICAL", "SYSENTER ESP is not canonical"),
    (577, "VMX_IGS_SYSENTER_EIP_NOT_CANONICAL", "SYSENTER EIP is not canonical"),
    (578, "VMX_IGS_PAT_MSR_INVALID", "PAT MSR invalid"),
    (579, "VMX_IGS_PAT_MSR_RESERVED", "PAT MSR reserved bits not set to 0"),
    (580, "VMX_IGS_GDTR_BASE_NOT_CANONICAL", "GDTR.Base is not canonical"),
    (581, "VMX_IGS_IDTR_BASE_NOT_CANONICAL", "IDTR.Base is not canonical"),
    (582, "VMX_IGS_GDTR_LIMIT_INVALID", "GDTR.Limit invalid"),
    (583, "VMX_IGS_IDTR_LIMIT_INVALID", "IDTR.Limit invalid"),
    (584, "VMX_IGS_LONGMODE_RIP_INVALID", "Longmode RIP is invalid"),
    (585, "VMX_IGS_RFLAGS_RESERVED", "RFLAGS reserved bits not set to 0"),
    (586, "VMX_IGS_RFLAGS_RESERVED1", "RFLAGS RA1 reserved bits not set to 1"),
    (587, "VMX_IGS_RFLAGS_VM_INVALID", "RFLAGS.VM (V86 mode) invalid"),
    (588, "VMX_IGS_RFLAGS_IF_INVALID", "RFLAGS.IF invalid"),
    (589, "VMX_IGS_ACTIVITY_STATE_INVALID", "Activity state invalid"),
    (590, "VMX_IGS_ACTIVITY_STATE_HLT_INVALID", "Activity state HLT invalid when SS.Attr.DPL is not zero"),
    (591, "VMX_IGS_ACTIVITY_STATE_ACTIVE_INVALID", "Activity state ACTIVE invalid when block-by-STI or MOV SS"),
    (592, "VMX_IGS_ACTIVITY_STATE_SIPI_WAIT_INVALID", "Activity state SIPI WAIT invalid"),
    (593, "VMX_IGS_INTERRUPTIBILITY_STATE_RESERVED", "Interruptibility state reserved bits not set to 0"),
    (594, "VMX_IGS_INTERRUPTIBILITY_STATE_STI_MOVSS_INVALID", "Interruptibility state cannot be block-by-STI -and- MOV SS"),
    (595, "VMX_IGS_INTERRUPTIBILITY_STATE_STI_EFL_INVALID", "Interruptibility state block-by-STI invalid for EFLAGS"),
    (596, "VMX_IGS_INTERRUPTIBILITY_STATE_EXT_INT_INVALID", "Interruptibility state invalid while trying to deliver external interrupt"),
    (597, "VMX_IGS_INTERRUPTIBILITY_STATE_MOVSS_INVALID", "Interruptibility state block-by-MOVSS invalid while trying to deliver an NMI"),
    (598, "VMX_IGS_INTERRUPTIBILITY_STATE_SMI_INVALID", "Interruptibility state block-by-SMI invalid when CPU is not in SMM"),
    (599, "VMX_IGS_INTERRUPTIBILITY_STATE_SMI_SMM_INVALID", "Interruptibility state block-by-SMI invalid when trying to enter SMM"),
    (600, "VMX_IGS_INTERRUPTIBILITY_STATE_STI_INVALID", "Interruptibility state block-by-STI (maybe) invalid when trying to deliver an NMI"),
    (601, "VMX_IGS_INTERRUPTIBILITY_STATE_NMI_INVALID", "Interruptibility state block-by-NMI invalid when virtual-NMIs control is active"),
    (602, "VMX_IGS_PENDING_DEBUG_RESERVED", "Pending debug exceptions reserved bits not set to 0"),
    (603, "VMX_IGS_LONGMODE_PENDING_DEBUG_RESERVED", "Longmode pending debug exceptions reserved bits not set to 0"),
    (604, "VMX_IGS_PENDING_DEBUG_XCPT_BS_NOT_SET", "Pending debug exceptions.BS bit is not set when it should be"),
    (605, "VMX_IGS_PENDING_DEBUG_XCPT_BS_NOT_CLEAR", "Pending debug exceptions.BS bit is not clear when it should be"),
    (606, "VMX_IGS_VMCS_LINK_PTR_RESERVED", "VMCS link pointer reserved bits not set to 0"),
    (607, "VMX_IGS_TR_TI_INVALID", "TR cannot index into LDT, TI bit MBZ"),
    (608, "VMX_IGS_LDTR_TI_INVALID", "LDTR cannot index into LDT. TI bit MBZ"),
    (609, "VMX_IGS_TR_BASE_NOT_CANONICAL", "TR.Base is not canonical"),
    (610, "VMX_IGS_FS_BASE_NOT_CANONICAL", "FS.Base is not canonical"),
    (611, "VMX_IGS_GS_BASE_NOT_CANONICAL", "GS.Base is not canonical"),
    (612, "VMX_IGS_LDTR_BASE_NOT_CANONICAL", "LDTR.Base is not canonical"),
    (613, "VMX_IGS_TR_ATTR_UNUSABLE", "TR is unusable"),
    (614, "VMX_IGS_TR_ATTR_S_INVALID", "TR.Attr.S bit invalid"),
    (615, "VMX_IGS_TR_ATTR_P_INVALID", "TR is not present"),
    (616, "VMX_IGS_TR_ATTR_RESERVED", "TR.Attr reserved bits not set to 0"),
    (617, "VMX_IGS_TR_ATTR_G_INVALID", "TR.Attr.G bit invalid"),
    (618, "VMX_IGS_LONGMODE_TR_ATTR_TYPE_INVALID", "Longmode TR.Attr.Type invalid"),
    (619, "VMX_IGS_TR_ATTR_TYPE_INVALID", "TR.Attr.Type invalid"),
    (620, "VMX_IGS_CS_ATTR_S_INVALID", "CS.Attr.S invalid"),
    (621, "VMX_IGS_CS_ATTR_DPL_INVALID", "CS.Attr.DPL invalid"),
    (623, "VMX_IGS_PAE_PDPTE_RESERVED", "PAE PDPTE reserved bits not set to 0"),
    (624, "VMX_IGS_VMCS_LINK_PTR_NOT_SHADOW", "VMCS link pointer does not point to a shadow VMCS"),
    (625, "VMX_IGS_VMCS_LINK_PTR_SHADOW_VMCS_ID_INVALID", "VMCS link pointer to a shadow VMCS with invalid VMCS revision identifier"),
];

/// The `VMX_IGS_*` entry of `code`.
#[must_use]
pub fn vmx_igs(code: u32) -> Option<(&'static str, &'static str)> {
    VMX_IGS
        .binary_search_by_key(&code, |(c, _, _)| *c)
        .ok()
        .map(|i| (VMX_IGS[i].1, VMX_IGS[i].2))
}

/// The `HM error = 0x23a (570)` line: its code, when it is one of `VMX_IGS_*`. Other
/// HM errors (0 when none, the `VMX_VCI_*` control-field codes) are not read.
#[must_use]
pub fn parse(line: &str) -> Option<u32> {
    let at = line.find("HM error")?;
    let rest = line[at + "HM error".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let hex = rest.split_whitespace().next()?;
    let code = u32::from_str_radix(hex.strip_prefix("0x")?, 16).ok()?;
    vmx_igs(code).map(|_| code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_names_each_code_once() {
        assert!(VMX_IGS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(VMX_IGS.len(), 125);
        assert_eq!(
            vmx_igs(570).map(|e| e.0),
            Some("VMX_IGS_V86_GS_LIMIT_INVALID")
        );
        assert_eq!(vmx_igs(622), None);
    }

    #[test]
    fn the_hm_error_line_is_read_when_it_is_a_guest_state_code() {
        assert_eq!(
            parse("00:00:05.485406   HM error           = 0x23a (570)"),
            Some(570)
        );
        assert_eq!(parse("  HM error = 0x0 (0)"), None);
        assert_eq!(parse("  HM error = 0x12d (301)"), None);
        assert_eq!(parse("HM error: nothing"), None);
    }
}
