; Bochs SVM kernel: EFER.SVME, a host save area, one VMCB; for each state record write
; the VMCB (a valid control area, the record's segments, CPL, CR0, CR4, EFER, valid
; values elsewhere) and VMRUN. Result per state on port 0xe9:
;   S           VMRUN entered the guest (it exits at once: the PIT's IRQ 0 stays pending
;               at the PIC, since the kernel never sets IF, and the guest, entered
;               with RFLAGS.IF = 1, takes #VMEXIT(INTR) before its first instruction;
;               every exception, HLT and shutdown are intercepted too)
;   G           #VMEXIT(VMEXIT_INVALID): a consistency check failed
%include "common.inc"

HSAVE equ 0x40000
VMCB  equ 0x41000

setup:
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1 << 12                 ; EFER.SVME
    wrmsr
    mov ecx, 0xc0010117             ; VM_HSAVE_PA
    mov eax, HSAVE
    xor edx, edx
    wrmsr
    ; wait until IRQ 0 (the BIOS's PIT tick) is pending at the master PIC
.irq:
    mov al, 0x0a                    ; OCW3: read IRR
    out 0x20, al
    in al, 0x20
    test al, 1
    jz .irq
    ret

; run_state: rsi = record.
run_state:
    push rsi
    mov rdi, VMCB
    xor eax, eax
    mov ecx, 4096 / 8
    rep stosq
    pop rsi
    mov dword [VMCB + 0x08], 0xffffffff     ; every exception
    mov dword [VMCB + 0x0c], 1 << 0 | 1 << 24 | 1 << 31   ; INTR, HLT, shutdown
    mov dword [VMCB + 0x10], 1              ; VMRUN (required)
    mov qword [VMCB + 0x40], 0x44000        ; IOPM
    mov qword [VMCB + 0x48], 0x48000        ; MSRPM
    mov dword [VMCB + 0x58], 1              ; ASID
    mov byte [VMCB + 0x63], 1               ; V_INTR_MASKING
    ; segments: record order ES CS SS DS FS GS LDTR TR -> VMCB offsets
    xor ecx, ecx
.seg:
    imul rbx, rcx, 24
    add rbx, rsi
    movzx edi, byte [seg_offsets + rcx]
    shl edi, 4
    add rdi, VMCB + 0x400
    mov ax, [rbx]
    mov [rdi], ax
    mov ax, [rbx + 4]
    mov [rdi + 2], ax
    mov eax, [rbx + 8]
    mov [rdi + 4], eax
    mov rax, [rbx + 16]
    mov [rdi + 8], rax
    inc ecx
    cmp ecx, 8
    jb .seg
    mov word [VMCB + 0x464], 0xffff         ; GDTR, IDTR limits
    mov word [VMCB + 0x484], 0xffff
    mov al, [rsi + 0xe4]
    mov [VMCB + 0x4cb], al                  ; CPL
    mov rax, [rsi + 0xd0]
    mov [VMCB + 0x4d0], rax                 ; EFER
    mov rax, [rsi + 0xc8]
    mov [VMCB + 0x548], rax                 ; CR4
    mov qword [VMCB + 0x550], 0x43000       ; CR3: a zeroed page
    mov rax, [rsi + 0xc0]
    mov [VMCB + 0x558], rax                 ; CR0
    mov qword [VMCB + 0x560], 0x400         ; DR7
    mov eax, 0xffff0ff0
    mov [VMCB + 0x568], rax                 ; DR6
    mov rax, [rsi + 0xd8]
    mov [VMCB + 0x570], rax                 ; RFLAGS
    mov qword [VMCB + 0x578], 0x1000        ; RIP
    mov rax, 0x0007040600070406
    mov [VMCB + 0x668], rax                 ; PAT
    mov rax, VMCB
    vmrun
    mov rax, [VMCB + 0x70]                  ; EXITCODE
    cmp rax, -1
    je .invalid
    mov al, 'S'
    jmp putc
.invalid:
    mov al, 'G'
    jmp putc

seg_offsets: db 0, 1, 2, 3, 4, 5, 7, 9
