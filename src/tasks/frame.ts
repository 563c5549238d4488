// Starting a process on a stack of our own: the frame the trampoline pops, the raw clone, and the
// signal mask around it. Used by clone (src/tasks/clone.ts) and spawn (src/tasks/spawn.ts).
import * as gen from "../gen/constants.js";
import { SYS } from "../gen/sys.js";
import type { Pointer } from "../handle/pointer.js";
import { native } from "../native.js";
import { SyscallError } from "../near/errors.js";
import { rawSyscall } from "../near/local.js";
import { isErrno } from "../near/sysif.js";

/** The stack a child starts on: the server or exec stub needs little; this is one size class. */
export const STACK_SIZE = 64 * 1024;
const FRAME_SIZE = 8 * 8; // trampoline, six arguments, function

/**
 * Writes [trampoline, a1..a6, fn] at the 16-byte-aligned top of `stack`; returns the stack
 * pointer. The stack is our own memory, so this is a plain memcpy.
 */
export function writeFrame(stack: Pointer<Buffer>, fn: number, args: number[]): number {
  const sp = Math.floor((stack.near + stack.size() - FRAME_SIZE) / 16) * 16;
  const frame = Buffer.alloc(FRAME_SIZE);
  for (const [i, word] of [native.trampolineAddress, ...args, fn].entries()) frame.writeBigInt64LE(BigInt(word), 8 * i);
  native.memWrite(sp, frame);
  return sp;
}

export function cloneRaw(flags: number, sp: number, ptid: number, ctid: number): number {
  const pid = rawSyscall(SYS.clone, flags >>> 0, sp, ptid, ctid, 0);
  if (isErrno(pid)) throw new SyscallError(-pid, "clone");
  return pid;
}

/**
 * Runs `f` with every signal blocked in this thread. `masks` is 16 bytes of our memory: the full
 * set, then room for the old mask. `f` must be synchronous.
 */
export function withSignalsBlocked<T>(masks: number, f: () => T): T {
  const size = 8;
  const ret = rawSyscall(SYS.rt_sigprocmask, gen.HowSIG.SETMASK, masks, masks + size, size);
  if (isErrno(ret)) throw new SyscallError(-ret, "rt_sigprocmask");
  try {
    return f();
  } finally {
    rawSyscall(SYS.rt_sigprocmask, gen.HowSIG.SETMASK, masks + size, 0, size);
  }
}
