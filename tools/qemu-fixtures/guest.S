/*
 * A tiny firmware for qemu-system-x86_64 (-bios guest.rom): it runs from the reset
 * vector through 32-bit protected mode and long mode to CPL 3, and parks (jmp .) at
 * the stage chosen at assembly time with --defsym STOP=n, so that the host can print
 * the state with the monitor's "info registers" and save a migration stream:
 *
 *   1  32-bit protected mode, CPL 0 (flat CS 0x08, DS/ES/SS 0x10, FS/GS null)
 *   2  64-bit long mode, CPL 0 (CS 0x18, SS 0x10, TR 0x40 busy TSS64, IDT loaded)
 *   3  64-bit user mode, CPL 3, entered with IRETQ (CS 0x3b, SS 0x33)
 *   4  CPL 0 in the handler of "int $0x80" taken from CPL 3: the CPU loaded SS with
 *      the null selector (RPL 0), as 64-bit interrupt delivery does on a CPL change
 *   5  CPL 3 after SYSRETQ from stage 4 with STAR[63:48] = 0xfff8, so that the SS
 *      selector SYSRET computes, (0xfff8 + 8) | 3, has the null selector in its low 16 bits
 *   6  compatibility mode (EFER.LMA = 1, CS.L = 0) at CPL 3, entered with IRETQ
 *   (for -cpu max, the QEMU 10 fixtures' generate10.sh:)
 *   7  stage 3 (CPL 3, 64-bit) after CPL 0 loaded extra state, so that QEMU writes
 *      more cpu subsections: CR4.OSXSAVE/PKE, XCR0 = x87|SSE|AVX|MPX|PKRU (as far as
 *      CPUID 0xd allows), YMM1 all ones, PKRU, PKRS, BNDCFGS, BND0, TSC_AUX, x87 FIP/FDP
 *   8  a nested SVM guest (VMRUN from CPL 0, NPT on, V_INTR_MASKING) in 64-bit mode at
 *      CPL 3 with SS = null selector, attributes DPL 3 and P = 0 (unusable): the state
 *      AMD leaves after SYSRET, loaded from the VMCB at 0x6000 (host save area 0xa000)
 *   9  like 7 with AVX-512 (XCR0 opmask/ZMM bits, K1 and ZMM17 set) for a host CPU
 *      that has it (KVM -cpu host): Opmask/ZMM dump lines and the cpu/avx512 subsection
 *
 * Stages 7 to 9 were first written in a copy of this file (guest-max.S); they add no
 * byte to the image of stages 0 to 6, and the image of 7 to 9 is the copy's, byte
 * for byte (x87_one is there for all three, as it was in the copy).
 *
 * Stage 0 is the reset state itself (the host reads it before starting the CPU).
 * Nothing here needs a BIOS: the image is 64 KiB, mapped at 0xffff0000 and at 0xf0000.
 *
 * Memory used (all identity-mapped with one 2 MiB user-accessible page):
 *   0x0800 GDT (copied from ROM), 0x1000 PML4, 0x2000 PDPT, 0x3000 PD,
 *   0x4000 IDT, 0x5000 TSS64, 0x8000 kernel stack top, 0x9000 user stack top.
 */
        .set    ROM, 0xf0000
        .set    GDT_RAM, 0x800
        .set    IDT_RAM, 0x4000
        .set    TSS_RAM, 0x5000

        .text
        .code16
start:
real_start:
        cli
        lgdtl   %cs:(gdt_ptr_rom - start)
        mov     %cr0, %eax
        or      $1, %eax                        /* CR0.PE */
        mov     %eax, %cr0
        ljmpl   $0x08, $pm32

        .code32
pm32:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        xor     %ax, %ax
        mov     %ax, %fs                        /* null selectors: unusable */
        mov     %ax, %gs
        mov     $0x8000, %esp

        /* The GDT moves to RAM: LTR writes the busy bit into it. */
        mov     $gdt_rom, %esi
        mov     $GDT_RAM, %edi
        mov     $(gdt_end - gdt_rom), %ecx
        rep movsb
        lgdt    gdt_ptr_ram
.if STOP == 1
        jmp     .
.endif
        /* Page tables, IDT and TSS pages start zeroed. */
        mov     $0x1000, %edi
        xor     %eax, %eax
        mov     $(5 * 4096 / 4), %ecx
        rep stosl
        movl    $0x2007, 0x1000                 /* PML4[0] -> PDPT: P W U */
        movl    $0x3007, 0x2000                 /* PDPT[0] -> PD: P W U */
        movl    $0x0087, 0x3000                 /* PD[0]: 2 MiB at 0, P W U PS */
        movl    $0x8000, TSS_RAM + 4            /* TSS64.RSP0 */
        movw    $104, TSS_RAM + 0x66            /* no I/O bitmap */
        mov     $0x1000, %eax
        mov     %eax, %cr3
        mov     %cr4, %eax
        or      $0x20, %eax                     /* CR4.PAE */
        mov     %eax, %cr4
        mov     $0xc0000080, %ecx               /* EFER */
        rdmsr
        or      $0x101, %eax                    /* LME, SCE */
        wrmsr
        mov     %cr0, %eax
        or      $0x80000000, %eax               /* CR0.PG: LMA = 1 */
        mov     %eax, %cr0
        ljmp    $0x18, $lm64

        .code64
lm64:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     $0x8000, %rsp
        mov     $0x40, %ax
        ltr     %ax
        /* IDT[0x80]: 64-bit interrupt gate, DPL 3, to int80 in CS 0x18. */
        mov     $int80, %eax
        mov     %eax, %edx
        and     $0xffff, %eax
        or      $(0x18 << 16), %eax
        mov     %eax, IDT_RAM + 0x80 * 16
        and     $0xffff0000, %edx
        or      $0xee00, %edx                   /* P, DPL 3, type 0xe */
        mov     %edx, IDT_RAM + 0x80 * 16 + 4
        lidt    idt_ptr
.if STOP == 2
        jmp     .
.endif
.if STOP == 7 || STOP == 9
        mov     %cr4, %rax
        or      $((1 << 18) | (1 << 22)), %rax  /* OSXSAVE, PKE */
        mov     %rax, %cr4
        mov     $0xd, %eax
        xor     %ecx, %ecx
        cpuid                                   /* EAX: supported XCR0 bits */
.if STOP == 9
        and     $0x2ff, %eax                    /* x87 SSE AVX BNDREGS BNDCSR opmask ZMM PKRU */
.else
        and     $0x21f, %eax                    /* x87 SSE AVX BNDREGS BNDCSR PKRU */
.endif
        xor     %edx, %edx
        xor     %ecx, %ecx
        xsetbv
        vpcmpeqd %ymm1, %ymm1, %ymm1            /* YMM1 = all ones */
.if STOP == 9
        kxnorw  %k1, %k1, %k1                   /* K1 = 0xffff */
        vpternlogd $0xff, %zmm17, %zmm17, %zmm17 /* ZMM17 = all ones */
.endif
        flds    x87_one                         /* FIP/FDP/FOP */
        mov     $0xc, %eax                      /* PKRU: key 1 AD|WD */
        xor     %ecx, %ecx
        xor     %edx, %edx
        wrpkru
.if STOP == 7
        mov     $0x6e1, %ecx                    /* IA32_PKRS */
        mov     $0x30, %eax                     /* key 2 AD|WD */
        xor     %edx, %edx
        wrmsr
        mov     $0xd90, %ecx                    /* IA32_BNDCFGS: EN */
        mov     $1, %eax
        xor     %edx, %edx
        wrmsr
        mov     $0x1000, %rax
        bndmk   0xfff(%rax), %bnd0              /* BND0 = [0x1000, 0x1fff] */
.endif
        mov     $0xc0000103, %ecx               /* TSC_AUX */
        mov     $0x1234, %eax
        xor     %edx, %edx
        wrmsr
.endif
.if STOP == 8
        .set    VMCB, 0x6000
        mov     $0xc0000080, %ecx               /* EFER.SVME */
        rdmsr
        or      $0x1000, %eax
        wrmsr
        mov     $0xc0010117, %ecx               /* VM_HSAVE_PA */
        mov     $0xa000, %eax
        xor     %edx, %edx
        wrmsr
        movl    $1, VMCB + 0x10                 /* intercept VMRUN (bit 32) */
        movl    $1, VMCB + 0x58                 /* ASID 1 */
        movl    $(1 << 24), VMCB + 0x60         /* int_ctl: V_INTR_MASKING */
        movq    $1, VMCB + 0x90                 /* nested_ctl: NP_ENABLE */
        movq    $0x1000, VMCB + 0xb0            /* nested_cr3: the same tables */
        /* save area: ES, CS, SS, DS (selector, attrib, limit, base) */
        movw    $0, VMCB + 0x400                /* ES: null, attrib 0 */
        movw    $0, VMCB + 0x402
        movw    $0x3b, VMCB + 0x410             /* CS: 64-bit code, DPL 3 */
        movw    $0xafb, VMCB + 0x412
        movl    $0xffffffff, VMCB + 0x414
        movw    $0, VMCB + 0x420                /* SS: null selector, DPL 3, P = 0 */
        movw    $0x060, VMCB + 0x422
        movw    $0, VMCB + 0x430                /* DS: null, attrib 0 */
        movw    $0, VMCB + 0x432
        movl    $0x4f, VMCB + 0x464             /* GDTR */
        movq    $0x800, VMCB + 0x468
        movl    $0xfff, VMCB + 0x484            /* IDTR */
        movq    $0x4000, VMCB + 0x488
        movb    $3, VMCB + 0x4cb                /* CPL 3 */
        movq    $0x1d01, VMCB + 0x4d0           /* EFER: SCE LME LMA SVME */
        movq    $0x20, VMCB + 0x548             /* CR4: PAE */
        movq    $0x1000, VMCB + 0x550           /* CR3 */
        movl    $0x80000011, VMCB + 0x558       /* CR0: PG ET PE */
        movq    $0x400, VMCB + 0x560            /* DR7 */
        movl    $0xffff0ff0, VMCB + 0x568       /* DR6 */
        movq    $0x2, VMCB + 0x570              /* RFLAGS */
        movq    $l2_guest, VMCB + 0x578         /* RIP */
        movq    $0x9000, VMCB + 0x5d8           /* RSP */
        movabs  $0x0007040600070406, %rax
        mov     %rax, VMCB + 0x668              /* G_PAT */
        mov     $VMCB, %eax
        vmrun
        jmp     .                               /* only if VMRUN failed or exited */
l2_guest:
        jmp     .
.endif
.if STOP == 6
        pushq   $0x33                           /* SS: data, DPL 3 */
        pushq   $0x9000
        pushq   $0x2
        pushq   $0x2b                           /* CS: 32-bit code, DPL 3 */
        pushq   $user32
        iretq
.endif
        pushq   $0x33                           /* SS: data, DPL 3 */
        pushq   $0x9000
        pushq   $0x2                            /* RFLAGS: IF = 0 */
        pushq   $0x3b                           /* CS: 64-bit code, DPL 3 */
        pushq   $user64
        iretq

user64:
.if STOP == 3 || STOP == 7 || STOP == 9
        jmp     .
.endif
        int     $0x80
        jmp     .

int80:                                          /* CPL 0, SS = null selector */
.if STOP == 4
        jmp     .
.endif
        mov     $0xc0000081, %ecx               /* STAR */
        xor     %eax, %eax
        mov     $0xfff80000, %edx               /* STAR[63:48] = 0xfff8 */
        wrmsr
        mov     $user_sysret, %rcx
        mov     $0x2, %r11
        sysretq
user_sysret:
        jmp     .

        .code32
user32:
        jmp     .

.if STOP >= 7                                   /* stages 7 to 9: see the header */
        .balign 4
x87_one:
        .float  1.0
.endif
        .balign 16
gdt_rom:
        .quad   0                               /* 0x00 null */
        .quad   0x00cf9b000000ffff              /* 0x08 code32, DPL 0 */
        .quad   0x00cf93000000ffff              /* 0x10 data, DPL 0 */
        .quad   0x00af9b000000ffff              /* 0x18 code64, DPL 0 */
        .quad   0                               /* 0x20 unused */
        .quad   0x00cffb000000ffff              /* 0x28 code32, DPL 3 */
        .quad   0x00cff3000000ffff              /* 0x30 data, DPL 3 */
        .quad   0x00affb000000ffff              /* 0x38 code64, DPL 3 */
        .quad   0x0000890050000067              /* 0x40 TSS64 at 0x5000, available */
        .quad   0
gdt_end:

        .balign 8
gdt_ptr_rom:
        .word   gdt_end - gdt_rom - 1
        .long   gdt_rom
gdt_ptr_ram:
        .word   gdt_end - gdt_rom - 1
        .long   GDT_RAM
idt_ptr:
        .word   256 * 16 - 1
        .quad   IDT_RAM

        /* The reset vector: CS = 0xf000 (base 0xffff0000), IP = 0xfff0. */
        .org    0xfff0
        .code16
        ljmp    $0xf000, $(real_start - start)
        .org    0x10000
