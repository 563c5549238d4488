// The interface every way of making syscalls implements: the Node process itself, a child
// over a socket, a remote host.
import { SYS } from "../gen/sys.js";

/** A syscall argument: a number (exact below 2^53, negatives sign-extended) or a full 64-bit bigint. */
export type SyscallArg = number | bigint;

export interface SyscallInterface {
  /**
   * Performs syscall `nr` in the target process. Resolves with the result when it is not an
   * error; rejects with `SyscallError` for -errno, or a hang-up error when the target went away
   * after the request was sent. Requests made on one interface run in the order they were made.
   */
  syscall(
    nr: number,
    a1?: SyscallArg,
    a2?: SyscallArg,
    a3?: SyscallArg,
    a4?: SyscallArg,
    a5?: SyscallArg,
    a6?: SyscallArg,
  ): Promise<number>;
  /**
   * Like `syscall`, but resolves with the raw result, -errno included, instead of rejecting: for
   * callers to whom an error is routine (EAGAIN in a non-blocking loop), where an exception would
   * cost more than the syscall. Still rejects when the target went away.
   */
  syscallRaw(
    nr: number,
    a1?: SyscallArg,
    a2?: SyscallArg,
    a3?: SyscallArg,
    a4?: SyscallArg,
    a5?: SyscallArg,
    a6?: SyscallArg,
  ): Promise<number>;
  /** Stops accepting requests. Requests already sent still settle. */
  close(): Promise<void>;
}

const names: string[] = [];
for (const [name, nr] of Object.entries(SYS)) names[nr] = name;

/** The name of syscall number `nr` ("openat"), for messages. */
export function syscallName(nr: number): string {
  return names[nr] ?? `syscall_${nr}`;
}

/** The largest result that is an error: the kernel returns -4095..-1 for -errno. */
export const MAX_ERRNO = 4095;

/** Whether a raw result is -errno. */
export function isErrno(result: number): boolean {
  return result < 0 && result >= -MAX_ERRNO;
}
