/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * segconv: x86 segment register conversions in plain C, written for segstate's
 * benchmarks. Behaviour follows today's KVM (svm_get_segment / svm_set_segment,
 * vmx_get_segment / vmx_segment_access_rights with unrestricted guest) and QEMU
 * (get_seg / set_seg since 2.10), plus strict raw-layout conversions.
 */
#ifndef SEGCONV_H
#define SEGCONV_H

#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* Register numbers: ES, CS, SS, DS, FS, GS, LDTR, TR (VCPU_SREG_* order). */
enum {
	SEG_ES = 0,
	SEG_CS,
	SEG_SS,
	SEG_DS,
	SEG_FS,
	SEG_GS,
	SEG_LDTR,
	SEG_TR,
};

/* Layout of the KVM UAPI struct, 24 bytes. */
struct kvm_segment {
	u64 base;
	u32 limit;
	u16 selector;
	u8 type;
	u8 present, dpl, db, s, l, g, avl;
	u8 unusable;
	u8 padding;
};

/* VMCB save-area segment, 16 bytes. */
struct vmcb_seg {
	u16 selector;
	u16 attrib;
	u32 limit;
	u64 base;
};

/* The four VMCS guest fields of one segment. */
struct vmx_seg {
	u64 base;
	u32 limit;
	u32 ar;
	u16 selector;
};

/* QEMU SegmentCache (x86_64 target). */
struct qemu_seg {
	u32 selector;
	u64 base;
	u32 limit;
	u32 flags;
};

/* HV_X64_SEGMENT_REGISTER. */
struct hv_seg {
	u64 base;
	u32 limit;
	u16 selector;
	u16 attributes;
};

/* ---- cooking paths (one register) ---- */
void segconv_svm_get_segment(const struct vmcb_seg *s, u8 cpl, int seg,
			     struct kvm_segment *var);
/* Returns 1 and writes *cpl when the call writes VMCB.CPL (SS), else 0. */
int segconv_svm_set_segment(const struct kvm_segment *var, int seg,
			    struct vmcb_seg *s, u8 *cpl);
void segconv_vmx_get_segment(const struct vmx_seg *v, struct kvm_segment *var);
void segconv_vmx_set_segment(const struct kvm_segment *var, int seg,
			     struct vmx_seg *v);
void segconv_qemu_get_seg(const struct kvm_segment *rhs, struct qemu_seg *lhs);
void segconv_qemu_set_seg(const struct qemu_seg *rhs, struct kvm_segment *lhs);

/*
 * ---- strict raw-layout conversions: 0, or -EINVAL for a value the layout refuses ----
 * Those the benches run have a batch too, returning the number of elements refused.
 */
#define SEGCONV_STRICT_DECL(name, in_t, out_t)				\
	int segconv_##name(const in_t *in, out_t *out);			\
	size_t segconv_##name##_batch(const in_t *in, out_t *out, size_t n);
/* The batched ones, X(name, input type, output type): declared here, defined in segconv.c. */
#define SEGCONV_STRICT_BATCHED(X)					\
	X(kvm_to_vmx, struct kvm_segment, struct vmx_seg)		\
	X(vmx_to_kvm, struct vmx_seg, struct kvm_segment)		\
	X(vmcb_to_vmx, struct vmcb_seg, struct vmx_seg)			\
	X(kvm_to_qemu, struct kvm_segment, struct qemu_seg)		\
	X(qemu_to_kvm, struct qemu_seg, struct kvm_segment)		\
	X(kvm_to_hv, struct kvm_segment, struct hv_seg)
SEGCONV_STRICT_BATCHED(SEGCONV_STRICT_DECL)
int segconv_vmx_to_vmcb(const struct vmx_seg *v, struct vmcb_seg *s);
int segconv_hv_to_kvm(const struct hv_seg *h, struct kvm_segment *var);
/* Plain bit moves, no checks. */
u32 segconv_svm_attrib_to_vmx_ar(u16 attrib);
u16 segconv_vmx_ar_to_svm_attrib(u32 ar);

/*
 * ---- batches ----
 * Element i is register (i & 7). Strict conversions return the number of
 * elements refused; cooking batches return nothing.
 */
void segconv_svm_get_batch(const struct vmcb_seg *in, const u8 *cpl,
			   struct kvm_segment *out, size_t n);
void segconv_svm_set_batch(const struct kvm_segment *in, struct vmcb_seg *out,
			   u8 *cpl, size_t n);
#define SEGCONV_COOK_BATCH_DECL(name, in_t, out_t)			\
	void segconv_##name##_batch(const in_t *in, out_t *out, size_t n);
SEGCONV_COOK_BATCH_DECL(vmx_get, struct vmx_seg, struct kvm_segment)
SEGCONV_COOK_BATCH_DECL(vmx_set, struct kvm_segment, struct vmx_seg)
SEGCONV_COOK_BATCH_DECL(qemu_get, struct kvm_segment, struct qemu_seg)
SEGCONV_COOK_BATCH_DECL(qemu_set, struct qemu_seg, struct kvm_segment)
void segconv_svm_attrib_to_vmx_ar_batch(const u16 *in, u32 *out, size_t n);

/*
 * ---- whole chains, one register per element, straight-line C ----
 * A VMCB-side value carries its CPL byte alongside (cpl_in / cpl_out).
 */
/* kvm-svm > qemu > kvm-svm */
void segconv_chain_svm_qemu_svm(const struct vmcb_seg *in, const u8 *cpl_in,
				struct vmcb_seg *out, u8 *cpl_out, size_t n);
/* kvm-svm > verbatim > kvm-svm */
void segconv_chain_svm_svm(const struct vmcb_seg *in, const u8 *cpl_in,
			   struct vmcb_seg *out, u8 *cpl_out, size_t n);
/* kvm-vmx > qemu > kvm-vmx */
void segconv_chain_vmx_qemu_vmx(const struct vmx_seg *in, struct vmx_seg *out,
				size_t n);
/* kvm-svm > qemu > kvm-vmx */
void segconv_chain_svm_qemu_vmx(const struct vmcb_seg *in, const u8 *cpl_in,
				struct vmx_seg *out, size_t n);
/* kvm-vmx > qemu > kvm-svm */
void segconv_chain_vmx_qemu_svm(const struct vmx_seg *in, struct vmcb_seg *out,
				u8 *cpl_out, size_t n);
/* kvm-svm > qemu > kvm-vmx > qemu > kvm-svm */
void segconv_chain_svm_qemu_vmx_qemu_svm(const struct vmcb_seg *in,
					 const u8 *cpl_in, struct vmcb_seg *out,
					 u8 *cpl_out, size_t n);
/* kvm-vmx > verbatim > kvm-vmx */
void segconv_chain_vmx_vmx(const struct vmx_seg *in, struct vmx_seg *out,
			   size_t n);
/* verbatim > kvm-svm */
void segconv_chain_verbatim_svm(const struct kvm_segment *in,
				struct vmcb_seg *out, u8 *cpl_out, size_t n);
/* qemu */
void segconv_chain_qemu(const struct kvm_segment *in, struct kvm_segment *out,
			size_t n);

/*
 * ---- one segment of a chain, called through a pointer ----
 * What a VMM that picks its sync at run time calls once per segment: one
 * signature for every chain shape. `in` and `out` point at the shape's
 * structs (segconv_one_NAME converts as segconv_chain_NAME does one element,
 * segconv_one_verbatim_vmx as vmx_set); `cpl_in` is read only from a VMCB,
 * `*cpl_out` written only into one (0 unless svm_set writes it).
 */
typedef void segconv_sync_fn(const void *in, u8 cpl_in, int seg, void *out,
			     u8 *cpl_out);
#define SEGCONV_ONE_DECL(name) segconv_sync_fn segconv_one_##name;
SEGCONV_ONE_DECL(svm_qemu_svm)
SEGCONV_ONE_DECL(svm_svm)
SEGCONV_ONE_DECL(vmx_qemu_vmx)
SEGCONV_ONE_DECL(svm_qemu_vmx)
SEGCONV_ONE_DECL(vmx_qemu_svm)
SEGCONV_ONE_DECL(svm_qemu_vmx_qemu_svm)
SEGCONV_ONE_DECL(vmx_vmx)
SEGCONV_ONE_DECL(verbatim_svm)
SEGCONV_ONE_DECL(verbatim_vmx)
SEGCONV_ONE_DECL(qemu)
/*
 * `sync` over n elements (element i is register i & 7), out of line: the loop
 * a VMM holding a segconv_sync_fn pointer runs. `in` and `out` step by
 * in_size and out_size bytes; cpl_in and cpl_out hold n bytes each.
 */
void segconv_chain_one_batch(segconv_sync_fn *sync, const void *in,
			     size_t in_size, const u8 *cpl_in, void *out,
			     size_t out_size, u8 *cpl_out, size_t n);

/*
 * ---- Chain::run_segment's contract, in C ----
 * A segment on its way through a chain, tagged with its format, and the VMCB.CPL
 * byte when it is in a VMCB (40 bytes, as segstate's InFlight). A chain shape
 * chosen at run time takes a value only in its source format: a value in
 * another is refused and its output left as it was. Into a VMCB the CPL byte is
 * the one svm_set writes (0 unless SS sets it); into a VMCS or a kvm_segment it
 * is the input's, as run_segment gives it.
 */
enum segconv_format {
	SEGCONV_FORMAT_VMCB = 0,
	SEGCONV_FORMAT_VMCS = 1,
	SEGCONV_FORMAT_KVM = 2,
};

struct segconv_in_flight {
	u32 format; /* enum segconv_format */
	union {
		struct vmcb_seg vmcb;
		struct vmx_seg vmx;
		struct kvm_segment kvm;
	} value;
	u8 vmcb_cpl;
};

/* The ten built-in chain shapes, each the sync of segconv_chain_NAME. */
enum segconv_shape {
	SEGCONV_SHAPE_SVM_QEMU_SVM = 0,
	SEGCONV_SHAPE_SVM_SVM,
	SEGCONV_SHAPE_SVM_QEMU_VMX_QEMU_SVM,
	SEGCONV_SHAPE_SVM_QEMU_VMX,
	SEGCONV_SHAPE_VMX_QEMU_SVM,
	SEGCONV_SHAPE_VERBATIM_SVM,
	SEGCONV_SHAPE_VMX_QEMU_VMX,
	SEGCONV_SHAPE_VMX_VMX,
	SEGCONV_SHAPE_VERBATIM_VMX,
	SEGCONV_SHAPE_QEMU,
};

/*
 * Element i (register i & 7) of `in` through `shape`, into out[i]; the contract
 * of one segment inlined into the loop, as run_segment is into its caller's.
 * Returns the number of elements refused.
 */
size_t segconv_contract_batch(int shape, const struct segconv_in_flight *in,
			      struct segconv_in_flight *out, size_t n);

#endif /* SEGCONV_H */
