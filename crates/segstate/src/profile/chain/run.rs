//! Running a chain: one register ([`Chain::run_segment`], [`Chain::run_segment_into`]),
//! a batch of one register ([`Chain::run_batch`]), a whole vCPU ([`Chain::run`],
//! [`Chain::run_into`], [`Chain::run_migration`]), each through the compiled pipeline
//! when the chain has one, else its tables, else the interpreted ops, which stay the
//! reference the others are tested against (and which [`Chain::run_segment_observed`]
//! and [`Chain::run_migration`] always run, since they act between the ops).

use super::{Chain, Format, InFlight, Op, SegmentValue, VcpuSegments, WrongSourceFormat};
use crate::arch::{PerSegReg, PrivilegeLevel, SegReg};
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::profile::apply::{apply, apply_batch};
use crate::profile::qemu_modes;
use crate::profile::stack::StackValue;

impl Chain {
    /// Runs one register through the chain. `previous` is the VMM cache before the
    /// sync (read only by the thread's two designs). `observe` sees, after every
    /// conversion, the upstream function that ran (e.g. `"svm_get_segment"`) and the
    /// value it left.
    pub fn run_segment_observed(
        &self,
        reg: SegReg,
        input: InFlight,
        previous: &QemuSegmentCache,
        mut observe: impl FnMut(&'static str, &InFlight),
    ) -> Result<InFlight, WrongSourceFormat> {
        self.check_source(&input.value)?;
        let mut at = input;
        for &op in &self.ops {
            at = apply(op, reg, at, previous);
            observe(op.function(), &at);
        }
        Ok(at)
    }

    /// Runs one register through the chain: `input` in the chain's source format (else
    /// [`WrongSourceFormat`]), `previous` the VMM cache before the sync (read only by
    /// the 2017 thread's two designs).
    ///
    /// ```
    /// use segstate::arch::{PrivilegeLevel, SegReg};
    /// use segstate::format::kvm::KvmSegment;
    /// use segstate::format::qemu::QemuSegmentCache;
    /// use segstate::profile::{Chain, InFlight, SegmentValue};
    ///
    /// let chain: Chain = "verbatim > kvm-vmx".parse()?;
    /// // SS of a 32-bit user stack, as KVM_GET_SREGS gives it.
    /// let ss = KvmSegment {
    ///     selector: 0x2b,
    ///     limit: 0xffff_ffff,
    ///     type_: 3,
    ///     present: 1,
    ///     dpl: 3,
    ///     db: 1,
    ///     s: 1,
    ///     g: 1,
    ///     ..KvmSegment::default()
    /// };
    /// let input = InFlight { value: SegmentValue::Kvm(ss), vmcb_cpl: 0 };
    /// let out = chain.run_segment(SegReg::Ss, input, &QemuSegmentCache::default())?;
    /// let SegmentValue::Vmcs(vmcs) = out.value else { panic!("a VMCS segment") };
    /// assert_eq!(vmcs.access_rights.dpl(), PrivilegeLevel::Ring3); // the CPL survives
    ///
    /// // A value in another format is refused, not converted.
    /// let vmcs_in = InFlight { value: out.value, vmcb_cpl: 0 };
    /// assert!(chain.run_segment(SegReg::Ss, vmcs_in, &QemuSegmentCache::default()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Speed
    ///
    /// The built-in shapes with today's profiles run in the caller, as code for that
    /// shape alone, where the compiler inlines this function; and it inlines it only
    /// where it is called once in a codegen unit (LLVM's bonus for the last call of a
    /// local function: the body, every such shape's conversion, is far over its
    /// threshold otherwise). With a second call in the same module, or anywhere in a
    /// crate built with `codegen-units = 1`, it stays out of line at both, and each
    /// result comes back through memory, read back in wider words than it was written:
    /// 1.35-3.0 times the inlined cost, 7.9-10.6 ns a segment against 2.7-8.1 on the
    /// project's machine (`BENCHMARKS.md` §1, steps 50 and 53, with the `second-caller`
    /// feature of `segstate-bench`). For a vCPU's eight registers call [`Chain::run`],
    /// for many values of one register [`Chain::run_batch`]: neither depends on being
    /// inlined. For one segment at a time in a hot loop, [`Chain::run_segment_into`]
    /// converts the same value with its input read in place and its output written in
    /// place: 0.5-1.3 ns a segment less inlined, 3.4-6.4 ns less where `run_segment`
    /// stays out of line (`BENCHMARKS.md` §1, step 54).
    #[inline]
    pub fn run_segment(
        &self,
        reg: SegReg,
        input: InFlight,
        previous: &QemuSegmentCache,
    ) -> Result<InFlight, WrongSourceFormat> {
        // Pipelines take only values in the source format: a hit needs no other check.
        if let Some(out) = self.compiled.segment(reg, &input, previous) {
            return Ok(out);
        }
        // The slow path writes a local of its own and the result is rebuilt field by
        // field: were the slow path's return slot the result, the fast path's result
        // would be built in that memory too, and the caller's copy of it reread the CPL
        // byte with its padding as one word, a failed store forward every segment
        // (`perf annotate`: 43% of the bench loop's samples). Rebuilt, it stays in
        // registers and carries no padding.
        let mut out = input;
        match self.run_segment_otherwise(reg, previous, &mut out) {
            Ok(()) => Ok(InFlight {
                value: out.value,
                vmcb_cpl: out.vmcb_cpl,
            }),
            Err(e) => Err(e),
        }
    }

    /// Runs one register through the chain, as [`Chain::run_segment`] does, reading
    /// `input` where it is and writing the output to `out`: `input` in the chain's
    /// source format (else [`WrongSourceFormat`], and `out` untouched), `previous` the
    /// VMM cache before the sync (read only by the 2017 thread's two designs). `out`
    /// may hold anything before; after `Ok` it holds exactly what `run_segment` returns.
    ///
    /// ```
    /// use segstate::arch::{PrivilegeLevel, SegReg};
    /// use segstate::format::kvm::KvmSegment;
    /// use segstate::format::qemu::QemuSegmentCache;
    /// use segstate::profile::{Chain, InFlight, SegmentValue};
    ///
    /// let chain: Chain = "verbatim > kvm-svm".parse()?;
    /// // SS of a 64-bit user stack after SYSRET on AMD: unusable, the CPL 3 in its DPL.
    /// let ss = KvmSegment { selector: 0x2b, dpl: 3, unusable: 1, ..KvmSegment::default() };
    /// let input = InFlight { value: SegmentValue::Kvm(ss), vmcb_cpl: 0 };
    /// let mut out = input; // any value: it is overwritten
    /// chain.run_segment_into(SegReg::Ss, &input, &QemuSegmentCache::default(), &mut out)?;
    /// assert_eq!(out.vmcb_cpl, 3); // svm_set_segment wrote VMCB.CPL from SS.DPL
    /// assert_eq!(Ok(out), chain.run_segment(SegReg::Ss, input, &QemuSegmentCache::default()));
    ///
    /// // A value in another format is refused, and `out` left as it was.
    /// let before = out;
    /// assert!(chain.run_segment_into(SegReg::Ss, &before, &QemuSegmentCache::default(), &mut out).is_err());
    /// assert_eq!(out, before);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Speed
    ///
    /// The fast form of [`Chain::run_segment`], for a caller that converts one segment
    /// at a time in a hot loop. Each arm of the chain's pipeline reads only the input
    /// fields it converts and stores only the output fields it writes, as a C `switch`
    /// over a tagged union does. `run_segment`'s value in and value out cannot do that:
    /// the compiler reads the whole 40-byte input before choosing the arm, and every
    /// arm's result meets in one set of registers stored in seven pieces, whichever
    /// arm ran. On the project's machine (`ratios 9 chains`, `BENCHMARKS.md` §1, step
    /// 54) that is 34 instructions a segment on `kvm-vmx > verbatim > kvm-vmx` against
    /// `run_segment`'s 49 and C's 43 for the same contract, and eight of the ten
    /// built-in shapes at or below the plain C of their sync. With a second call in the
    /// same module, where `run_segment` stays out of line, the compiler still inlined
    /// it at both calls.
    #[inline]
    pub fn run_segment_into(
        &self,
        reg: SegReg,
        input: &InFlight,
        previous: &QemuSegmentCache,
        out: &mut InFlight,
    ) -> Result<(), WrongSourceFormat> {
        // Pipelines take only values in the source format: a hit needs no other check.
        if self.compiled.segment_into(reg, input, previous, out) {
            return Ok(());
        }
        self.run_segment_into_otherwise(reg, input, previous, out)
    }

    /// [`Chain::run_segment_into`] through the tables, else interpreted: out of line, so
    /// that a caller's loop around `run_segment_into` holds only the pipeline's arms.
    #[inline(never)]
    fn run_segment_into_otherwise(
        &self,
        reg: SegReg,
        input: &InFlight,
        previous: &QemuSegmentCache,
        out: &mut InFlight,
    ) -> Result<(), WrongSourceFormat> {
        let mut at = *input;
        self.run_segment_otherwise(reg, previous, &mut at)?;
        *out = at;
        Ok(())
    }

    /// [`Chain::run_segment`] through the tables, else interpreted: out of line, so that
    /// a caller's loop around `run_segment` holds only the pipeline's call.
    #[inline(never)]
    fn run_segment_otherwise(
        &self,
        reg: SegReg,
        previous: &QemuSegmentCache,
        at: &mut InFlight,
    ) -> Result<(), WrongSourceFormat> {
        if self.compiled.fast().is_none() {
            // Tables take only values in the source format: a hit needs no other check.
            if let Some(out) = self.compiled.get(self, 1).and_then(|t| t.run(reg, at)) {
                *at = out;
                return Ok(());
            }
        }
        self.check_source(&at.value)?;
        *at = self.interpret(reg, *at, previous);
        Ok(())
    }

    /// Runs one register through the ops one by one, rules as data: the reference the
    /// compiled form is built from and tested against.
    #[inline]
    pub(crate) fn interpret(
        &self,
        reg: SegReg,
        input: InFlight,
        previous: &QemuSegmentCache,
    ) -> InFlight {
        let mut at = input;
        for &op in &self.ops {
            at = apply(op, reg, at, previous);
        }
        at
    }

    /// Runs one register through the interpreted ops, handing `each` every op with what
    /// it received and what it gave: how verify's tests check a property of each op over
    /// the values that reach it.
    #[cfg(test)]
    pub(crate) fn interpret_each_op(
        &self,
        reg: SegReg,
        input: InFlight,
        previous: &QemuSegmentCache,
        mut each: impl FnMut(usize, Op, &InFlight, &InFlight),
    ) {
        let mut at = input;
        for (i, &op) in self.ops.iter().enumerate() {
            let out = apply(op, reg, at, previous);
            each(i, op, &at, &out);
            at = out;
        }
    }

    /// Checks that `value` is in the chain's source format.
    #[inline]
    fn check_source(&self, value: &SegmentValue) -> Result<(), WrongSourceFormat> {
        let found = match value {
            SegmentValue::Vmcb(_) => Format::Vmcb,
            SegmentValue::Vmcs(_) => Format::Vmcs,
            SegmentValue::Kvm(_) | SegmentValue::Qemu(_) => Format::Kvm,
            SegmentValue::Stack(v) => v.format(),
        };
        if found == self.source && !matches!(value, SegmentValue::Qemu(_) | SegmentValue::Stack(_))
        {
            Ok(())
        } else {
            Err(WrongSourceFormat {
                expected: self.source,
                found,
            })
        }
    }

    /// Runs a batch of values of one register through the chain, in place: one table
    /// lookup per value once the chain is compiled, else each conversion over the whole
    /// batch before the next one starts (a single conversion with its rules fixed).
    pub fn run_batch(
        &self,
        reg: SegReg,
        values: &mut [InFlight],
        previous: &QemuSegmentCache,
    ) -> Result<(), WrongSourceFormat> {
        // The pipeline checks the source format itself, leaving a refused batch as is.
        if self.run_batch_pipeline(reg, values, previous) {
            return Ok(());
        }
        self.check_batch_source(values)?;
        let Some(tables) = self.compiled.get(self, values.len()) else {
            for &op in &self.ops {
                apply_batch(op, reg, values, previous);
            }
            return Ok(());
        };
        for v in values.iter_mut() {
            *v = match tables.run(reg, v) {
                Some(out) => out,
                None => self.interpret(reg, *v, previous),
            };
        }
        Ok(())
    }

    /// [`Chain::run_batch`] through the interpreted ops `ops` (all: `0..len`), each op
    /// over the whole batch before the next (verify's inner loop: it runs each chain over
    /// a domain once, too few times to pay for building the compiled tables). From the
    /// first op, the values are checked to be in the source format; from a later one, they
    /// are what the ops before made (verify runs a prefix several chains share once per
    /// batch: `verify/trips.rs`).
    pub(crate) fn run_batch_interpreted(
        &self,
        reg: SegReg,
        values: &mut [InFlight],
        previous: &QemuSegmentCache,
        ops: core::ops::Range<usize>,
    ) -> Result<(), WrongSourceFormat> {
        if ops.start == 0 {
            self.check_batch_source(values)?;
        }
        for &op in &self.ops[ops] {
            apply_batch(op, reg, values, previous);
        }
        Ok(())
    }

    /// [`Chain::run_batch`]'s first path alone: the chain's monomorphised pipeline over a
    /// batch in place, when its shape has one (`profile/specialised.rs`). False, and the
    /// batch untouched, when it has none or a value is not in the source format. Verify
    /// runs a whole chain this way where no later chain goes on from its first ops
    /// (`verify/trips.rs`).
    #[inline]
    pub(crate) fn run_batch_pipeline(
        &self,
        reg: SegReg,
        values: &mut [InFlight],
        previous: &QemuSegmentCache,
    ) -> bool {
        self.compiled
            .fast()
            .is_some_and(|fast| fast.batch(reg, values, previous))
    }

    /// True when the chain's shape has a monomorphised pipeline
    /// ([`Chain::run_batch_pipeline`] runs it). Verify lets such a chain run whole rather
    /// than share its first ops with other chains (`verify/trips.rs`, `shared_prefixes`).
    pub(crate) fn has_pipeline(&self) -> bool {
        self.compiled.fast().is_some()
    }

    /// Refuses a batch with any value not in the chain's source format.
    fn check_batch_source(&self, values: &[InFlight]) -> Result<(), WrongSourceFormat> {
        values.iter().try_for_each(|v| self.check_source(&v.value))
    }

    /// Runs all eight registers through the chain. The output CPL byte of a VMCB comes
    /// from SS, the only register that writes it. [`Chain::run_into`] gives the same
    /// result written in place, faster where the caller keeps it in memory.
    #[inline]
    pub fn run(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
    ) -> Result<VcpuSegments, WrongSourceFormat> {
        match self.compiled.fast() {
            Some(fast) => fast.vcpu(input, previous),
            None => self.run_otherwise(input, previous),
        }
    }

    /// Runs all eight registers through the chain, as [`Chain::run`] does, writing the
    /// result to `out`: `input` in the chain's source format (else
    /// [`WrongSourceFormat`], and `out` untouched). `out` may hold anything before,
    /// of any format; after `Ok` it holds exactly what `run` returns.
    ///
    /// ```
    /// use segstate::arch::{PerSegReg, PrivilegeLevel, SegReg};
    /// use segstate::format::kvm::KvmSegment;
    /// use segstate::format::qemu::QemuSegmentCache;
    /// use segstate::profile::{Chain, VcpuSegments};
    ///
    /// let chain: Chain = "verbatim > kvm-svm".parse()?;
    /// // A vCPU in ring 3 with SS unusable, as AMD leaves it after SYSRET.
    /// let vcpu = VcpuSegments::Kvm(PerSegReg::from_fn(|reg| KvmSegment {
    ///     dpl: 3,
    ///     unusable: u8::from(reg == SegReg::Ss),
    ///     ..KvmSegment::default()
    /// }));
    /// let previous = PerSegReg::from_fn(|_| QemuSegmentCache::default());
    /// let mut out = vcpu; // any value: it is overwritten
    /// chain.run_into(&vcpu, &previous, &mut out)?;
    /// let VcpuSegments::Vmcb { cpl, .. } = out else { panic!("a VMCB") };
    /// assert_eq!(cpl, 3); // VMCB.CPL from SS.DPL, unusable or not
    /// assert_eq!(Ok(out), chain.run(&vcpu, &previous));
    ///
    /// // A vCPU in another format is refused, and `out` left as it was.
    /// let before = out;
    /// assert!(chain.run_into(&before, &previous, &mut out).is_err());
    /// assert_eq!(out, before);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Speed
    ///
    /// `run` returns a ~200-byte value that its caller then copies where it keeps it,
    /// with wide loads of what was just written in narrow stores. Here each path
    /// writes its result where the caller wants it: 0.2-0.8 ns a segment less than
    /// `run` on every built-in shape of today's profiles, each at 0.23-0.72 of the
    /// plain C of its sync on the project's machine (`ratios 9 chains`, `BENCHMARKS.md`
    /// §1, step 54).
    #[inline]
    pub fn run_into(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
        out: &mut VcpuSegments,
    ) -> Result<(), WrongSourceFormat> {
        match self.compiled.fast() {
            Some(fast) => fast.vcpu_into(input, previous, out),
            None => {
                *out = self.run_otherwise(input, previous)?;
                Ok(())
            }
        }
    }

    /// [`Chain::run`] through the tables, else interpreted: out of line, so that `run`
    /// inlined is the pipeline's call alone.
    #[inline(never)]
    fn run_otherwise(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
    ) -> Result<VcpuSegments, WrongSourceFormat> {
        if let Some(out) = self.compiled.get(self, 8).and_then(|t| t.run_vcpu(input)) {
            return Ok(out);
        }
        self.run_interpreted(input, previous)
    }

    /// [`Chain::run`] through the interpreted ops (verify: see
    /// [`Chain::run_batch_interpreted`]).
    pub(crate) fn run_interpreted(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
    ) -> Result<VcpuSegments, WrongSourceFormat> {
        let mut outs = [InFlight {
            value: SegmentValue::Kvm(KvmSegment::default()),
            vmcb_cpl: 0,
        }; 8];
        for reg in SegReg::ALL {
            let at = input.in_flight(reg);
            self.check_source(&at.value)?;
            outs[reg.index()] = self.interpret(reg, at, &previous[reg]);
        }
        Ok(collect(self.destination, &outs))
    }

    /// Runs all eight registers through a chain with a QEMU migration in it, with the
    /// migration hooks that need the whole vCPU: the source's `cpu_pre_save` (given
    /// the source's CR0) acts on the eight caches the stream carries, and the
    /// destination's `cpu_post_load` gives the CPL QEMU's hflags hold after the load
    /// (`stream_cpl` is the CPL in the stream's hflags). Without a migration in the
    /// chain this is [`Chain::run`] and the CPL is `stream_cpl`.
    pub fn run_migration(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
        cr0: u64,
        stream_cpl: PrivilegeLevel,
    ) -> Result<(VcpuSegments, PrivilegeLevel), WrongSourceFormat> {
        let mut at = PerSegReg::from_fn(|reg| input.in_flight(reg));
        for (_, v) in at.iter() {
            self.check_source(&v.value)?;
        }
        let mut cpl = stream_cpl;
        for &op in &self.ops {
            if let Op::QemuMigrate(save, load) = op {
                let mut caches = at.map(|_, v| match v.value {
                    SegmentValue::Qemu(q) => q,
                    _ => unreachable!("a QEMU migration carries QEMU caches"),
                });
                qemu_modes::pre_save(save, cr0, &mut caches);
                cpl = qemu_modes::post_load_cpl(load, &caches, stream_cpl);
                at = caches.map(|_, q| InFlight {
                    value: SegmentValue::Qemu(*q),
                    vmcb_cpl: 0,
                });
                continue;
            }
            at = at.map(|reg, v| apply(op, reg, *v, &previous[reg]));
        }
        let outs: [InFlight; 8] = core::array::from_fn(|i| at[SegReg::ALL[i]]);
        Ok((collect(self.destination, &outs), cpl))
    }
}

/// The vCPU in `destination`'s format holding `outs` (indexed by [`SegReg::index`]), its
/// VMCB.CPL byte SS's, the only register that writes it.
pub(crate) fn collect(destination: Format, outs: &[InFlight; 8]) -> VcpuSegments {
    let pick = |reg: SegReg| outs[reg.index()];
    match destination {
        Format::Vmcb => VcpuSegments::Vmcb {
            segments: PerSegReg::from_fn(|reg| match pick(reg).value {
                SegmentValue::Vmcb(v) => v,
                _ => unreachable!("a chain ending in a VMCB yields VMCB segments"),
            }),
            cpl: pick(SegReg::Ss).vmcb_cpl,
        },
        Format::Vmcs => VcpuSegments::Vmcs(PerSegReg::from_fn(|reg| match pick(reg).value {
            SegmentValue::Vmcs(v) => v,
            _ => unreachable!("a chain ending in a VMCS yields VMCS segments"),
        })),
        Format::Kvm => VcpuSegments::Kvm(PerSegReg::from_fn(|reg| match pick(reg).value {
            SegmentValue::Kvm(v) => v,
            _ => unreachable!("a chain ending in kvm_sregs yields kvm segments"),
        })),
        Format::HyperV => VcpuSegments::HyperV(PerSegReg::from_fn(|reg| match pick(reg).value {
            SegmentValue::Stack(StackValue::Hv(v)) => v,
            _ => unreachable!("a chain ending in Hyper-V yields Hyper-V registers"),
        })),
    }
}
