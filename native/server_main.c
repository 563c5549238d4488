/* rsyscall-server: the syscall server as a standalone program, for processes that do not
 * share our address space (and for testing the server loop in a separate process).
 *
 *   rsyscall-server INFD OUTFD [FLAGS]
 *
 * Exits 0 when the client closes the connection, 1 on a protocol or I/O error. */
#include <stdlib.h>

#include "rsyscall.h"

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4)
		return 2;
	long infd = strtol(argv[1], NULL, 10);
	long outfd = strtol(argv[2], NULL, 10);
	long flags = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
	/* Freestanding server: PDEATHSIG and CLOSE_FD make no sense for a program we exec. */
	flags &= ~(long)(RSYS_PDEATHSIG | RSYS_CLOSE_FD);
	return rsys_server(infd, outfd, flags, -1, 0) == 0 ? 0 : 1;
}
