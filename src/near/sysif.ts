// The interface every way of making syscalls implements: the Node process itself, a child
// over a socket, a remote host.
import { SYS } from "../gen/sys.js";

/** A syscall argument: a number (exact below 2^53, negatives sign-extended) or a full 64-bit bigint. */
export type SyscallArg = number | bigint;

/**
 * How syscalls reach one process (`task.sysif`): by number, with raw arguments. The syscall
 * methods are built on it; it is for a syscall that has no method yet.
 */
export interface SyscallInterface {
  /**
   * Performs syscall `nr` in the target process. Resolves with the result when it is not an
   * error; rejects with `SyscallError` for -errno, or a hang-up error when the target went away
   * after the request was sent. Requests made on one interface run in the order they were made.
   * An argument that is not an integer in [-2^63, 2^64) rejects with RangeError before anything
   * is sent (see `wideArg`).
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
  /**
   * Calls `release` once the next request made on this interface (in this same tick) has completed,
   * or at once if none is made: how memory and other resources an outstanding syscall uses stay
   * alive until it is done. Interfaces whose syscalls complete before they return (the Node
   * process) leave this out.
   */
  holdUntilNextCompletes?(release: () => void): void;
  /**
   * Settles, with the reason, when the process behind this interface went away (it exited or
   * exec'd): what waits on its fds can stop. Absent for the Node process, which cannot go away.
   */
  readonly hungUp?: Promise<string>;
}

/**
 * A syscall interface to a process in another address space that moves memory through its link
 * (the stream memory transport): see SyscallConnection.
 */
export interface MemoryLink extends SyscallInterface {
  /** Stores `bytes` at `address`, ordered before every request made after this call. */
  writeMemory(address: number, bytes: Uint8Array): void;
  /** Copies `length` bytes at `address`. */
  readMemory(address: number, length: number): Promise<Buffer>;
}

/** Whether `sysif` can move memory through its link. */
export function isMemoryLink(sysif: SyscallInterface): sysif is MemoryLink {
  return typeof (sysif as Partial<MemoryLink>).writeMemory === "function";
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

const MIN_INT64 = -(2n ** 63n);
const LIMIT_UINT64 = 2n ** 64n;

/**
 * An argument that is not a safe integer, as the 64-bit register value the kernel sees. A
 * register holds [-2^63, 2^63) signed or [0, 2^64) unsigned, so both ranges pass (2^64 - 1 and -1
 * are the same bits); NaN, infinities, fractions and anything outside [-2^63, 2^64) are refused
 * with RangeError, a non-number with TypeError. Safe integers never come here: the callers take
 * them as they are, so the common case costs nothing.
 */
export function wideArg(value: unknown, nr: number, position: number): bigint {
  let big: bigint;
  if (typeof value === "bigint") big = value;
  else if (typeof value === "number" && Number.isInteger(value)) big = BigInt(value);
  else if (typeof value === "number") throw argError(RangeError, value, nr, position);
  else throw argError(TypeError, value, nr, position);
  if (big < MIN_INT64 || big >= LIMIT_UINT64) throw argError(RangeError, value, nr, position);
  return BigInt.asIntN(64, big);
}

/** Throws unless `nr` can be a syscall number (a non-negative integer below 2^31). */
export function checkSyscallNumber(nr: unknown): number {
  if (typeof nr !== "number" || (nr | 0) !== nr || nr < 0) {
    throw new RangeError(`not a syscall number: ${String(nr)}`);
  }
  return nr;
}

function argError(kind: typeof RangeError | typeof TypeError, value: unknown, nr: number, position: number) {
  const shown =
    typeof value === "bigint" ? `${value}n` : typeof value === "string" ? JSON.stringify(value) : String(value);
  return new kind(
    `${syscallName(nr)}: argument ${position} is ${shown}, not an integer in [-2^63, 2^64) (a number or a bigint)`,
  );
}
