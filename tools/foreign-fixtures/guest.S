/* Minimal PVH guest: long mode, then SYSRET to ring 3 with a null SS at CPL 0 first. */
    .section .note.Xen, "a"
    .p2align 2
    .long 4            /* namesz */
    .long 4            /* descsz */
    .long 18           /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long entry32

    .text
    .code32
    .globl entry32
entry32:
    cli
    lgdt gdt_desc
    /* page tables: PML4 -> PDPT -> PD, one 2 MiB user-accessible identity page */
    movl $pdpt + 7, pml4
    movl $pd + 7, pdpt
    movl $0x87, pd
.ifdef CROSVM
    /* crosvm loads an ELF kernel at 2 MiB or above: map the second 2 MiB page too */
    movl $0x200087, pd + 8
.endif
    movl %cr4, %eax
    orl  $0x20, %eax          /* PAE */
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx    /* EFER */
    rdmsr
    orl  $0x101, %eax         /* LME | SCE */
    wrmsr
    movl %cr0, %eax
    orl  $0x80000001, %eax    /* PG | PE */
    movl %eax, %cr0
    ljmp $0x08, $entry64

    .code64
entry64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movq $stack_top, %rsp
    /* STAR: SYSRET CS = 0x20|3, SS = 0x18|3; SYSCALL CS = 0x08 */
    movl $0xC0000081, %ecx
    xorl %eax, %eax
    movl $0x00100008, %edx
    wrmsr
.ifdef KERNEL_ONLY
    movabsq $0x5345475354415445, %rax   /* "SEGSTATE" marker */
kernel_loop:
    pause
    jmp kernel_loop
.endif
    /* null SS at CPL 0 (allowed in 64-bit mode), then SYSRET keeps its hidden attributes on AMD */
    xorl %eax, %eax
    movw %ax, %ss
    leaq user_loop(%rip), %rcx
    movq $0x2, %r11           /* RFLAGS after SYSRET: IF=0 */
    movabsq $0x5345475354415445, %rax   /* "SEGSTATE" marker */
    sysretq
user_loop:
    pause
    jmp user_loop
.ifdef LINUX64
    /*
     * Entry for VMMs that start an ELF kernel with the Linux 64-bit boot protocol
     * (Firecracker before v1.11): already in long mode, CS 0x8 of the VMM's GDT, the
     * VMM's (supervisor-only) identity page tables, RSI = boot_params. Switch to this
     * guest's page tables and GDT, set EFER.SCE, reload CS with a far return, then go
     * on exactly as after the PVH 32-bit entry (entry64).
     */
    .globl entry_linux64
entry_linux64:
    cli
    movq $stack_top, %rsp
    movl $pdpt + 7, pml4
    movl $pd + 7, pdpt
    movl $0x87, pd
.ifdef CROSVM
    /* crosvm before April 2025 enters an ELF64 this way: it is at 2 MiB, map that page too */
    movl $0x200087, pd + 8
.endif
    movl $pml4, %eax
    movq %rax, %cr3
    lgdt gdt_desc64
    movl $0xC0000080, %ecx    /* EFER */
    rdmsr
    orl  $0x101, %eax         /* LME | SCE */
    wrmsr
    pushq $0x08
    leaq entry64(%rip), %rax
    pushq %rax
    lretq
.endif

    .data
    .p2align 3
gdt:
    .quad 0
    .quad 0x00af9b000000ffff  /* 0x08 kernel code 64 */
    .quad 0x00cf93000000ffff  /* 0x10 kernel data */
    .quad 0x00cff3000000ffff  /* 0x18 user data */
    .quad 0x00affb000000ffff  /* 0x20 user code 64 */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt
.ifdef LINUX64
gdt_desc64:                   /* 64-bit LGDT operand: 2-byte limit, 8-byte base */
    .word gdt_end - gdt - 1
    .quad gdt
.endif

    .bss
    .p2align 12
pml4: .skip 4096
pdpt: .skip 4096
pd:   .skip 4096
    .skip 4096
stack_top:
