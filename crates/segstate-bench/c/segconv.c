// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * segconv.c - segment register conversions, kernel style.
 *
 * Our own implementation of what KVM and QEMU do to a segment on its way
 * between the hardware save areas and the UAPI, used as the C baseline of
 * segstate's benchmarks. Only today's behaviour is modelled:
 *
 *   - KVM SVM, Linux 4.12+: attributes kept, P = present && !unusable,
 *     VMCB.CPL <-> SS.DPL;
 *   - KVM VMX, Linux 6.2+, unrestricted guest: AR bit 16 = unusable || !P,
 *     accessed bit forced on everything but LDTR;
 *   - QEMU 2.10+: flags packed unmasked, P = present && !unusable on get,
 *     unusable = !P on set.
 */
#include <errno.h>

#include "segconv.h"

/* Selector, base and limit: what every conversion here copies as it is. */
#define COPY_CARRIER(to, from)						\
	do {								\
		(to)->base = (from)->base;				\
		(to)->limit = (from)->limit;				\
		(to)->selector = (from)->selector;			\
	} while (0)

/* VMCB attrib layout */
#define SVM_SELECTOR_TYPE_MASK	0xf
#define SVM_SELECTOR_S_SHIFT	4
#define SVM_SELECTOR_DPL_SHIFT	5
#define SVM_SELECTOR_P_SHIFT	7
#define SVM_SELECTOR_AVL_SHIFT	8
#define SVM_SELECTOR_L_SHIFT	9
#define SVM_SELECTOR_DB_SHIFT	10
#define SVM_SELECTOR_G_SHIFT	11
#define SVM_SELECTOR_P_MASK	(1 << SVM_SELECTOR_P_SHIFT)
#define SVM_ATTRIB_RESERVED	0xf000

/* VMX access rights */
#define VMX_AR_UNUSABLE_MASK	(1u << 16)
#define VMX_AR_RESERVED_MASK	0xfffe0f00u

/* QEMU descriptor flags (DESC_*) */
#define DESC_TYPE_SHIFT		8
#define DESC_S_MASK		(1u << 12)
#define DESC_DPL_SHIFT		13
#define DESC_P_MASK		(1u << 15)
#define DESC_AVL_MASK		(1u << 20)
#define DESC_L_SHIFT		21
#define DESC_B_SHIFT		22
#define DESC_G_MASK		(1u << 23)
#define DESC_ATTR_MASK		0x00f0ff00u

/* Hyper-V attribute word */
#define HV_ATTR_RESERVED	0x0f00

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------ */
/* KVM SVM                                                             */
/* ------------------------------------------------------------------ */

static inline void svm_get(const struct vmcb_seg *s, u8 cpl, int seg,
			   struct kvm_segment *var)
{
	u16 attrib = s->attrib;

	COPY_CARRIER(var, s);
	var->type = attrib & SVM_SELECTOR_TYPE_MASK;
	var->s = (attrib >> SVM_SELECTOR_S_SHIFT) & 1;
	var->dpl = (attrib >> SVM_SELECTOR_DPL_SHIFT) & 3;
	var->present = (attrib >> SVM_SELECTOR_P_SHIFT) & 1;
	var->avl = (attrib >> SVM_SELECTOR_AVL_SHIFT) & 1;
	var->l = (attrib >> SVM_SELECTOR_L_SHIFT) & 1;
	var->db = (attrib >> SVM_SELECTOR_DB_SHIFT) & 1;

	/* G is not tracked for every segment: derive it from the limit. */
	var->g = s->limit > 0xfffff;

	/* The VMCB has no unusable bit: P = 0 means unusable. */
	var->unusable = !var->present;
	var->padding = 0;

	switch (seg) {
	case SEG_TR:
		/* Intel requires a busy TSS; hardware may not report it. */
		var->type |= 0x2;
		break;
	case SEG_DS:
	case SEG_ES:
	case SEG_FS:
	case SEG_GS:
		/* The descriptor cache always has A = 1 for usable data. */
		if (!var->unusable)
			var->type |= 0x1;
		break;
	case SEG_SS:
		/* AMD may leave DB = 1 in an unusable SS; Intel rejects it. */
		if (var->unusable)
			var->db = 0;
		/* The UAPI carries the CPL in SS.DPL. */
		var->dpl = cpl;
		break;
	}
}

static inline int svm_set(const struct kvm_segment *var, int seg,
			  struct vmcb_seg *s, u8 *cpl)
{
	u16 attrib;

	COPY_CARRIER(s, var);

	attrib = (var->type & SVM_SELECTOR_TYPE_MASK);
	attrib |= (var->s & 1) << SVM_SELECTOR_S_SHIFT;
	attrib |= (var->dpl & 3) << SVM_SELECTOR_DPL_SHIFT;
	attrib |= ((var->present & 1) && !var->unusable) << SVM_SELECTOR_P_SHIFT;
	attrib |= (var->avl & 1) << SVM_SELECTOR_AVL_SHIFT;
	attrib |= (var->l & 1) << SVM_SELECTOR_L_SHIFT;
	attrib |= (var->db & 1) << SVM_SELECTOR_DB_SHIFT;
	attrib |= (var->g & 1) << SVM_SELECTOR_G_SHIFT;
	s->attrib = attrib;

	if (seg == SEG_SS) {
		*cpl = var->dpl & 3;
		return 1;
	}
	return 0;
}

void segconv_svm_get_segment(const struct vmcb_seg *s, u8 cpl, int seg,
			     struct kvm_segment *var)
{
	svm_get(s, cpl, seg, var);
}

int segconv_svm_set_segment(const struct kvm_segment *var, int seg,
			    struct vmcb_seg *s, u8 *cpl)
{
	return svm_set(var, seg, s, cpl);
}

/* ------------------------------------------------------------------ */
/* KVM VMX                                                             */
/* ------------------------------------------------------------------ */

static inline void vmx_get(const struct vmx_seg *v, struct kvm_segment *var)
{
	u32 ar = v->ar;

	COPY_CARRIER(var, v);
	var->unusable = (ar >> 16) & 1;
	var->type = ar & 15;
	var->s = (ar >> 4) & 1;
	var->dpl = (ar >> 5) & 3;
	/*
	 * Some userspace does not preserve the unusable bit: report P from it
	 * rather than from AR bit 7.
	 */
	var->present = !var->unusable;
	var->avl = (ar >> 12) & 1;
	var->l = (ar >> 13) & 1;
	var->db = (ar >> 14) & 1;
	var->g = (ar >> 15) & 1;
	var->padding = 0;
}

static inline u32 vmx_access_rights(const struct kvm_segment *var, u8 type)
{
	u32 ar;

	ar = type & 15;
	ar |= (var->s & 1) << 4;
	ar |= (var->dpl & 3) << 5;
	ar |= (var->present & 1) << 7;
	ar |= (var->avl & 1) << 12;
	ar |= (var->l & 1) << 13;
	ar |= (var->db & 1) << 14;
	ar |= (u32)(var->g & 1) << 15;
	ar |= (u32)(var->unusable || !var->present) << 16;

	return ar;
}

static inline void vmx_set(const struct kvm_segment *var, int seg,
			   struct vmx_seg *v)
{
	u8 type = var->type;

	COPY_CARRIER(v, var);

	/*
	 * Unrestricted guest: force the accessed bit on everything but LDTR,
	 * for userspace that hands in reset values without it.
	 */
	if (seg != SEG_LDTR)
		type |= 1;

	v->ar = vmx_access_rights(var, type);
}

void segconv_vmx_get_segment(const struct vmx_seg *v, struct kvm_segment *var)
{
	vmx_get(v, var);
}

void segconv_vmx_set_segment(const struct kvm_segment *var, int seg,
			     struct vmx_seg *v)
{
	vmx_set(var, seg, v);
}

/* ------------------------------------------------------------------ */
/* QEMU                                                                */
/* ------------------------------------------------------------------ */

static inline void qemu_get(const struct kvm_segment *rhs, struct qemu_seg *lhs)
{
	COPY_CARRIER(lhs, rhs);
	/* Unmasked, like upstream: garbage in a field spills into its neighbours. */
	lhs->flags = ((u32)rhs->type << DESC_TYPE_SHIFT) |
		     ((rhs->present && !rhs->unusable) * DESC_P_MASK) |
		     ((u32)rhs->dpl << DESC_DPL_SHIFT) |
		     ((u32)rhs->db << DESC_B_SHIFT) |
		     (rhs->s * DESC_S_MASK) |
		     ((u32)rhs->l << DESC_L_SHIFT) |
		     (rhs->g * DESC_G_MASK) |
		     (rhs->avl * DESC_AVL_MASK);
}

static inline void qemu_set(const struct qemu_seg *rhs, struct kvm_segment *lhs)
{
	u32 flags = rhs->flags;

	COPY_CARRIER(lhs, rhs);
	lhs->type = (flags >> DESC_TYPE_SHIFT) & 15;
	lhs->present = (flags & DESC_P_MASK) != 0;
	lhs->dpl = (flags >> DESC_DPL_SHIFT) & 3;
	lhs->db = (flags >> DESC_B_SHIFT) & 1;
	lhs->s = (flags & DESC_S_MASK) != 0;
	lhs->l = (flags >> DESC_L_SHIFT) & 1;
	lhs->g = (flags & DESC_G_MASK) != 0;
	lhs->avl = (flags & DESC_AVL_MASK) != 0;
	lhs->unusable = !lhs->present;
	lhs->padding = 0;
}

void segconv_qemu_get_seg(const struct kvm_segment *rhs, struct qemu_seg *lhs)
{
	qemu_get(rhs, lhs);
}

void segconv_qemu_set_seg(const struct qemu_seg *rhs, struct kvm_segment *lhs)
{
	qemu_set(rhs, lhs);
}

/* ------------------------------------------------------------------ */
/* Strict raw-layout conversions                                       */
/* ------------------------------------------------------------------ */

/* A kvm_segment whose every byte means something: the strict decode. */
static inline int kvm_segment_valid(const struct kvm_segment *var)
{
	if (unlikely(var->type > 15 || var->dpl > 3 || var->padding))
		return 0;
	if (unlikely((var->s | var->present | var->avl | var->l | var->db |
		      var->g | var->unusable) > 1))
		return 0;
	return 1;
}

/* Attribute fields of a valid kvm_segment in access-rights order, no bit 16. */
static inline u32 kvm_attr_word(const struct kvm_segment *var)
{
	return var->type | var->s << 4 | var->dpl << 5 | var->present << 7 |
	       var->avl << 12 | var->l << 13 | var->db << 14 |
	       (u32)var->g << 15;
}

static inline void kvm_from_attr_word(u32 w, struct kvm_segment *var)
{
	var->type = w & 15;
	var->s = (w >> 4) & 1;
	var->dpl = (w >> 5) & 3;
	var->present = (w >> 7) & 1;
	var->avl = (w >> 12) & 1;
	var->l = (w >> 13) & 1;
	var->db = (w >> 14) & 1;
	var->g = (w >> 15) & 1;
	var->padding = 0;
}

static inline int kvm_to_vmx(const struct kvm_segment *var, struct vmx_seg *v)
{
	if (unlikely(!kvm_segment_valid(var)))
		return -EINVAL;
	COPY_CARRIER(v, var);
	v->ar = kvm_attr_word(var) | (u32)var->unusable << 16;
	return 0;
}

static inline int vmx_to_kvm(const struct vmx_seg *v, struct kvm_segment *var)
{
	u32 ar = v->ar;

	if (unlikely(ar & VMX_AR_RESERVED_MASK))
		return -EINVAL;
	COPY_CARRIER(var, v);
	kvm_from_attr_word(ar, var);
	var->unusable = (ar >> 16) & 1;
	return 0;
}

u32 segconv_svm_attrib_to_vmx_ar(u16 attrib)
{
	return (attrib & 0xff) | ((u32)(attrib & 0xf00) << 4);
}

u16 segconv_vmx_ar_to_svm_attrib(u32 ar)
{
	return (ar & 0xff) | ((ar >> 4) & 0xf00);
}

static inline int vmcb_to_vmx(const struct vmcb_seg *s, struct vmx_seg *v)
{
	u16 attrib = s->attrib;

	if (unlikely(attrib & SVM_ATTRIB_RESERVED))
		return -EINVAL;
	COPY_CARRIER(v, s);
	v->ar = segconv_svm_attrib_to_vmx_ar(attrib) |
		(u32)!(attrib & SVM_SELECTOR_P_MASK) << 16;
	return 0;
}

static inline int vmx_to_vmcb(const struct vmx_seg *v, struct vmcb_seg *s)
{
	u32 ar = v->ar;

	if (unlikely(ar & VMX_AR_RESERVED_MASK))
		return -EINVAL;
	/* The VMCB spells unusable as P = 0 and nothing else. */
	if (unlikely(((ar >> 16) & 1) == ((ar >> 7) & 1)))
		return -EINVAL;
	COPY_CARRIER(s, v);
	s->attrib = segconv_vmx_ar_to_svm_attrib(ar);
	return 0;
}

/*
 * QEMU's flags and Hyper-V's attribute word hold the access-rights word (no
 * bit 16) at a shift and spell unusable as P = 0 and nothing else: a
 * kvm_segment goes there only when unusable == !P, and comes back with
 * unusable = !P. Declares kvm_to_FMT and FMT_to_kvm; `refused` is the
 * condition on `in` (the FMT value) that the layout refuses.
 */
#define P_SPELLED_STRICT(fmt, fmt_t, field, shift, refused)		\
static inline int kvm_to_##fmt(const struct kvm_segment *var, fmt_t *out) \
{									\
	if (unlikely(!kvm_segment_valid(var) ||				\
		     var->unusable == var->present))			\
		return -EINVAL;						\
	COPY_CARRIER(out, var);						\
	out->field = kvm_attr_word(var) << (shift);			\
	return 0;							\
}									\
									\
static inline int fmt##_to_kvm(const fmt_t *in, struct kvm_segment *var) \
{									\
	if (unlikely(refused))						\
		return -EINVAL;						\
	COPY_CARRIER(var, in);						\
	kvm_from_attr_word(in->field >> (shift), var);			\
	var->unusable = !var->present;					\
	return 0;							\
}

P_SPELLED_STRICT(qemu, struct qemu_seg, flags, 8,
		 (in->flags & ~DESC_ATTR_MASK) || in->selector > 0xffff)
P_SPELLED_STRICT(hv, struct hv_seg, attributes, 0,
		 in->attributes & HV_ATTR_RESERVED)

/*
 * A strict conversion exported (segconv_NAME), and for those the benches run, its
 * batch (segconv_NAME_batch: the number of elements refused).
 */
#define STRICT_EXPORT(name, in_t, out_t)				\
int segconv_##name(const in_t *in, out_t *out)				\
{									\
	return name(in, out);						\
}

#define STRICT(name, in_t, out_t)					\
STRICT_EXPORT(name, in_t, out_t)					\
size_t segconv_##name##_batch(const in_t *in, out_t *out, size_t n)	\
{									\
	size_t i, refused = 0;						\
									\
	for (i = 0; i < n; i++)						\
		refused += name(&in[i], &out[i]) != 0;			\
	return refused;							\
}

SEGCONV_STRICT_BATCHED(STRICT)
STRICT_EXPORT(vmx_to_vmcb, struct vmx_seg, struct vmcb_seg)
STRICT_EXPORT(hv_to_kvm, struct hv_seg, struct kvm_segment)

/* ------------------------------------------------------------------ */
/* Batches: element i is register (i & 7)                              */
/* ------------------------------------------------------------------ */

void segconv_svm_get_batch(const struct vmcb_seg *in, const u8 *cpl,
			   struct kvm_segment *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		svm_get(&in[i], cpl[i], i & 7, &out[i]);
}

void segconv_svm_set_batch(const struct kvm_segment *in, struct vmcb_seg *out,
			   u8 *cpl, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cpl[i] = 0;
		svm_set(&in[i], i & 7, &out[i], &cpl[i]);
	}
}

/* A cooking batch, segconv_NAME_batch: `call` converts element i. */
#define COOK_BATCH(name, in_t, out_t, call)				\
void segconv_##name##_batch(const in_t *in, out_t *out, size_t n)	\
{									\
	size_t i;							\
									\
	for (i = 0; i < n; i++)						\
		call;							\
}

COOK_BATCH(vmx_get, struct vmx_seg, struct kvm_segment,
	   vmx_get(&in[i], &out[i]))
COOK_BATCH(vmx_set, struct kvm_segment, struct vmx_seg,
	   vmx_set(&in[i], i & 7, &out[i]))
COOK_BATCH(qemu_get, struct kvm_segment, struct qemu_seg,
	   qemu_get(&in[i], &out[i]))
COOK_BATCH(qemu_set, struct qemu_seg, struct kvm_segment,
	   qemu_set(&in[i], &out[i]))

void segconv_svm_attrib_to_vmx_ar_batch(const u16 *in, u32 *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = segconv_svm_attrib_to_vmx_ar(in[i]);
}

/* ------------------------------------------------------------------ */
/* Whole chains                                                        */
/* ------------------------------------------------------------------ */

/* QEMU's sync: get_seg then set_seg. */
static inline void qemu_sync(const struct kvm_segment *in, struct kvm_segment *out)
{
	struct qemu_seg q;

	qemu_get(in, &q);
	qemu_set(&q, out);
}

/* svm_set_segment into a fresh VMCB: an unwritten CPL byte reads 0. */
static inline void svm_set_fresh(const struct kvm_segment *var, int seg,
				 struct vmcb_seg *s, u8 *cpl)
{
	*cpl = 0;
	svm_set(var, seg, s, cpl);
}

/*
 * One segment of each chain shape, typed: `in` with its CPL byte (read only by
 * the shapes from a VMCB), register `seg`, into `out` and its CPL byte (written
 * only by the shapes into a VMCB). The batches below inline them; the
 * segconv_one_* entries call them out of line.
 */
static inline void sync_svm_qemu_svm(const struct vmcb_seg *in, u8 cpl_in,
				     int seg, struct vmcb_seg *out, u8 *cpl_out)
{
	struct kvm_segment a, b;

	svm_get(in, cpl_in, seg, &a);
	qemu_sync(&a, &b);
	svm_set_fresh(&b, seg, out, cpl_out);
}

static inline void sync_svm_svm(const struct vmcb_seg *in, u8 cpl_in, int seg,
				struct vmcb_seg *out, u8 *cpl_out)
{
	struct kvm_segment a;

	svm_get(in, cpl_in, seg, &a);
	svm_set_fresh(&a, seg, out, cpl_out);
}

static inline void sync_vmx_qemu_vmx(const struct vmx_seg *in, u8 cpl_in,
				     int seg, struct vmx_seg *out, u8 *cpl_out)
{
	struct kvm_segment a, b;

	(void)cpl_in;
	(void)cpl_out;
	vmx_get(in, &a);
	qemu_sync(&a, &b);
	vmx_set(&b, seg, out);
}

static inline void sync_svm_qemu_vmx(const struct vmcb_seg *in, u8 cpl_in,
				     int seg, struct vmx_seg *out, u8 *cpl_out)
{
	struct kvm_segment a, b;

	(void)cpl_out;
	svm_get(in, cpl_in, seg, &a);
	qemu_sync(&a, &b);
	vmx_set(&b, seg, out);
}

static inline void sync_vmx_qemu_svm(const struct vmx_seg *in, u8 cpl_in,
				     int seg, struct vmcb_seg *out, u8 *cpl_out)
{
	struct kvm_segment a, b;

	(void)cpl_in;
	vmx_get(in, &a);
	qemu_sync(&a, &b);
	svm_set_fresh(&b, seg, out, cpl_out);
}

static inline void sync_svm_qemu_vmx_qemu_svm(const struct vmcb_seg *in,
					      u8 cpl_in, int seg,
					      struct vmcb_seg *out, u8 *cpl_out)
{
	struct kvm_segment a, b;
	struct vmx_seg v;

	svm_get(in, cpl_in, seg, &a);
	qemu_sync(&a, &b);
	vmx_set(&b, seg, &v);
	vmx_get(&v, &a);
	qemu_sync(&a, &b);
	svm_set_fresh(&b, seg, out, cpl_out);
}

static inline void sync_vmx_vmx(const struct vmx_seg *in, u8 cpl_in, int seg,
				struct vmx_seg *out, u8 *cpl_out)
{
	struct kvm_segment a;

	(void)cpl_in;
	(void)cpl_out;
	vmx_get(in, &a);
	vmx_set(&a, seg, out);
}

static inline void sync_verbatim_svm(const struct kvm_segment *in, u8 cpl_in,
				     int seg, struct vmcb_seg *out, u8 *cpl_out)
{
	(void)cpl_in;
	svm_set_fresh(in, seg, out, cpl_out);
}

static inline void sync_verbatim_vmx(const struct kvm_segment *in, u8 cpl_in,
				     int seg, struct vmx_seg *out, u8 *cpl_out)
{
	(void)cpl_in;
	(void)cpl_out;
	vmx_set(in, seg, out);
}

static inline void sync_qemu(const struct kvm_segment *in, u8 cpl_in, int seg,
			     struct kvm_segment *out, u8 *cpl_out)
{
	(void)cpl_in;
	(void)seg;
	(void)cpl_out;
	qemu_sync(in, out);
}

/*
 * The batch of a chain, segconv_chain_NAME, in the signature segconv.h gives
 * it: with or without the CPL bytes in (CPL_IN) and out (CPL_OUT). An absent
 * CPL byte reads 0 and is written into a local the sync ignores.
 */
#define CHAIN_BATCH(name, in_t, out_t, cpl_in_param, cpl_in_arg,	\
		    cpl_out_param, cpl_out_arg)				\
void segconv_chain_##name(const in_t *in cpl_in_param, out_t *out	\
			  cpl_out_param, size_t n)			\
{									\
	u8 unused = 0;							\
	size_t i;							\
									\
	(void)unused;							\
	for (i = 0; i < n; i++)						\
		sync_##name(&in[i], cpl_in_arg, i & 7, &out[i],		\
			    cpl_out_arg);				\
}
#define CPL_IN , const u8 *cpl_in
#define CPL_OUT , u8 *cpl_out
#define NO_CPL

CHAIN_BATCH(svm_qemu_svm, struct vmcb_seg, struct vmcb_seg, CPL_IN, cpl_in[i],
	    CPL_OUT, &cpl_out[i])
CHAIN_BATCH(svm_svm, struct vmcb_seg, struct vmcb_seg, CPL_IN, cpl_in[i],
	    CPL_OUT, &cpl_out[i])
CHAIN_BATCH(vmx_qemu_vmx, struct vmx_seg, struct vmx_seg, NO_CPL, 0, NO_CPL,
	    &unused)
CHAIN_BATCH(svm_qemu_vmx, struct vmcb_seg, struct vmx_seg, CPL_IN, cpl_in[i],
	    NO_CPL, &unused)
CHAIN_BATCH(vmx_qemu_svm, struct vmx_seg, struct vmcb_seg, NO_CPL, 0, CPL_OUT,
	    &cpl_out[i])
CHAIN_BATCH(svm_qemu_vmx_qemu_svm, struct vmcb_seg, struct vmcb_seg, CPL_IN,
	    cpl_in[i], CPL_OUT, &cpl_out[i])
CHAIN_BATCH(vmx_vmx, struct vmx_seg, struct vmx_seg, NO_CPL, 0, NO_CPL,
	    &unused)
CHAIN_BATCH(verbatim_svm, struct kvm_segment, struct vmcb_seg, NO_CPL, 0,
	    CPL_OUT, &cpl_out[i])
CHAIN_BATCH(qemu, struct kvm_segment, struct kvm_segment, NO_CPL, 0, NO_CPL,
	    &unused)

/* The one-segment entry of a chain, segconv_one_NAME (a segconv_sync_fn). */
#define CHAIN_ONE(name, in_t, out_t)					\
void segconv_one_##name(const void *in, u8 cpl_in, int seg, void *out,	\
			u8 *cpl_out)					\
{									\
	sync_##name((const in_t *)in, cpl_in, seg, (out_t *)out, cpl_out); \
}

CHAIN_ONE(svm_qemu_svm, struct vmcb_seg, struct vmcb_seg)
CHAIN_ONE(svm_svm, struct vmcb_seg, struct vmcb_seg)
CHAIN_ONE(vmx_qemu_vmx, struct vmx_seg, struct vmx_seg)
CHAIN_ONE(svm_qemu_vmx, struct vmcb_seg, struct vmx_seg)
CHAIN_ONE(vmx_qemu_svm, struct vmx_seg, struct vmcb_seg)
CHAIN_ONE(svm_qemu_vmx_qemu_svm, struct vmcb_seg, struct vmcb_seg)
CHAIN_ONE(vmx_vmx, struct vmx_seg, struct vmx_seg)
CHAIN_ONE(verbatim_svm, struct kvm_segment, struct vmcb_seg)
CHAIN_ONE(verbatim_vmx, struct kvm_segment, struct vmx_seg)
CHAIN_ONE(qemu, struct kvm_segment, struct kvm_segment)

void segconv_chain_one_batch(segconv_sync_fn *sync, const void *in,
			     size_t in_size, const u8 *cpl_in, void *out,
			     size_t out_size, u8 *cpl_out, size_t n)
{
	const char *from = in;
	char *to = out;
	size_t i;

	for (i = 0; i < n; i++)
		sync(from + i * in_size, cpl_in[i], (int)(i & 7),
		     to + i * out_size, &cpl_out[i]);
}

/* ------------------------------------------------------------------ */
/* Chain::run_segment's contract                                       */
/* ------------------------------------------------------------------ */

/*
 * One case of contract_one: a value in format FMT (its union member IN) through
 * sync_NAME into format OUT_FMT (member OUT), written straight into *o as the
 * batches write their outputs. The sync writes its CPL byte into the output's
 * when the chain writes a VMCB, else into a local, the output then carrying the
 * input's. (Built in a local and stored whole, every shape ran 2.5-7 times
 * slower: BENCHMARKS.md section 1, step 53.)
 */
#define CONTRACT_CASE(shape, name, fmt, in, out_fmt, out)		\
	case SEGCONV_SHAPE_##shape:					\
		if (x->format != SEGCONV_FORMAT_##fmt)			\
			return -EINVAL;					\
		o->format = SEGCONV_FORMAT_##out_fmt;			\
		o->vmcb_cpl = c;					\
		sync_##name(&x->value.in, c, seg, &o->value.out,	\
			    SEGCONV_FORMAT_##out_fmt == SEGCONV_FORMAT_VMCB \
				    ? &o->vmcb_cpl : &unused);		\
		return 0;

/*
 * One segment through a shape chosen at run time: 0, or -EINVAL (and *o
 * untouched) when x is not in the shape's source format or the shape is none.
 */
static inline int contract_one(int shape, int seg,
			       const struct segconv_in_flight *x,
			       struct segconv_in_flight *o)
{
	u8 c = x->vmcb_cpl;
	u8 unused;

	switch (shape) {
	CONTRACT_CASE(SVM_QEMU_SVM, svm_qemu_svm, VMCB, vmcb, VMCB, vmcb)
	CONTRACT_CASE(SVM_SVM, svm_svm, VMCB, vmcb, VMCB, vmcb)
	CONTRACT_CASE(SVM_QEMU_VMX_QEMU_SVM, svm_qemu_vmx_qemu_svm, VMCB, vmcb,
		      VMCB, vmcb)
	CONTRACT_CASE(SVM_QEMU_VMX, svm_qemu_vmx, VMCB, vmcb, VMCS, vmx)
	CONTRACT_CASE(VMX_QEMU_SVM, vmx_qemu_svm, VMCS, vmx, VMCB, vmcb)
	CONTRACT_CASE(VERBATIM_SVM, verbatim_svm, KVM, kvm, VMCB, vmcb)
	CONTRACT_CASE(VMX_QEMU_VMX, vmx_qemu_vmx, VMCS, vmx, VMCS, vmx)
	CONTRACT_CASE(VMX_VMX, vmx_vmx, VMCS, vmx, VMCS, vmx)
	CONTRACT_CASE(VERBATIM_VMX, verbatim_vmx, KVM, kvm, VMCS, vmx)
	CONTRACT_CASE(QEMU, qemu, KVM, kvm, KVM, kvm)
	default:
		return -EINVAL;
	}
}

size_t segconv_contract_batch(int shape, const struct segconv_in_flight *in,
			      struct segconv_in_flight *out, size_t n)
{
	size_t i, refused = 0;

	for (i = 0; i < n; i++)
		refused += contract_one(shape, (int)(i & 7), &in[i], &out[i]) != 0;
	return refused;
}
