/* _start of the rsyscall-server program (x86_64): no libc, no dynamic loader. The kernel leaves
 * argc, argv, envp and the auxiliary vector on the stack; hand that pointer to C on an aligned
 * stack, and exit with what it returns. */
#include <asm/unistd.h>

	.text
	.globl	_start
	.hidden	_start
	.type	_start, @function
_start:
	xorl	%ebp, %ebp
	movq	%rsp, %rdi
	andq	$-16, %rsp
	call	rsys_program_main
	movq	%rax, %rdi
	movl	$__NR_exit_group, %eax
	syscall
	hlt
	.size	_start, .-_start

	.section .note.GNU-stack, "", @progbits
