; Bochs VMX kernel: VMXON, one VMCS, and for each state record VMCLEAR/VMPTRLD, write
; every field (static ones valid, the record's segments, CR0, CR4, EFER, RFLAGS and
; controls), VMLAUNCH. Result per state on port 0xe9:
;   S           entry succeeded (the guest exits at once: VMX-preemption timer = 0)
;   G           VM-entry failure, exit reason 33 | bit 31 (invalid guest state)
;   Mxxxx;      another VM-entry failure, basic exit reason xxxx
;   Vxxxx;      VMfail, VM-instruction error xxxx (ffff: VMfailInvalid)
%include "common.inc"

VMXON_PTR  equ 0x40000
VMCS_PTR   equ 0x41000

%macro VMWI 2               ; field, immediate
    mov edx, %1
    mov rax, %2
    vmwrite rdx, rax
%endmacro

; adjust: edi = wanted bits, ecx = capability MSR -> eax = (wanted | must-be-1) & may-be-1
adjust:
    rdmsr
    or eax, edi
    and eax, edx
    ret

setup:
    mov rax, cr4
    or rax, 1 << 13
    mov cr4, rax
    mov ecx, 0x3a
    rdmsr
    test eax, 1
    jnz .locked
    or eax, 5
    wrmsr
.locked:
    mov ecx, 0x480
    rdmsr
    mov [VMXON_PTR], eax
    mov [VMCS_PTR], eax
    ; TRUE control MSRs when IA32_VMX_BASIC bit 55 says they exist
    mov dword [msr_pin], 0x481
    mov dword [msr_proc], 0x482
    mov dword [msr_exit], 0x483
    mov dword [msr_entry], 0x484
    bt edx, 55 - 32
    jnc .caps
    mov dword [msr_pin], 0x48d
    mov dword [msr_proc], 0x48e
    mov dword [msr_exit], 0x48f
    mov dword [msr_entry], 0x490
.caps:
    mov edi, 1 << 6         ; activate VMX-preemption timer
    mov ecx, [msr_pin]
    call adjust
    bt eax, 6
    jnc fatal
    mov [pin], eax
    mov edi, 1 << 31 | 1 << 7   ; secondary controls, HLT exiting
    mov ecx, [msr_proc]
    call adjust
    bt eax, 31
    jnc fatal
    mov [proc], eax
    mov edi, 1 << 1         ; enable EPT (unrestricted guest needs it)
    mov ecx, 0x48b
    call adjust
    bt eax, 1
    jnc fatal
    and eax, ~(1 << 7)
    mov [secondary], eax
    bt edx, 7               ; unrestricted guest allowed?
    jnc fatal
    mov edi, 1 << 9 | 1 << 21   ; host address-space size, load IA32_EFER
    mov ecx, [msr_exit]
    call adjust
    mov [exit_ctl], eax
    mov edi, 1 << 15        ; load IA32_EFER
    mov ecx, [msr_entry]
    call adjust
    bt eax, 15
    jnc fatal
    and eax, ~(1 << 9)
    mov [entry_ctl], eax
    ; EPT: identity map of 4 GiB, 2 MiB pages, RWX, write-back
    mov dword [0x30000], 0x31007
    xor ecx, ecx
.eptpdpt:
    mov eax, ecx
    shl eax, 12
    add eax, 0x32000 + 7
    mov [0x31000 + ecx * 8], eax
    inc ecx
    cmp ecx, 4
    jb .eptpdpt
    xor ecx, ecx
.eptpd:
    mov eax, ecx
    shl eax, 21
    or eax, 0xb7
    mov [0x32000 + ecx * 8], eax
    inc ecx
    cmp ecx, 2048
    jb .eptpd
    vmxon [vmxon_ptr]
    jbe fatal
    ret

; write_static: every field the records do not carry, valid for any record.
write_static:
    mov eax, [pin]
    VMWI 0x4000, rax
    mov eax, [proc]
    VMWI 0x4002, rax
    VMWI 0x4004, 0xffffffff     ; exception bitmap: every exception exits
    VMWI 0x4006, 0
    VMWI 0x4008, 0
    VMWI 0x400a, 0              ; CR3-target count
    mov eax, [exit_ctl]
    VMWI 0x400c, rax
    VMWI 0x400e, 0
    VMWI 0x4010, 0
    VMWI 0x4014, 0
    VMWI 0x4016, 0              ; no event injection
    VMWI 0x201a, 0x3001e        ; EPTP: 0x30000, 4 levels, WB
    VMWI 0x6000, 0              ; CR0/CR4 guest-host masks and read shadows
    VMWI 0x6002, 0
    VMWI 0x6004, 0
    VMWI 0x6006, 0
    ; host state
    mov rax, cr0
    VMWI 0x6c00, rax
    mov rax, cr3
    VMWI 0x6c02, rax
    mov rax, cr4
    VMWI 0x6c04, rax
    VMWI 0x0c00, 0x10
    VMWI 0x0c02, 0x08
    VMWI 0x0c04, 0x10
    VMWI 0x0c06, 0x10
    VMWI 0x0c08, 0x10
    VMWI 0x0c0a, 0x10
    VMWI 0x0c0c, 0x20
    VMWI 0x4c00, 0
    VMWI 0x6c06, 0
    VMWI 0x6c08, 0
    VMWI 0x6c0a, 0x42000
    VMWI 0x6c0c, gdt
    VMWI 0x6c0e, 0
    VMWI 0x6c10, 0
    VMWI 0x6c12, 0
    VMWI 0x6c16, vm_exit
    mov ecx, 0xc0000080
    rdmsr
    shl rdx, 32
    or rax, rdx
    VMWI 0x2c02, rax
    ; guest state outside what segstate models
    VMWI 0x6802, 0x43000        ; CR3: a zeroed page
    VMWI 0x681a, 0x400          ; DR7
    VMWI 0x681c, 0              ; RSP
    VMWI 0x681e, 0x1000         ; RIP
    VMWI 0x6816, 0              ; GDTR base
    VMWI 0x4810, 0xffff
    VMWI 0x6818, 0              ; IDTR base
    VMWI 0x4812, 0xffff
    VMWI 0x6822, 0              ; pending debug exceptions
    VMWI 0x6824, 0              ; SYSENTER_ESP/EIP/CS
    VMWI 0x6826, 0
    VMWI 0x482a, 0
    VMWI 0x4824, 0              ; interruptibility
    VMWI 0x4826, 0              ; activity: active
    VMWI 0x4828, 0              ; SMBASE
    VMWI 0x482e, 0              ; VMX-preemption timer: exit before the first instruction
    VMWI 0x2800, -1             ; VMCS link pointer
    VMWI 0x2802, 0              ; DEBUGCTL
    VMWI 0x280a, 0              ; PDPTEs (EPT on: taken from here)
    VMWI 0x280c, 0
    VMWI 0x280e, 0
    VMWI 0x2810, 0
    ret

; run_state: rsi = record.
run_state:
    vmclear [vmcs_ptr]
    vmptrld [vmcs_ptr]
    push rsi
    call write_static
    pop rsi
    xor ecx, ecx
.seg:
    imul rbx, rcx, 24
    add rbx, rsi
    movzx eax, word [rbx]
    lea edx, [0x800 + ecx * 2]
    vmwrite rdx, rax
    mov eax, [rbx + 4]
    lea edx, [0x4814 + ecx * 2]
    vmwrite rdx, rax
    mov eax, [rbx + 8]
    lea edx, [0x4800 + ecx * 2]
    vmwrite rdx, rax
    mov rax, [rbx + 16]
    lea edx, [0x6806 + ecx * 2]
    vmwrite rdx, rax
    inc ecx
    cmp ecx, 8
    jb .seg
    VMWI 0x6800, [rsi + 0xc0]   ; CR0
    VMWI 0x6804, [rsi + 0xc8]   ; CR4
    VMWI 0x2806, [rsi + 0xd0]   ; EFER
    VMWI 0x6820, [rsi + 0xd8]   ; RFLAGS
    mov ebx, [rsi + 0xe0]       ; bit 0 unrestricted guest, bit 1 IA-32e mode guest
    mov eax, ebx
    and eax, 1
    shl eax, 7
    or eax, [secondary]
    VMWI 0x401e, rax
    mov eax, ebx
    and eax, 2
    shl eax, 8
    or eax, [entry_ctl]
    VMWI 0x4012, rax
    mov rax, rsp
    VMWI 0x6c14, rax            ; host RSP: this frame
    vmlaunch
    jc .invalid
    mov edx, 0x4400
    vmread rax, rdx
    push rax
    mov al, 'V'
    call putc
    pop rax
    call puthex
    mov al, ';'
    jmp putc
.invalid:
    mov al, 'V'
    call putc
    mov ax, 0xffff
    call puthex
    mov al, ';'
    jmp putc
vm_exit:
    mov edx, 0x4402
    vmread rax, rdx
    bt eax, 31
    jc .failed
    mov al, 'S'
    jmp putc
.failed:
    and eax, 0xffff
    cmp eax, 33
    jne .other
    mov al, 'G'
    jmp putc
.other:
    push rax
    mov al, 'M'
    call putc
    pop rax
    call puthex
    mov al, ';'
    jmp putc

align 8
vmxon_ptr: dq VMXON_PTR
vmcs_ptr:  dq VMCS_PTR
msr_pin:   dd 0
msr_proc:  dd 0
msr_exit:  dd 0
msr_entry: dd 0
pin:       dd 0
proc:      dd 0
secondary: dd 0
exit_ctl:  dd 0
entry_ctl: dd 0
