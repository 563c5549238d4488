// The raw syscall in our own process, through the addon's shared argument block (see
// native/addon.c): numbers go in as doubles, bigints as full 64-bit values flagged in a mask.
import { native } from "../native.js";
import { SyscallError } from "./errors.js";
import {
  checkSyscallNumber,
  MAX_ERRNO,
  type SyscallArg,
  type SyscallInterface,
  syscallName,
  wideArg,
} from "./sysif.js";

const f64 = new Float64Array(native.callBuffer, 0, 8);
const i64 = new BigInt64Array(native.callBuffer, 64, 8);

// The addon turns a double into a C long, which is exact (and defined) only for safe integers; any
// other value goes as a checked 64-bit bigint, or is refused before the call.
function put(nr: number, k: number, v: SyscallArg): number {
  if (Number.isSafeInteger(v)) {
    f64[k] = v as number;
    return 0;
  }
  i64[k] = wideArg(v, nr, k);
  return 1 << k;
}

/**
 * Performs a syscall in this process, synchronously, and returns the raw result (-4095..-1 is
 * -errno). The floor every local syscall method stands on. Throws RangeError for an argument that
 * is not an integer in [-2^63, 2^64), before the call.
 */
export function rawSyscall(
  nr: number,
  a1: SyscallArg = 0,
  a2: SyscallArg = 0,
  a3: SyscallArg = 0,
  a4: SyscallArg = 0,
  a5: SyscallArg = 0,
  a6: SyscallArg = 0,
): number {
  const mask = put(nr, 1, a1) | put(nr, 2, a2) | put(nr, 3, a3) | put(nr, 4, a4) | put(nr, 5, a5) | put(nr, 6, a6);
  f64[0] = checkSyscallNumber(nr);
  if (mask) i64[0] = BigInt(mask);
  return native.syscall();
}

/** The full 64-bit result of the last rawSyscall, for the rare result beyond 2^53. */
export function lastResult64(): bigint {
  return i64[7] ?? 0n;
}

/** SyscallInterface for the Node process. */
export class LocalSyscall implements SyscallInterface {
  syscall(
    nr: number,
    a1?: SyscallArg,
    a2?: SyscallArg,
    a3?: SyscallArg,
    a4?: SyscallArg,
    a5?: SyscallArg,
    a6?: SyscallArg,
  ): Promise<number> {
    let ret: number;
    try {
      ret = rawSyscall(nr, a1, a2, a3, a4, a5, a6);
    } catch (e) {
      return Promise.reject(e);
    }
    if (ret < 0 && ret >= -MAX_ERRNO) return Promise.reject(new SyscallError(-ret, syscallName(nr)));
    return Promise.resolve(ret);
  }

  syscallRaw(
    nr: number,
    a1?: SyscallArg,
    a2?: SyscallArg,
    a3?: SyscallArg,
    a4?: SyscallArg,
    a5?: SyscallArg,
    a6?: SyscallArg,
  ): Promise<number> {
    try {
      return Promise.resolve(rawSyscall(nr, a1, a2, a3, a4, a5, a6));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The Node process cannot go away under us; there is nothing to close. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
