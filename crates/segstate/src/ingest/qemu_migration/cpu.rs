//! The `cpu` section decoded through the description's field layout.

use super::*;

/// One scalar field of a decoded section: its path (`env.segs[1].base`), offset and size.
pub(super) struct Leaf {
    pub(super) path: String,
    pub(super) offset: usize,
    pub(super) size: usize,
}

/// Why a vmstate description does not fit the section's data: the description's own
/// words (a field without a size, a struct whose parts do not add up, data run past).
#[derive(Debug)]
pub(super) struct DescriptionError(String);

impl From<&str> for DescriptionError {
    fn from(reason: &str) -> Self {
        DescriptionError(reason.into())
    }
}

impl From<String> for DescriptionError {
    fn from(reason: String) -> Self {
        DescriptionError(reason)
    }
}

impl fmt::Display for DescriptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for DescriptionError {}

pub(super) struct Layout<'d> {
    /// The section data, when it was kept.
    pub(super) data: Option<&'d [u8]>,
    /// The section's data length: nothing may lie beyond it.
    pub(super) limit: u64,
    /// Scalars found, when decoding.
    pub(super) leaves: Option<Vec<Leaf>>,
    /// The subsections found, by name in stream order, when decoding.
    pub(super) subsections: Option<Vec<String>>,
}

impl Layout<'_> {
    pub(super) fn advance(&self, pos: &mut u64, by: u64) -> Result<(), DescriptionError> {
        *pos = pos
            .checked_add(by)
            .filter(|&p| p <= self.limit)
            .ok_or_else(|| format!("description runs past the {} bytes of data", self.limit))?;
        Ok(())
    }

    /// A vmsd's `fields` then `subsections` (migration/vmstate.c `vmstate_save_state_v`,
    /// `vmstate_subsection_save`).
    pub(super) fn vmsd(
        &mut self,
        obj: &Value,
        pos: &mut u64,
        prefix: &str,
    ) -> Result<(), DescriptionError> {
        if let Some(fields) = obj.get("fields") {
            let fields = fields.as_array().ok_or("\"fields\" is not an array")?;
            for field in fields {
                self.field(field, pos, prefix)?;
            }
        }
        if let Some(subs) = obj.get("subsections") {
            let subs = subs.as_array().ok_or("\"subsections\" is not an array")?;
            for sub in subs {
                let name = sub
                    .get("vmsd_name")
                    .and_then(Value::as_str)
                    .ok_or("a subsection without \"vmsd_name\"")?;
                let at = *pos;
                self.advance(pos, 6 + name.len() as u64)?;
                if let Some(data) = self.data {
                    // `at` and `*pos` are within `limit`, the data's length.
                    let header = &data[at as usize..*pos as usize];
                    if header[0] != QEMU_VM_SUBSECTION
                        || usize::from(header[1]) != name.len()
                        || &header[2..2 + name.len()] != name.as_bytes()
                    {
                        return Err(DescriptionError(format!(
                            "subsection {name:?} expected at data offset {at:#x}"
                        )));
                    }
                }
                if let Some(names) = self.subsections.as_mut() {
                    names.push(String::from(name));
                }
                self.vmsd(sub, pos, prefix)?;
            }
        }
        Ok(())
    }

    pub(super) fn field(
        &mut self,
        field: &Value,
        pos: &mut u64,
        prefix: &str,
    ) -> Result<(), DescriptionError> {
        let name = field
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a field without \"name\"")?;
        let size = field
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("field {name:?} without \"size\""))?;
        let array_len = match field.get("array_len") {
            Some(n) => Some(
                n.as_u64()
                    .ok_or_else(|| format!("field {name:?} has a bad \"array_len\""))?,
            ),
            None => None,
        };
        let count = array_len.unwrap_or(1);
        let index = field.get("index").and_then(Value::as_u64);
        let structure = field.get("struct");
        if self.leaves.is_none() {
            // Measuring only: one element's layout stands for all.
            if let Some(st) = structure {
                let mut p = *pos;
                self.vmsd(st, &mut p, "")?;
                if p - *pos != size {
                    return Err(DescriptionError(format!(
                        "struct {name:?} adds up to {} bytes, its size says {size}",
                        p - *pos
                    )));
                }
            }
            let total = size
                .checked_mul(count)
                .ok_or_else(|| format!("field {name:?} size overflows"))?;
            return self.advance(pos, total);
        }
        if count > self.limit.max(1) {
            return Err(DescriptionError(format!(
                "field {name:?} has {count} elements"
            )));
        }
        for i in 0..count {
            let path = match (array_len, index) {
                (Some(_), _) => format!("{prefix}{name}[{i}]"),
                (None, Some(ix)) => format!("{prefix}{name}[{ix}]"),
                (None, None) => format!("{prefix}{name}"),
            };
            let start = *pos;
            if let Some(st) = structure {
                let mut p = start;
                self.vmsd(st, &mut p, &format!("{path}."))?;
                if p - start != size {
                    return Err(DescriptionError(format!(
                        "struct {path:?} adds up to {} bytes, its size says {size}",
                        p - start
                    )));
                }
            } else if let Some(leaves) = self.leaves.as_mut() {
                leaves.push(Leaf {
                    path,
                    offset: start as usize,
                    size: size as usize,
                });
            }
            self.advance(pos, size)?;
        }
        Ok(())
    }
}

/// Decodes one `cpu` section from its scalars and the names of its subsections.
pub(super) fn decode_cpu(
    info: &SectionInfo,
    data: &[u8],
    leaves: &[Leaf],
    subsections: &[String],
) -> Result<MigrationCpu, MigrationError> {
    let get = |path: &str| -> Result<Option<u64>, MigrationError> {
        let Some(leaf) = leaves.iter().find(|l| l.path == path) else {
            return Ok(None);
        };
        if leaf.size == 0 || leaf.size > 8 {
            return Err(error(
                info.offset,
                format!("cpu field {path} is {} bytes, not an integer", leaf.size),
            ));
        }
        // Leaves lie within the data: Layout::advance checked every one against its length.
        let bytes = data
            .get(leaf.offset..leaf.offset + leaf.size)
            .ok_or_else(|| {
                error(
                    info.offset,
                    format!("cpu field {path} lies outside the section"),
                )
            })?;
        Ok(Some(bytes.iter().fold(0u64, |v, &b| v << 8 | u64::from(b))))
    };
    let need = |path: &str| -> Result<u64, MigrationError> {
        get(path)?.ok_or_else(|| {
            error(
                info.offset,
                format!("cpu section instance {} has no field {path}", info.instance),
            )
        })
    };
    let need32 = |path: &str| -> Result<u32, MigrationError> {
        let v = need(path)?;
        u32::try_from(v).map_err(|_| {
            error(
                info.offset,
                format!("cpu field {path} = {v:#x} does not fit 32 bits"),
            )
        })
    };
    let mut segments = PerSegReg([QemuSegmentCache::default(); 8]);
    for (i, &reg) in SegReg::ALL.iter().enumerate() {
        let base = match reg {
            SegReg::Ldtr => String::from("env.ldt"),
            SegReg::Tr => String::from("env.tr"),
            _ => format!("env.segs[{i}]"),
        };
        segments[reg] = QemuSegmentCache {
            selector: need32(&format!("{base}.selector"))?,
            base: need(&format!("{base}.base"))?,
            limit: need32(&format!("{base}.limit"))?,
            flags: QemuFlags(need32(&format!("{base}.flags"))?),
        };
    }
    let hflags = need32("env.hflags")?;
    let table = |name: &str| -> Result<Option<DescriptorTable>, MigrationError> {
        let base = get(&format!("{name}.base"))?;
        let limit = get(&format!("{name}.limit"))?;
        Ok(base.zip(limit).map(|(base, limit)| DescriptorTable {
            base,
            // A vmstate_segment limit is a be32: it fits.
            limit: limit as u32,
        }))
    };
    let has = |name: &str| subsections.iter().any(|s| s == name);
    let pdptes = (0..4)
        .map(|i| get(&format!("env.pdptrs[{i}]")))
        .collect::<Result<Option<Vec<u64>>, _>>()?
        .and_then(|v| <[u64; 4]>::try_from(v).ok());
    Ok(MigrationCpu {
        instance: info.instance,
        offset: info.offset,
        cpl: (hflags & HF_CPL_MASK) as u8,
        hflags,
        segments,
        cr0: need("env.cr[0]")?,
        cr3: need("env.cr[3]")?,
        cr4: need("env.cr[4]")?,
        efer: get("env.efer")?.unwrap_or(0),
        rip: need("env.eip")?,
        rflags: need("env.eflags")?,
        dr6: get("env.dr[6]")?,
        dr7: get("env.dr[7]")?,
        pat: get("env.pat")?,
        sysenter_esp: get("env.sysenter_esp")?,
        sysenter_eip: get("env.sysenter_eip")?,
        gdtr: table("env.gdt")?,
        idtr: table("env.idt")?,
        // `cpu/mpx` is written only when IA32_BNDCFGS is not zero (machine.c `mpx_needed`).
        bndcfgs: get("env.msr_bndcfgs")?.unwrap_or(0),
        pdptes: if has(SUBSECTION_PDPTRS) { pdptes } else { None },
        vm_hsave: get("env.vm_hsave")?,
        nested_state_flags: if has(SUBSECTION_KVM_NESTED_STATE) {
            get("flags")?
        } else {
            None
        },
        subsections: subsections.to_vec(),
    })
}
