; Boot sector: loads the kernel (the next 35 sectors of the floppy) to 0x8000 and jumps
; there. BIOS INT 13h AH=02h, CHS addressing of a 1.44 MB floppy (18 sectors a track).
bits 16
org 0x7c00
start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    mov [drive], dl
    ; cylinder 0, head 0, sectors 2..18 -> 0x8000
    mov ax, 0x0211
    mov cx, 0x0002
    xor dh, dh
    mov dl, [drive]
    mov bx, 0x8000
    int 0x13
    jc fail
    ; cylinder 0, head 1, sectors 1..18 -> 0x8000 + 17 * 512
    mov ax, 0x0212
    mov cx, 0x0001
    mov dh, 1
    mov dl, [drive]
    mov bx, 0x8000 + 17 * 512
    int 0x13
    jc fail
    jmp 0:0x8000
fail:
    mov al, '!'
    out 0xe9, al
.hang:
    hlt
    jmp .hang
drive: db 0
times 510 - ($ - $$) db 0
dw 0xaa55
