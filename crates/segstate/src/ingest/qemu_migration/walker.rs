//! The section walker: stream header, sections, RAM skipped as it passes, `cpu`
//! sections kept for decoding.

use super::*;

/// A `START` section still open for `PART`/`END`: its header.
#[derive(Clone)]
pub(super) struct Live {
    pub(super) section_id: u32,
    pub(super) idstr: String,
    pub(super) instance: u32,
    pub(super) version: u32,
}

/// A `FULL` section, to be checked against the description.
pub(super) struct Full {
    pub(super) section: usize,
    pub(super) data: Option<Vec<u8>>,
}

pub(super) struct Walker<R> {
    pub(super) input: Input<R>,
    /// What the walk has found so far; `cpus`, `has_description` and `stream_len` are
    /// filled in at its end.
    pub(super) summary: MigrationSummary,
    pub(super) live: Vec<Live>,
    pub(super) full: Vec<Full>,
    pub(super) kept: usize,
    /// The RAM block of the last page, for `RAM_SAVE_FLAG_CONTINUE`.
    pub(super) have_ram_block: bool,
    /// In a mapped-ram stream, the file offset of the stream's first byte, as the first
    /// RAM block's header placed it (see `ram_blocks`).
    pub(super) mapped_ram_base: Option<u64>,
}

impl<R: Read> Walker<R> {
    pub(super) fn new(reader: R) -> Self {
        Walker {
            input: Input::new(reader),
            summary: MigrationSummary {
                version: 0,
                machine: None,
                capabilities: Vec::new(),
                page_size: 1 << DEFAULT_PAGE_BITS,
                sections: Vec::new(),
                ram_total: 0,
                ram_bytes_skipped: 0,
                cpus: Vec::new(),
                has_description: false,
                max_buffered: READ_BUF,
                stream_len: 0,
            },
            live: Vec::new(),
            full: Vec::new(),
            kept: 0,
            have_ram_block: false,
            mapped_ram_base: None,
        }
    }

    pub(super) fn run(mut self) -> Result<MigrationSummary, MigrationError> {
        let magic = self.input.be32("the file magic")?;
        if magic != QEMU_VM_FILE_MAGIC {
            return Err(error(
                0,
                format!(
                    "not a QEMU migration stream: magic {magic:#010x}, expected {QEMU_VM_FILE_MAGIC:#010x} (\"QEVM\")"
                ),
            ));
        }
        let version = self.input.be32("the stream version")?;
        if version == QEMU_VM_FILE_VERSION_COMPAT {
            return Err(error(
                4,
                "stream version 2 (QEMU_VM_FILE_VERSION_COMPAT) is obsolete; QEMU refuses it too",
            ));
        }
        if version != QEMU_VM_FILE_VERSION {
            return Err(error(
                4,
                format!("unsupported stream version {version}, expected {QEMU_VM_FILE_VERSION}"),
            ));
        }
        self.summary.version = version;
        if self.input.peek_byte()? == Some(QEMU_VM_CONFIGURATION) {
            self.input.skip(1, "the configuration section")?;
            self.configuration()?;
        }
        loop {
            let at = self.input.offset;
            let Some(ty) = self.input.peek_byte()? else {
                return Err(error(
                    at,
                    "stream ends without QEMU_VM_EOF (truncated after a section)",
                ));
            };
            self.input.skip(1, "a section type")?;
            match ty {
                QEMU_VM_SECTION_START | QEMU_VM_SECTION_FULL => self.start_or_full(ty, at)?,
                QEMU_VM_SECTION_PART | QEMU_VM_SECTION_END => self.part_or_end(ty, at)?,
                QEMU_VM_COMMAND => self.command(at)?,
                QEMU_VM_EOF => break,
                other => {
                    return Err(error(
                        at,
                        format!("expected a section type (0x00-0x04, 0x08), found {other:#04x}"),
                    ));
                }
            }
        }
        if self.input.peek_byte()? == Some(QEMU_VM_VMDESCRIPTION) {
            let at = self.input.offset;
            self.input.skip(1, "the description type")?;
            let len = self.input.be32("the description length")?;
            if len > MAX_DESCRIPTION {
                return Err(error(
                    at + 1,
                    format!("description length {len} exceeds the limit of {MAX_DESCRIPTION}"),
                ));
            }
            self.summary.cpus = self.description(u64::from(len))?;
            self.summary.has_description = true;
        }
        self.summary.stream_len = self.input.offset;
        Ok(self.summary)
    }

    /// `vmstate_configuration` (migration/savevm.c).
    pub(super) fn configuration(&mut self) -> Result<(), MigrationError> {
        let at = self.input.offset;
        let len = self.input.be32("the machine type length")?;
        if len > MAX_MACHINE_NAME {
            return Err(error(
                at,
                format!("machine type length {len} exceeds the limit of {MAX_MACHINE_NAME}"),
            ));
        }
        let mut name = vec![0; len as usize];
        self.input.read_into(&mut name, "the machine type")?;
        self.summary.machine = Some(String::from_utf8_lossy(&name).into_owned());
        while self.input.peek_byte()? == Some(QEMU_VM_SUBSECTION) {
            let at = self.input.offset;
            self.input.skip(1, "a subsection")?;
            let sub = self.input.short_string("a subsection name")?;
            let _version = self.input.be32("a subsection version")?;
            match sub.as_str() {
                "configuration/target-page-bits" => {
                    let bits = self.input.be32("target_page_bits")?;
                    if !(9..=20).contains(&bits) {
                        return Err(error(at, format!("target page bits {bits} outside 9..=20")));
                    }
                    self.summary.page_size = 1 << bits;
                }
                "configuration/capabilities" => {
                    let count = self.input.be32("caps_count")?;
                    if count > 256 {
                        return Err(error(
                            at,
                            format!("{count} capabilities exceeds the limit of 256"),
                        ));
                    }
                    for _ in 0..count {
                        let cap_at = self.input.offset;
                        let cap = self.input.short_string("a capability name")?;
                        if !FORMAT_CAPABILITIES.contains(&cap.as_str()) {
                            return Err(error(
                                cap_at,
                                format!(
                                    "capability \"{cap}\" changes the stream's format in a way \
                                     segstate does not read (it reads {})",
                                    FORMAT_CAPABILITIES.join(", ")
                                ),
                            ));
                        }
                        self.summary.capabilities.push(cap);
                    }
                }
                "configuration/uuid" => self.input.skip(16, "the VM UUID")?,
                other => {
                    return Err(error(
                        at,
                        format!("unknown configuration subsection \"{other}\""),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) fn push_section(&mut self, info: SectionInfo) -> Result<usize, MigrationError> {
        if self.summary.sections.len() >= MAX_SECTIONS {
            return Err(error(
                info.offset,
                format!("more than {MAX_SECTIONS} sections"),
            ));
        }
        self.summary.sections.push(info);
        Ok(self.summary.sections.len() - 1)
    }

    /// Records the header of a section of `kind` at `at`; its data length comes later.
    fn record(
        &mut self,
        header: &Live,
        kind: SectionKind,
        at: u64,
    ) -> Result<usize, MigrationError> {
        self.push_section(SectionInfo {
            idstr: header.idstr.clone(),
            instance: header.instance,
            version: header.version,
            section_id: header.section_id,
            offset: at,
            kind,
            data_len: 0,
            described: false,
        })
    }

    /// The data of a `START`, `PART` or `END` section: RAM's own encoding, anything
    /// else skipped to its footer. Its length goes into the section's record.
    fn live_data(&mut self, index: usize, header: &Live, at: u64) -> Result<(), MigrationError> {
        let data_len = if header.idstr == "ram" {
            self.ram(header.section_id, header.version, at)?
        } else {
            self.read_to_footer(header.section_id, None)?
        };
        self.summary.sections[index].data_len = data_len;
        Ok(())
    }

    pub(super) fn start_or_full(&mut self, ty: u8, at: u64) -> Result<(), MigrationError> {
        let header = Live {
            section_id: self.input.be32("a section id")?,
            idstr: self.input.short_string("a section idstr")?,
            instance: self.input.be32("an instance id")?,
            version: self.input.be32("a version id")?,
        };
        let section_id = header.section_id;
        let kind = if ty == QEMU_VM_SECTION_START {
            SectionKind::Start
        } else {
            SectionKind::Full
        };
        let index = self.record(&header, kind, at)?;
        if kind == SectionKind::Start {
            if self.live.iter().any(|l| l.section_id == section_id) {
                return Err(error(at, format!("section id {section_id} started twice")));
            }
            self.live.push(header.clone());
            self.live_data(index, &header, at)?;
        } else {
            let mut keep = (header.idstr == "cpu").then(Vec::new);
            let data_len = self.read_to_footer(section_id, keep.as_mut())?;
            self.summary.sections[index].data_len = data_len;
            self.full.push(Full {
                section: index,
                data: keep,
            });
        }
        Ok(())
    }

    pub(super) fn part_or_end(&mut self, ty: u8, at: u64) -> Result<(), MigrationError> {
        let section_id = self.input.be32("a section id")?;
        let Some(header) = self
            .live
            .iter()
            .find(|l| l.section_id == section_id)
            .cloned()
        else {
            return Err(error(
                at,
                format!("section id {section_id} continues a section that never started"),
            ));
        };
        let kind = if ty == QEMU_VM_SECTION_PART {
            SectionKind::Part
        } else {
            SectionKind::End
        };
        let index = self.record(&header, kind, at)?;
        self.live_data(index, &header, at)
    }

    pub(super) fn command(&mut self, at: u64) -> Result<(), MigrationError> {
        let cmd = self.input.be16("a command")?;
        let len = self.input.be16("a command length")?;
        if cmd == MIG_CMD_PACKAGED {
            return Err(error(
                at,
                "postcopy package (MIG_CMD_PACKAGED) is not supported",
            ));
        }
        self.input.skip(u64::from(len), "a command's data")
    }

    /// Reads an optional footer after a RAM section.
    pub(super) fn ram_footer(&mut self, section_id: u32) -> Result<(), MigrationError> {
        if self.input.peek_byte()? == Some(QEMU_VM_SECTION_FOOTER) {
            let at = self.input.offset;
            self.input.skip(1, "a section footer")?;
            let id = self.input.be32("a section footer")?;
            if id != section_id {
                return Err(error(
                    at,
                    format!("footer names section {id}, expected {section_id}"),
                ));
            }
        }
        Ok(())
    }

    /// A `ram` section's data up to `RAM_SAVE_FLAG_EOS` (migration/ram.c
    /// `ram_load_precopy`), then its footer. Returns the data length.
    pub(super) fn ram(
        &mut self,
        section_id: u32,
        version: u32,
        at: u64,
    ) -> Result<u64, MigrationError> {
        if version != 4 {
            return Err(error(
                at,
                format!("ram section version {version}, expected 4"),
            ));
        }
        let data_start = self.input.offset;
        let page_mask = self.summary.page_size - 1;
        loop {
            let word_at = self.input.offset;
            let word = self.input.be64("a RAM page address")?;
            let flags = word & page_mask;
            let addr = word & !page_mask;
            let page_flags = RAM_SAVE_FLAG_ZERO
                | RAM_SAVE_FLAG_PAGE
                | RAM_SAVE_FLAG_COMPRESS_PAGE
                | RAM_SAVE_FLAG_XBZRLE;
            if self.mapped_ram() && flags & MAPPED_RAM_INVALID_FLAGS != 0 {
                return Err(error(
                    word_at,
                    format!(
                        "RAM flags {:#x} in a mapped-ram stream, whose pages lie at fixed \
                         offsets after each block's header: QEMU refuses them too \
                         (ram_load_precopy)",
                        flags & MAPPED_RAM_INVALID_FLAGS
                    ),
                ));
            }
            if flags & page_flags != 0 {
                if flags & RAM_SAVE_FLAG_CONTINUE == 0 {
                    self.input.short_string("a RAM block idstr")?;
                    self.have_ram_block = true;
                } else if !self.have_ram_block {
                    return Err(error(
                        word_at,
                        "RAM_SAVE_FLAG_CONTINUE before any RAM block was named",
                    ));
                }
            }
            match flags & !RAM_SAVE_FLAG_CONTINUE {
                RAM_SAVE_FLAG_MEM_SIZE => self.ram_blocks(addr, word_at)?,
                RAM_SAVE_FLAG_ZERO => {
                    self.input.skip(1, "a zero page's fill byte")?;
                    self.summary.ram_bytes_skipped += 1;
                }
                RAM_SAVE_FLAG_PAGE => {
                    self.input.skip(self.summary.page_size, "a RAM page")?;
                    self.summary.ram_bytes_skipped += self.summary.page_size;
                }
                RAM_SAVE_FLAG_COMPRESS_PAGE => {
                    let len = self.input.be32("a compressed page length")?;
                    // compressBound(TARGET_PAGE_SIZE) is a little over the page size.
                    if u64::from(len) > 2 * self.summary.page_size + 64 {
                        return Err(error(
                            word_at,
                            format!("compressed page length {len} exceeds twice the page size"),
                        ));
                    }
                    self.input.skip(u64::from(len), "a compressed page")?;
                    self.summary.ram_bytes_skipped += u64::from(len);
                }
                RAM_SAVE_FLAG_XBZRLE => {
                    let enc = self.input.u8("an XBZRLE header")?;
                    if enc != ENCODING_FLAG_XBZRLE {
                        return Err(error(
                            word_at,
                            format!("XBZRLE encoding flag {enc:#04x}, expected 0x01"),
                        ));
                    }
                    let len = self.input.be16("an XBZRLE length")?;
                    if u64::from(len) > self.summary.page_size {
                        return Err(error(
                            word_at,
                            format!("XBZRLE length {len} exceeds the page size"),
                        ));
                    }
                    self.input.skip(u64::from(len), "XBZRLE data")?;
                    self.summary.ram_bytes_skipped += u64::from(len);
                }
                RAM_SAVE_FLAG_EOS => break,
                RAM_SAVE_FLAG_MULTIFD_FLUSH => {}
                RAM_SAVE_FLAG_HOOK => {
                    return Err(error(
                        word_at,
                        "RAM_SAVE_FLAG_HOOK is RDMA-only and invalid in a stream",
                    ));
                }
                RAM_SAVE_FLAG_FULL => {
                    return Err(error(
                        word_at,
                        "RAM_SAVE_FLAG_FULL has been obsolete since 2009",
                    ));
                }
                other => {
                    return Err(error(
                        word_at,
                        format!("unknown RAM flags {other:#x} in word {word:#018x}"),
                    ));
                }
            }
        }
        let data_len = self.input.offset - data_start;
        self.ram_footer(section_id)?;
        Ok(data_len)
    }

    /// Reads a non-RAM section's data up to its footer `0x7e be32 section_id`, keeping it
    /// in `keep` if given. Returns the data length.
    pub(super) fn read_to_footer(
        &mut self,
        section_id: u32,
        mut keep: Option<&mut Vec<u8>>,
    ) -> Result<u64, MigrationError> {
        let start = self.input.offset;
        let footer = {
            let id = section_id.to_be_bytes();
            [QEMU_VM_SECTION_FOOTER, id[0], id[1], id[2], id[3]]
        };
        let mut window = [0u8; 5];
        let mut len: u64 = 0;
        loop {
            let b = match self.input.peek_byte()? {
                Some(b) => b,
                None => {
                    return Err(error(
                        start,
                        format!(
                            "stream ends at offset {:#x} before the footer of section {section_id} (0x7e {section_id:#010x})",
                            self.input.offset
                        ),
                    ));
                }
            };
            self.input.skip(1, "section data")?;
            len += 1;
            window.copy_within(1.., 0);
            window[4] = b;
            if let Some(buf) = keep.as_deref_mut() {
                if len > MAX_KEPT_SECTION {
                    return Err(error(
                        start,
                        format!("section longer than {MAX_KEPT_SECTION} bytes without a footer"),
                    ));
                }
                buf.push(b);
                self.kept += 1;
                self.summary.max_buffered = self.summary.max_buffered.max(READ_BUF + self.kept);
            }
            if len >= 5 && window == footer && self.next_is_plausible()? {
                if let Some(buf) = keep {
                    buf.truncate(buf.len() - 5);
                    buf.shrink_to_fit();
                    self.kept -= 5;
                }
                return Ok(len - 5);
            }
        }
    }

    /// After a candidate footer: does what follows parse as the next item?
    pub(super) fn next_is_plausible(&mut self) -> Result<bool, MigrationError> {
        let live: Vec<u32> = self.live.iter().map(|l| l.section_id).collect();
        let ahead = self.input.peek(PEEK_MAX)?;
        let Some(&ty) = ahead.first() else {
            // End of input right after a footer: accept, the caller reports the missing EOF.
            return Ok(true);
        };
        let be32 = |at: usize| -> Option<u32> {
            ahead
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        Ok(match ty {
            QEMU_VM_SECTION_START | QEMU_VM_SECTION_FULL => {
                let Some(len) = ahead.get(5).map(|&l| usize::from(l)) else {
                    return Ok(false);
                };
                len > 0
                    && ahead
                        .get(6..6 + len)
                        .is_some_and(|s| s.iter().all(|c| (0x20..0x7f).contains(c)))
                    && ahead.len() >= 6 + len + 8
            }
            QEMU_VM_SECTION_PART | QEMU_VM_SECTION_END => {
                be32(1).is_some_and(|id| live.contains(&id))
            }
            QEMU_VM_EOF => matches!(ahead.get(1), None | Some(&QEMU_VM_VMDESCRIPTION)),
            QEMU_VM_COMMAND => ahead.len() >= 5,
            _ => false,
        })
    }

    /// Reads the JSON description (streamed, one device entry at a time), checks every
    /// `FULL` section's length against it and decodes the `cpu` sections.
    pub(super) fn description(&mut self, len: u64) -> Result<Vec<MigrationCpu>, MigrationError> {
        let full = core::mem::take(&mut self.full);
        let sections = &mut self.summary.sections;
        let mut cpus = Vec::new();
        let mut next = 0usize;
        let mut json = Json {
            input: &mut self.input,
            left: len,
            nodes: 0,
        };
        let mut process = |device: &Value, at: u64| -> Result<(), MigrationError> {
            let Some(f) = full.get(next) else {
                return Err(error(
                    at,
                    format!(
                        "description lists more devices than the stream's {} FULL sections",
                        full.len()
                    ),
                ));
            };
            next += 1;
            let info = &mut sections[f.section];
            let name = device.get("name").and_then(Value::as_str).unwrap_or("");
            let instance = device.get("instance_id").and_then(Value::as_u64);
            if name != info.idstr || instance != Some(u64::from(info.instance)) {
                return Err(error(
                    at,
                    format!(
                        "description entry {name:?} instance {instance:?} does not match section \"{}\" instance {} at offset {:#x}",
                        info.idstr, info.instance, info.offset
                    ),
                ));
            }
            let mut layout = Layout {
                data: f.data.as_deref(),
                limit: info.data_len,
                leaves: f.data.as_ref().map(|_| Vec::new()),
                subsections: f.data.as_ref().map(|_| Vec::new()),
            };
            let mut pos = 0;
            layout.vmsd(device, &mut pos, "").map_err(|m| {
                error(
                    info.offset,
                    format!("section \"{}\" instance {}: {m}", info.idstr, info.instance),
                )
            })?;
            if pos != info.data_len {
                return Err(error(
                    info.offset,
                    format!(
                        "section \"{}\" instance {} has {} bytes of data but its description adds up to {pos}",
                        info.idstr, info.instance, info.data_len
                    ),
                ));
            }
            info.described = true;
            if let (Some(data), Some(leaves), Some(subsections)) =
                (layout.data, &layout.leaves, &layout.subsections)
            {
                cpus.push(decode_cpu(info, data, leaves, subsections)?);
            }
            Ok(())
        };
        json.expect(b'{')?;
        if !json.eat(b'}')? {
            loop {
                let key = json.string()?;
                json.expect(b':')?;
                if key == "devices" {
                    json.expect(b'[')?;
                    if !json.eat(b']')? {
                        loop {
                            json.skip_ws()?;
                            let at = json.input.offset;
                            json.nodes = 0;
                            let device = json.value(0)?;
                            process(&device, at)?;
                            if json.eat(b',')? {
                                continue;
                            }
                            json.expect(b']')?;
                            break;
                        }
                    }
                } else {
                    json.nodes = 0;
                    json.value(0)?;
                }
                if json.eat(b',')? {
                    continue;
                }
                json.expect(b'}')?;
                break;
            }
        }
        json.skip_ws()?;
        if json.left > 0 {
            let at = json.input.offset;
            return Err(error(
                at,
                format!("{} bytes after the description's JSON object", json.left),
            ));
        }
        if next != full.len() {
            let at = self.input.offset;
            return Err(error(
                at,
                format!(
                    "description lists {next} devices but the stream has {} FULL sections",
                    full.len()
                ),
            ));
        }
        Ok(cpus)
    }
}

// ---------------------------------------------------------------------------------------
// The description: a small streaming JSON reader.
