// The memory of a thread in another address space on this host, when fds can cross its link: a
// window of memfds (SharedWindowGateway, src/memory/transport.ts). We make each memfd, map it, and
// pass it over the fd-passing socket; the thread maps it too. Its allocator takes its arenas from
// windows, so a pointer's bytes are a memcpy away.
//
// Passing the fds needs a little memory in the thread before any window exists: a second
// allocator over plain anonymous memory, reached through `fallback` (the thread's link).
import { Environment } from "../environ.js";
import type { Epoller } from "../epoller.js";
import type { MemoryGateway } from "../handle/pointer.js";
import { MFD } from "../linux/memfd.js";
import { Allocator } from "../memory/allocator.js";
import { RAM } from "../memory/ram.js";
import { SharedWindowGateway, type WindowPair } from "../memory/transport.js";
import { MAP, PROT } from "../sys/mman.js";
import type { FileDescriptor, Task } from "../task.js";
import { Thread } from "../thread.js";
import { type Passing, passFds } from "./connected.js";

/**
 * The RAM of `task` (another address space, reached with `fallback`) through windows that `root`
 * (the Node process) makes and passes over `passing`.
 */
export function windowRam(
  root: Thread,
  task: Task,
  fallback: MemoryGateway,
  /** The thread's fd-passing socket as it is now (a persistent thread's changes when it reconnects). */
  passing: () => Passing | undefined,
  stdio: [FileDescriptor, FileDescriptor, FileDescriptor],
  epoller: Epoller,
): RAM {
  // For the fd passing itself: memory that is not a window (a Thread only to hold it; it shares
  // the thread's stdio handles, as a second set would stand in the way of dup2 onto them).
  const setupRam = new RAM(task, fallback, new Allocator(task));
  const setup = new Thread(task, setupRam, new Environment(task, setupRam, {}), ...stdio, epoller);
  const mapBoth = (length: number) => makeWindow(root, setup, passing, length);
  const gateway = new SharedWindowGateway(mapBoth, fallback);
  return new RAM(task, gateway, new Allocator(task, undefined, gateway));
}

/** A memfd of `length` bytes, mapped shared here and in `there`. */
async function makeWindow(
  root: Thread,
  there: Thread,
  passingNow: () => Passing | undefined,
  length: number,
): Promise<WindowPair> {
  const passing = passingNow();
  if (!passing) throw new Error(`${there}: no fd-passing socket to share memory over`);
  const name = await root.ptr("rsyscall-window");
  const memfd = await root.task.memfdCreate(name, MFD.CLOEXEC);
  name.free();
  try {
    await memfd.ftruncate(length);
    const rw = PROT.of(PROT.READ, PROT.WRITE);
    const local = await memfd.mmap(length, rw, MAP.SHARED);
    try {
      const [theirs] = await passFds(root, passing.ours, there, passing.theirs, [memfd]);
      try {
        return { remote: await theirs!.mmap(length, rw, MAP.SHARED), local };
      } finally {
        await theirs!.close();
      }
    } catch (e) {
      await local.munmap().catch(() => {});
      throw e;
    }
  } finally {
    await memfd.close();
  }
}
