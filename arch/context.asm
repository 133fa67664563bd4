; arch/context.asm - catch_call/catch_resume (a setjmp-like fault catcher) and the
; kernel-thread stack switch.

bits 64
section .text

; int catch_call(void (*fn)(void *), void *arg, struct catch_ctx *ctx)
; Saves the callee-saved registers and RSP in ctx, calls fn(arg) and returns 0.
; If fn faults, the trap handler resumes at catch_resume with RDI = ctx, and
; catch_call returns 1 to its caller with the saved registers. ctx layout:
; rbx, rbp, r12, r13, r14, r15, rsp (kernel/catch.c: struct catch_ctx).
global catch_call
catch_call:
        mov [rdx + 0], rbx
        mov [rdx + 8], rbp
        mov [rdx + 16], r12
        mov [rdx + 24], r13
        mov [rdx + 32], r14
        mov [rdx + 40], r15
        mov [rdx + 48], rsp
        push rdx                            ; keeps RSP 16-byte aligned at the call
        mov rax, rdi
        mov rdi, rsi
        call rax
        pop rdx
        xor eax, eax
        ret

global catch_resume
catch_resume:
        mov rbx, [rdi + 0]
        mov rbp, [rdi + 8]
        mov r12, [rdi + 16]
        mov r13, [rdi + 24]
        mov r14, [rdi + 32]
        mov r15, [rdi + 40]
        mov rsp, [rdi + 48]
        mov eax, 1
        ret

; void context_switch(uint64_t *save_rsp, uint64_t next_rsp)
; Pushes the callee-saved registers, stores RSP in *save_rsp, switches to next_rsp
; and pops the next thread's registers. A new thread's stack is prepared so that the
; final RET lands in its entry trampoline (kernel/thread.c).
global context_switch
context_switch:
        push rbp
        push rbx
        push r12
        push r13
        push r14
        push r15
        mov [rdi], rsp
        mov rsp, rsi
        pop r15
        pop r14
        pop r13
        pop r12
        pop rbx
        pop rbp
        ret
