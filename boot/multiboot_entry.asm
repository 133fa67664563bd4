; boot/multiboot_entry.asm - multiboot2 header and the 32-bit entry into 64-bit long mode.
;
; CPU state on entry (multiboot2 spec, i386 machine state):
;   EAX = 0x36d76289, EBX = physical address of the multiboot2 information (MBI),
;   32-bit protected mode, flat CS/DS/ES/SS, paging off, A20 on, IF = 0, ESP undefined.
;   Under UEFI, GRUB hands over with firmware bits still set in CR4 and EFER
;   (MCE, NXE, ...): every control register is written here with an absolute value.
; CPU state on exit (jump to kmain in the higher half):
;   64-bit long mode, CR3 = early tables (first 4 GiB identity-mapped and at PAGE_OFFSET,
;   the image's 1 GiB window at KERNEL_VMA, 2 MiB pages), CR4 = PAE [| LA57],
;   EFER = LME | NXE, CR0 = PG | WP | NE | ET | MP | PE, RSP = top of boot_stack
;   (virtual), RBP = 0, RDI = MBI physical address, RSI = magic,
;   RDX = load delta (physical load address - link address), IF = 0.
; On failure (bad magic, no long mode, no PAE, no NX) it prints one line on COM1 and halts.
;
; Relocation: the header's relocatable tag lets GRUB load the image at any 2 MiB-aligned
; physical address between 2 MiB and 4 GiB; the virtual addresses stay the linked ones.
; The 32-bit code below runs at the physical load address, so it addresses its own data
; as EBP + PHYS(symbol), EBP = the load delta, read from the MBI's load-base tag (21;
; 0 when the loader did not relocate). Until EBP is known there is no stack.

KERNEL_VMA      equ 0xffffffff80000000
MB2_MAGIC       equ 0xe85250d6
MB2_BOOT_MAGIC  equ 0x36d76289
COM1            equ 0x3f8
%define PHYS(x) ((x) - KERNEL_VMA)
LINK_BASE       equ 0x200000                ; linker.ld: KERNEL_LINK_PA
LOAD_ALIGN      equ 0x200000                ; 2 MiB: the early map uses 2 MiB pages
LOAD_MAX        equ 0xffffffff              ; the image must end below 4 GiB
%ifndef LOAD_PREFERENCE
LOAD_PREFERENCE equ 1                       ; 0 none, 1 lowest address, 2 highest
%endif
%ifndef LOAD_MIN
LOAD_MIN        equ LINK_BASE               ; lowest load address
%endif
MB2_TAG_LOAD_BASE equ 21

PTE_P           equ 1 << 0
PTE_W           equ 1 << 1
PTE_PS          equ 1 << 7

CR0_VALUE       equ (1 << 31) | (1 << 16) | (1 << 5) | (1 << 4) | (1 << 1) | 1
CR4_PAE         equ 1 << 5
CR4_LA57        equ 1 << 12
EFER_MSR        equ 0xc0000080
EFER_VALUE      equ (1 << 8) | (1 << 11)    ; LME | NXE

; --------------------------------------------------------------------------
; Multiboot2 header: must sit, 8-byte aligned, in the first 32 KiB of the file.
section .multiboot2 progbits alloc noexec nowrite align=8
mb2_header:
        dd MB2_MAGIC
        dd 0                                ; architecture: i386 protected mode
        dd mb2_header_end - mb2_header
        dd -(MB2_MAGIC + (mb2_header_end - mb2_header))
        align 8
.info_request:                              ; information request, marked optional
        dw 1, 1
        dd .info_request_end - .info_request
        dd 1                                ; boot command line
        dd 2                                ; boot loader name
        dd 6                                ; memory map
        dd 12                               ; EFI 64-bit system table pointer
        dd 14                               ; ACPI 1.0 RSDP
        dd 15                               ; ACPI 2.0 RSDP
        dd 17                               ; EFI memory map
        dd MB2_TAG_LOAD_BASE                ; image load base physical address
.info_request_end:
        align 8
.relocatable:                               ; load anywhere (optional: a loader that
        dw 10, 1                            ; ignores it loads at the link address)
        dd 24
        dd LOAD_MIN                         ; lowest load address
        dd LOAD_MAX                         ; highest end address
        dd LOAD_ALIGN
        dd LOAD_PREFERENCE
        align 8
.entry:                                     ; entry address (physical)
        dw 3, 0
        dd 12
        dd PHYS(_start32)
        align 8
        dw 0, 0                             ; end tag
        dd 8
mb2_header_end:

; FIND_TAG TYPE, BYTES, FOUND, ABSENT: EBX = the first MBI tag (ESI = MBI) of TYPE
; whose first BYTES bytes lie inside the MBI, then jumps to FOUND; jumps to ABSENT at
; the end tag, past the MBI or at a malformed size (the C parser reports those).
; Clobbers EAX, ECX. Needs no stack.
%macro FIND_TAG 4
        mov ebx, esi
        mov ecx, [ebx]                      ; total size
        add ecx, ebx                        ; end
        add ebx, 8
%%tag:
        lea eax, [ebx + %2]
        cmp eax, ecx
        ja %4
        mov eax, [ebx]
        test eax, eax
        jz %4                               ; end tag
        cmp eax, %1
        je %3
        mov eax, [ebx + 4]
        cmp eax, 8
        jb %4
        add eax, 7
        and eax, ~7
        add ebx, eax
        jmp %%tag
%endmacro

; --------------------------------------------------------------------------
section .boot.text progbits alloc exec nowrite align=16
bits 32
global _start32
_start32:
        cli
        cld
        mov edi, eax                        ; magic
        mov esi, ebx                        ; MBI
        ; EBP = load delta: the MBI's load-base tag - LINK_BASE, or 0 when EAX is not
        ; the multiboot2 magic or the tag is absent. Relative jumps only, no stack yet.
        xor ebp, ebp
        cmp edi, MB2_BOOT_MAGIC
        jne .have_delta
        FIND_TAG MB2_TAG_LOAD_BASE, 12, .load_base, .have_delta
.load_base:
        mov ebp, [ebx + 8]
        sub ebp, LINK_BASE
.have_delta:
        lea esp, [ebp + PHYS(boot_stack_top)]
        push dword 2                        ; EFLAGS: the loader may leave AC or NT set
        popfd                               ; (a stray AC=1 would turn SMAP off)
        call serial_init32

        cmp edi, MB2_BOOT_MAGIC
        jne .bad_magic

        ; CPUID.80000001H: EDX bit 29 = long mode, bit 20 = NX (SDM Vol. 2A, CPUID)
        mov eax, 0x80000000
        cpuid
        cmp eax, 0x80000001
        jb .no_long_mode
        mov eax, 0x80000001
        cpuid
        test edx, 1 << 29
        jz .no_long_mode
        test edx, 1 << 20
        jz .no_nx
        mov eax, 1
        cpuid
        test edx, 1 << 6                    ; PAE
        jz .no_pae

        call build_early_tables
        call want_la57                      ; EAX = CR4.LA57 or 0
        or eax, CR4_PAE
        mov cr4, eax
        test eax, CR4_LA57
        jz .four_level
        lea eax, [ebp + PHYS(early_pml5)]
        jmp .load_cr3
.four_level:
        lea eax, [ebp + PHYS(early_pml4)]
.load_cr3:
        mov cr3, eax

        mov ecx, EFER_MSR
        mov eax, EFER_VALUE
        xor edx, edx
        wrmsr

        mov eax, CR0_VALUE
        mov cr0, eax

        ; GDTR on the stack: the table's physical address depends on the load address
        lea eax, [ebp + PHYS(early_gdt)]
        push eax
        push word early_gdt_end - early_gdt - 1
        lgdt [esp]
        add esp, 6
        lea eax, [ebp + PHYS(long_mode_low)]
        push dword 0x08
        push eax
        retf                                ; far jump to 64-bit code at its load address

.bad_magic:
        mov eax, PHYS(msg_bad_magic)
        jmp boot_fail32
.no_long_mode:
        mov eax, PHYS(msg_no_long_mode)
        jmp boot_fail32
.no_nx:
        mov eax, PHYS(msg_no_nx)
        jmp boot_fail32
.no_pae:
        mov eax, PHYS(msg_no_pae)
        jmp boot_fail32

; build_early_tables: identity-map 0..4 GiB, map the same 4 GiB at PAGE_OFFSET, and
; the 1 GiB from KERNEL_VMA to the image's physical load address - LINK_BASE, all with
; 2 MiB pages. EBP = load delta. Clobbers EAX, ECX, EDX, EDI.
build_early_tables:
        push edi
        lea edi, [ebp + PHYS(early_tables_start)]
        mov ecx, (early_tables_end - early_tables_start) / 4
        xor eax, eax
        rep stosd

        ; four page directories of 512 x 2 MiB = 0..4 GiB
        lea edi, [ebp + PHYS(early_pd)]
        mov eax, PTE_P | PTE_W | PTE_PS
        mov ecx, 4 * 512
        call fill_pd

        ; the image's directory: KERNEL_VMA + n * 2 MiB -> load delta + n * 2 MiB
        lea edi, [ebp + PHYS(early_pd_image)]
        lea eax, [ebp + (PTE_P | PTE_W | PTE_PS)]
        mov ecx, 512
        call fill_pd

        ; low PDPT: entries 0..3 -> the four PDs (identity)
        lea edi, [ebp + PHYS(early_pdpt_low)]
        lea eax, [ebp + PHYS(early_pd) + (PTE_P | PTE_W)]
        mov ecx, 4
.fill_pdpt:
        mov [edi], eax
        add eax, 4096
        add edi, 8
        loop .fill_pdpt

        ; high PDPT: entry 510 -> the image's directory (KERNEL_VMA = -2 GiB)
        lea eax, [ebp + PHYS(early_pd_image) + (PTE_P | PTE_W)]
        mov [ebp + PHYS(early_pdpt_high) + 510 * 8], eax

        lea eax, [ebp + PHYS(early_pdpt_low) + (PTE_P | PTE_W)]
        mov [ebp + PHYS(early_pml4)], eax
        ; PAGE_OFFSET (0xffff888000000000, PML4 index 273) -> the same 0..4 GiB
        mov [ebp + PHYS(early_pml4) + 273 * 8], eax
        lea eax, [ebp + PHYS(early_pdpt_high) + (PTE_P | PTE_W)]
        mov [ebp + PHYS(early_pml4) + 511 * 8], eax
        ; 5-level: both ends of the PML5 point at the same PML4
        lea eax, [ebp + PHYS(early_pml4) + (PTE_P | PTE_W)]
        mov [ebp + PHYS(early_pml5)], eax
        mov [ebp + PHYS(early_pml5) + 511 * 8], eax
        pop edi
        ret

; fill_pd: ECX 2 MiB entries at EDI, the first = EAX (low dword; high dword 0),
; each 2 MiB above the last. Clobbers EAX, ECX, EDX, EDI.
fill_pd:
        xor edx, edx                        ; high dword of the physical address
.next:
        mov [edi], eax
        mov [edi + 4], edx
        add eax, 0x200000
        adc edx, 0
        add edi, 8
        loop .next
        ret

; want_la57: EAX = CR4_LA57 when the CPU has LA57 (CPUID.(7,0):ECX bit 16) and the
; command line does not hold the word "la57=off"; else 0. ESI = MBI. Clobbers EBX..EDX.
want_la57:
        mov eax, 0
        cpuid
        cmp eax, 7
        jb .no
        mov eax, 7
        xor ecx, ecx
        cpuid
        test ecx, 1 << 16
        jz .no
        FIND_TAG 1, 8, .cmdline, .yes           ; the command line (type 1)
.cmdline:
        mov ecx, [ebx + 4]
        sub ecx, 8                          ; string bytes, with the NUL
        lea ebx, [ebx + 8]
        mov edx, ebx                        ; start of the string
.scan:
        cmp ecx, 8
        jb .yes
        cmp ebx, edx
        je .word_start
        cmp byte [ebx - 1], ' '
        jne .next
.word_start:
        cmp dword [ebx], 'la57'
        jne .next
        cmp dword [ebx + 4], '=off'
        jne .next
        cmp ecx, 8
        je .no                              ; at the very end
        mov al, [ebx + 8]
        test al, al
        jz .no
        cmp al, ' '
        je .no
.next:
        inc ebx
        dec ecx
        jmp .scan
.yes:
        mov eax, CR4_LA57
        ret
.no:
        xor eax, eax
        ret

; serial_init32: COM1 at 115200 8N1, FIFOs on. Clobbers EAX, EDX.
serial_init32:
        mov dx, COM1 + 1
        xor al, al
        out dx, al                          ; no interrupts
        mov dx, COM1 + 3
        mov al, 0x80
        out dx, al                          ; DLAB
        mov dx, COM1
        mov al, 1
        out dx, al                          ; divisor 1 = 115200
        mov dx, COM1 + 1
        xor al, al
        out dx, al
        mov dx, COM1 + 3
        mov al, 0x03
        out dx, al                          ; 8N1
        mov dx, COM1 + 2
        mov al, 0xc7
        out dx, al                          ; FIFO on, cleared
        mov dx, COM1 + 4
        mov al, 0x03
        out dx, al                          ; DTR | RTS
        ret

; boot_fail32: print the NUL-terminated string at EBP + EAX (EAX = PHYS(string)) on
; COM1, then halt forever.
boot_fail32:
        lea esi, [ebp + eax]
.char:
        mov dx, COM1 + 5
.wait:
        in al, dx
        test al, 0x20
        jz .wait
        lodsb
        test al, al
        jz .halt
        mov dx, COM1
        out dx, al
        jmp .char
.halt:
        cli
        hlt
        jmp .halt

bits 64
long_mode_low:
        mov rax, long_mode_high
        jmp rax

section .text
long_mode_high:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        xor ax, ax
        mov fs, ax
        mov gs, ax
        mov rsp, boot_stack_top
        ; kmain(mbi_pa = RDI, magic = RSI, load delta = RDX); 32-bit moves zero-extend
        mov eax, edi                        ; magic
        mov edi, esi                        ; MBI
        mov esi, eax
        mov edx, ebp
        xor ebp, ebp
        extern kmain
        call kmain
.hang:
        cli
        hlt
        jmp .hang

section .rodata
msg_bad_magic:     db "warden: not loaded by a multiboot2 loader (bad magic in EAX); halting", 13, 10, 0
msg_no_long_mode:  db "warden: this CPU has no 64-bit long mode; halting", 13, 10, 0
msg_no_nx:         db "warden: this CPU has no NX (execute-disable) bit; halting", 13, 10, 0
msg_no_pae:        db "warden: this CPU has no PAE; halting", 13, 10, 0

align 8
early_gdt:
        dq 0
        dq 0x00af9a000000ffff               ; 0x08: 64-bit code
        dq 0x00cf92000000ffff               ; 0x10: data
early_gdt_end:

; The early tables live in their own section after .bss: once the kernel runs on its
; own root they are left out of the kernel image mapping and their frames are freed.
section .boot_tables nobits alloc write noexec align=4096
global early_tables_start, early_tables_end
early_tables_start:
global early_pml5, early_pml4
early_pml5:      resb 4096
early_pml4:      resb 4096
early_pdpt_low:  resb 4096
early_pdpt_high: resb 4096
early_pd:        resb 4 * 4096
early_pd_image:  resb 4096
early_tables_end:

section .bss
global boot_stack_bottom, boot_stack_top
align 4096
boot_stack_bottom:
        resb 16384
boot_stack_top:
