// The local thread: the Node process itself. Syscalls go straight through the addon and run
// synchronously (a blocking one blocks the event loop: use an AsyncFileDescriptor for those);
// memory is a memcpy.

import { Environment } from "../environ.js";
import { AddressSpace, MountNamespace, PidNamespace } from "../far.js";
import { FileDescriptorTable } from "../handle/fd.js";
import { Allocator } from "../memory/allocator.js";
import { RAM } from "../memory/ram.js";
import { localMemory } from "../memory/transport.js";
import { native } from "../native.js";
import { SyscallError } from "../near/errors.js";
import { asFd, asPid } from "../near/ids.js";
import { MAX_ERRNO, type SyscallArg, type SyscallInterface, syscallName } from "../near/sysif.js";
import { Task } from "../task.js";
import { Thread } from "../thread.js";

// The addon's argument block (see native/addon.c): doubles for the common case, and 64-bit
// integers plus a mask for bigint arguments.
const f64 = new Float64Array(native.callBuffer, 0, 8);
const i64 = new BigInt64Array(native.callBuffer, 64, 8);

function put(k: number, v: SyscallArg): number {
  if (typeof v === "number") {
    f64[k] = v;
    return 0;
  }
  i64[k] = BigInt.asIntN(64, v);
  return 1 << k;
}

/**
 * Performs a syscall in this process and returns the raw result (-4095..-1 for -errno); used
 * by LocalSyscall and by the benchmarks as the floor.
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
  f64[0] = nr;
  const mask = put(1, a1) | put(2, a2) | put(3, a3) | put(4, a4) | put(5, a5) | put(6, a6);
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
    const ret = rawSyscall(nr, a1, a2, a3, a4, a5, a6);
    if (ret < 0 && ret >= -MAX_ERRNO) return Promise.reject(new SyscallError(-ret, syscallName(nr)));
    return Promise.resolve(ret);
  }

  /** The Node process cannot go away under us; there is nothing to close. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function makeLocalThread(): Thread {
  const pid = asPid(process.pid);
  const task = new Task(new LocalSyscall(), pid, {
    fdTable: new FileDescriptorTable(pid),
    addressSpace: new AddressSpace(pid),
    pidns: new PidNamespace(pid),
    mountns: new MountNamespace(pid),
  });
  const ram = new RAM(task, localMemory, new Allocator());
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  return new Thread(
    task,
    ram,
    new Environment(task, ram, env),
    task.makeFd(asFd(0)),
    task.makeFd(asFd(1)),
    task.makeFd(asFd(2)),
  );
}

/** The Node process, as a Thread. */
export const localThread: Thread = makeLocalThread();
// Map the first arena now, so that the first small allocation costs no syscall.
(await localThread.malloc(Buffer, 1)).free();
