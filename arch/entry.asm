; arch/entry.asm - exception and interrupt entry stubs, one per vector.
;
; State on entry: the CPU has pushed SS, RSP, RFLAGS, CS, RIP (and an error code for
; some vectors) on the handler stack (the IST stack for #DF, NMI and #MC); IF = 0.
; The stub makes a struct trap_frame (arch/trap.h): vector, error code (0 if the CPU
; pushed none), the general registers, and the interrupted IA32_PKRS. With PKRS
; managed it then loads trap_pkrs_default, so handlers run with page-table writes
; disabled whatever the interrupted code had opened (PKRS is not saved by XSAVE and
; not switched by the CPU on exceptions: SDM Vol. 3A, 4.6.2).
; On exit: PKRS = frame->pkrs, registers from the frame, IRETQ to frame->rip/rsp.

bits 64
section .text

MSR_PKRS equ 0x6e1

extern trap_dispatch
extern trap_pkrs_managed
extern trap_pkrs_default

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
        cmp byte [rel trap_pkrs_managed], 0
        je .no_pkrs
        mov ecx, MSR_PKRS
        rdmsr
        push rax                            ; frame->pkrs (high half is always 0)
        mov eax, [rel trap_pkrs_default]
        xor edx, edx
        wrmsr
        jmp .saved
.no_pkrs:
        push 0
.saved:
        cld
        mov rdi, rsp
        mov rbx, rsp
        and rsp, -16
        call trap_dispatch
        mov rsp, rbx
        cmp byte [rel trap_pkrs_managed], 0
        je .skip_pkrs
        pop rax
        xor edx, edx
        mov ecx, MSR_PKRS
        wrmsr
        jmp .restored
.skip_pkrs:
        add rsp, 8
.restored:
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
