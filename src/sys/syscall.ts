/**
 * `<sys/syscall.h>`: x86_64 system call numbers by name (`SYS.getpid`), for raw use.
 *
 * @module rsyscall/sys/syscall
 */
export { SYS } from "../gen/sys.js";
