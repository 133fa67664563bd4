; arch/trap_entry.asm - exception and interrupt entry points, one per vector.
;
; State on entry: the CPU has pushed SS, RSP, RFLAGS, CS, RIP (and an error code for
; some vectors) on the handler stack (the IST stack for #DF, NMI and #MC); IF = 0.
; The stub makes a struct trap_frame (arch/trap.h): vector, error code (0 if the CPU
; pushed none), the general registers, and the interrupted IA32_PKRS. With PKRS
; managed it then loads trap_pkrs_default, so handlers run with page-table writes
; disabled whatever the interrupted code had opened (PKRS is not saved by XSAVE and
; not switched by the CPU on exceptions: SDM Vol. 3A, 4.6.2). An interrupted PKRS
; with the guarded key (the page-table key) writable lists the frame first
; (arch/trap_pkrs.h), while that PKRS still lets the list be written.
; On exit: PKRS = frame->pkrs with the guarded bits forced closed unless the frame
; is listed, registers from the frame, IRETQ to frame->rip/rsp.

bits 64
section .text

MSR_PKRS equ 0x6e1

extern trap_dispatch
extern trap_pkrs_managed
extern trap_pkrs_default
extern trap_pkrs_guard
extern trap_pkrs_guard_closed
extern trap_pkrs_open_count
extern trap_pkrs_enter_open
extern trap_pkrs_exit

; One stub per vector: vectors with a CPU-pushed error code push only the vector.
%assign v 0
%rep 256
stub_ %+ v:
  %if v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21 || v == 29 || v == 30
  %else
        push 0
  %endif
        push v
        jmp trap_common
  %assign v v + 1
%endrep

trap_common:
        push rax
        push rbx
        push rcx
        push rdx
        push rsi
        push rdi
        push rbp
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        cld
        mov rbx, rsp                        ; the frame, minus pkrs, kept in rbx
        cmp byte [rel trap_pkrs_managed], 0
        je .no_pkrs
        mov ecx, MSR_PKRS
        rdmsr
        push rax                            ; frame->pkrs (high half is always 0)
        sub rbx, 8
        mov edx, [rel trap_pkrs_guard]
        test edx, edx
        jz .load_default                    ; nothing guarded
        test eax, edx
        jnz .load_default                   ; the guarded key was not writable
        mov rdi, rsp                        ; inside a window: list this frame
        and rsp, -16
        call trap_pkrs_enter_open
        mov rsp, rbx
.load_default:
        mov eax, [rel trap_pkrs_default]
        cmp eax, [rsp]                      ; already loaded: no WRMSR (a TLB flush
        je .saved                           ; in emulators, a cost on silicon)
        xor edx, edx
        mov ecx, MSR_PKRS
        wrmsr
        jmp .saved
.no_pkrs:
        push 0
        sub rbx, 8
.saved:
        mov rdi, rsp
        and rsp, -16
        call trap_dispatch
        mov rsp, rbx
        cmp byte [rel trap_pkrs_managed], 0
        je .skip_pkrs
        mov eax, [rsp]                      ; frame->pkrs, guarded bits closed ...
        or eax, [rel trap_pkrs_guard_closed]
        cmp dword [rel trap_pkrs_open_count], 0
        je .load_pkrs
        mov rdi, rsp                        ; ... unless this frame is listed
        and rsp, -16
        call trap_pkrs_exit
        mov rsp, rbx
.load_pkrs:
        mov esi, eax                        ; the PKRS to resume with; rsi, rcx and
        mov ecx, MSR_PKRS                   ; rdx are restored from the frame below
        rdmsr
        cmp eax, esi
        je .skip_pkrs                       ; loaded already
        mov eax, esi
        xor edx, edx
        wrmsr
.skip_pkrs:
        add rsp, 8
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rbp
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rbx
        pop rax
        add rsp, 16                         ; vector, error code
        iretq

section .rodata
global trap_stub_table
align 8
trap_stub_table:
%assign v 0
%rep 256
        dq stub_ %+ v
  %assign v v + 1
%endrep
