/* The raw syscall entry and the clone trampoline (x86_64).
 *
 * rsys_raw_syscall must stay pure assembly that ends in `ret` straight after `syscall`:
 * when it performs clone, the child resumes here on its new stack and that `ret` pops
 * the address the parent left at the top of that stack (rsys_trampoline). Compiled C
 * would touch the stack between the two instructions. */
#include <asm/unistd.h>

/* Hidden: calls from the server must be direct, never through a PLT slot that the dynamic
 * linker might resolve lazily (with TLS) inside a child. */

	.text

/* long rsys_raw_syscall(long a1, long a2, long a3, long a4, long a5, long a6, long nr);
 * The C ABI passes the seventh argument on the stack, at 8(%rsp) on entry. */
	.globl	rsys_raw_syscall
	.hidden	rsys_raw_syscall
	.type	rsys_raw_syscall, @function
rsys_raw_syscall:
	movq	%rcx, %r10
	movq	8(%rsp), %rax
	syscall
	ret
	.size	rsys_raw_syscall, .-rsys_raw_syscall

/* Where a clone child starts. Its stack holds, from the top:
 *   [rdi][rsi][rdx][rcx][r8][r9][function]
 * (the trampoline's own address was just popped by the `ret` above). Call
 * function(rdi..r9) on a 16-byte-aligned stack, then exit with its return value. */
	.globl	rsys_trampoline
	.hidden	rsys_trampoline
	.type	rsys_trampoline, @function
rsys_trampoline:
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%r8
	popq	%r9
	popq	%rax
	andq	$-16, %rsp
	xorl	%ebp, %ebp
	call	*%rax
	movq	%rax, %rdi
	movl	$__NR_exit, %eax
	syscall
	hlt
	.size	rsys_trampoline, .-rsys_trampoline

	.section .note.GNU-stack, "", @progbits
