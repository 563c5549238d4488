// The local thread: the Node process itself. Syscalls go straight through the addon and run
// synchronously (a blocking one blocks the event loop: use an AsyncFileDescriptor for those);
// memory is a memcpy.

import { isMainThread } from "node:worker_threads";
import { Environment } from "../environ.js";
import { Epoller } from "../epoller.js";
import { AddressSpace, MountNamespace, PidNamespace } from "../far.js";
import { FileDescriptorTable } from "../handle/fd.js";
import type { MemoryMapping } from "../handle/mapping.js";
import { Allocator } from "../memory/allocator.js";
import { RAM } from "../memory/ram.js";
import { localMemory } from "../memory/transport.js";
import { native } from "../native.js";
import { asPid } from "../near/ids.js";
import { LocalSyscall } from "../near/local.js";
import { bytesSerializer } from "../struct.js";
import { type FileDescriptor, Task } from "../task.js";
import { Thread } from "../thread.js";
import { localEntries, setEntries } from "./entries.js";

async function makeLocalThread(): Promise<Thread> {
  const pid = asPid(process.pid);
  const task = new Task(new LocalSyscall(), pid, {
    fdTable: new FileDescriptorTable(pid),
    addressSpace: new AddressSpace(pid),
    pidns: new PidNamespace(pid),
    mountns: new MountNamespace(pid),
  });
  // A worker's memory and fds are its own (it may not clone): the addon unmaps and closes what is
  // left when the worker ends, as no JavaScript runs then to do it (dropped pointers and handles
  // are never collected).
  const onMapping = isMainThread
    ? undefined
    : (m: MemoryMapping, mapped: boolean) => native.unmapAtTeardown(m.address, m.length, mapped);
  if (!isMainThread) task.fdTable.onOwned = (n, owned) => native.closeAtTeardown(n, owned);
  const ram = new RAM(task, localMemory, new Allocator(task, onMapping));
  setEntries(task.addressSpace, localEntries);
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  // Node's stdio is Node's: borrowed, never closed by us.
  const stdio = [0, 1, 2].map((n) => task.fdAt(n)) as [FileDescriptor, FileDescriptor, FileDescriptor];
  // Map the first arena now, so that the first small allocation costs no syscall.
  (await ram.malloc(bytesSerializer, 1)).free();
  return new Thread(task, ram, new Environment(task, ram, env), ...stdio, await Epoller.make(task, ram));
}

/**
 * The Node process, as a Thread: its syscalls go straight through the addon, and its memory is ours.
 * @example
 * ```js
 * import { localThread as thr } from "rsyscall";
 * import { O } from "rsyscall/fcntl";
 *
 * console.log((await thr.task.getpid()) === process.pid); // true: the syscall ran in this process
 * const fd = await thr.task.open(await thr.ptr("/proc/version"), O.RDONLY);
 * console.log((await thr.readToEof(fd)).toString()); // "Linux version ..."
 * await fd.close();
 * ```
 */
export const localThread: Thread = await makeLocalThread();
