; arch/ap_boot.asm - the application-processor trampoline (real mode -> long mode).
;
; The blob ap_tramp_start..ap_tramp_end is never executed where it is linked: the
; boot CPU copies it to one 4 KiB page P below 1 MiB (kernel/smp.c), fills in the
; parameter block, makes P read-only in the direct map and identity-maps it
; read+execute in the kernel root, then sends INIT-SIPI-SIPI with vector P >> 12.
;
; CPU state on entry (SIPI, SDM Vol. 3A, 8.4.4.1 "Typical BSP Initialization
; Sequence", and 9.1.1 for the state after INIT):
;   real mode, CS = P >> 4, IP = 0, IF = 0, CR0 = 0x60000010 (CD and NW set).
; Steps: 16-bit real mode -> 32-bit protected mode (paging off) -> CR4, CR3 and
; EFER from the parameter block -> CR0 with PG: IA-32e (compatibility) mode on the
; identity map of P -> far jump to 64-bit mode -> jump to ap_start64 in the kernel
; image (higher half).
; CPU state on exit (ap_start64 -> smp_ap_main in C):
;   64-bit long mode, CR3 = the kernel root, CR4 = PAE | PGE [| LA57] as on the boot
;   CPU, EFER = LME | NXE, CR0 = the boot CPU's (PG | WP | NE | ET | MP | PE),
;   CS = 0x08 and DS = ES = SS = 0x10 of the trampoline's GDT (the C code loads the
;   CPU's own GDT/TSS and the IDT), RSP = ap_boot_stack (the AP's own stack),
;   RBP = 0, IF = 0.
; The trampoline never writes its own page: the GDT descriptors carry the accessed
; bit already, so loading them with paging on does not store into P.

bits 16
section .rodata
align 16
global ap_tramp_start, ap_tramp_end, ap_tramp_params, ap_tramp_params_end
%define OFF(x) ((x) - ap_tramp_start)

ap_tramp_start:
        cli
        cld
        mov ax, cs
        mov ds, ax
        xor ebx, ebx
        mov bx, ax
        shl ebx, 4                          ; EBX = P, kept through the mode switches
        o32 lgdt [OFF(tr_gdtr)]
        mov eax, 0x11                       ; PE | ET, and CD = NW = 0: caches on
        mov cr0, eax
        o32 jmp far [OFF(tr_pm32)]          ; CS = 0x18 (32-bit code)

bits 32
ap_tramp_pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        xor eax, eax
        mov fs, ax
        mov gs, ax
        mov eax, [ebx + OFF(tr_cr4)]        ; PAE | PGE [| LA57]: LA57 only with paging off
        mov cr4, eax
        mov eax, [ebx + OFF(tr_cr3)]        ; the kernel root (below 4 GiB)
        mov cr3, eax
        mov ecx, 0xc0000080                 ; IA32_EFER
        mov eax, [ebx + OFF(tr_efer)]
        xor edx, edx
        wrmsr
        mov eax, [ebx + OFF(tr_cr0)]        ; PG on: IA-32e mode, fetches via the identity map
        mov cr0, eax
        jmp far [ebx + OFF(tr_lm64)]        ; CS = 0x08 (64-bit code)

bits 64
ap_tramp_lm64:
        mov rax, [rel tr_entry]
        jmp rax

; null, 0x08 64-bit code, 0x10 data, 0x18 32-bit code; accessed bits preset.
align 8
tr_gdt:
        dq 0
        dq 0x00af9b000000ffff
        dq 0x00cf93000000ffff
        dq 0x00cf9b000000ffff
tr_gdt_end:
tr_entry:
        dq ap_start64

; Parameter block, filled by the boot CPU before P is mapped executable. Layout
; fixed by struct ap_tramp_params (kernel/smp.c).
align 8
ap_tramp_params:
tr_gdtr:        dw 0                        ; limit
                dd 0                        ; base = P + OFF(tr_gdt)
tr_pm32:        dd 0                        ; P + OFF(ap_tramp_pm32)
                dw 0                        ; 0x18
tr_lm64:        dd 0                        ; P + OFF(ap_tramp_lm64)
                dw 0                        ; 0x08
tr_cr3:         dd 0
tr_cr4:         dd 0
tr_efer:        dd 0
tr_cr0:         dd 0
tr_offsets:     dw OFF(tr_gdt), OFF(tr_gdt_end), OFF(ap_tramp_pm32), OFF(ap_tramp_lm64)
ap_tramp_params_end:
ap_tramp_end:

; 64-bit entry in the kernel image: the AP's own stack, then C.
section .text
extern ap_boot_stack
extern smp_ap_main
global ap_start64
ap_start64:
        mov rsp, [rel ap_boot_stack]
        xor ebp, ebp
        call smp_ap_main
.hang:
        cli
        hlt
        jmp .hang
