/**
 * `<errno.h>`: errno values by name (`ERRNO.ENOENT === 2`), as SyscallError's `errno` reports them.
 *
 * @module rsyscall/errno
 */
export { ERRNO } from "./gen/errno.js";
