// Seeing a child's exec or exit. The kernel clears the child's CLONE_CHILD_CLEARTID word (and
// wakes futex waiters on it) when the child execs or exits. EOF on its socket is not enough: a
// grandchild or a sibling holding a copy of the child's end keeps the socket open. So a tiny
// futex helper (a CLONE_VM | CLONE_FILES child of the Node process, native/server.c) waits on the
// word and exits; its pidfd, in the epoller, tells us without a thread of our own.
//
// The helper can die for other reasons (someone kills it): then the word still holds, the child
// is healthy, and another helper takes its place, so a live child is never taken for gone.
import { AsyncFileDescriptor } from "../epoller.js";
import * as gen from "../gen/constants.js";
import { ERRNO } from "../gen/errno.js";
import { SYS } from "../gen/sys.js";
import { AsyncChildProcess } from "../monitor.js";
import { native } from "../native.js";
import { SyscallHangupError, SyscallSendError } from "../near/errors.js";
import { asFd } from "../near/ids.js";
import { SIG } from "../signal.js";
import { P, W } from "../sys/wait.js";
import type { FileDescriptor } from "../task.js";
import type { Thread } from "../thread.js";
import { type ChildMemory, cloneRaw, withSignalsBlocked } from "./frame.js";
import type { FutexRing, RingWait } from "./futex-ring.js";
import { within } from "./program.js";

// It shares our fd table, so it holds no copies of our fds.
const HELPER_FLAGS = gen.CLONE.VM | gen.CLONE.FILES | gen.CLONE.PIDFD | gen.SIG.CHLD;
const RETRY_MS = [10, 100, 1000];

/**
 * The word a helper waits on for one child: its CLONE_CHILD_CLEARTID word (cleared at its exec or
 * exit when it shares its memory with another process), or, for a fork, which shares it with
 * nobody, the word of its robust futex list (marked FUTEX_OWNER_DIED at both; see native/server.c).
 */
export interface ExecOrExitWord {
  address: number;
  /** What the helper waits on: the word's initial value, or ROBUST_WAIT. */
  val: number;
  /** Whether the word says the child exec'd or exited. */
  fired(): Promise<boolean>;
  /**
   * For a wait from our io_uring: the value to wait on (the kernel wakes the word when it changes
   * from it), or undefined once the word fired or `stop` says to give up. Where absent, the word
   * cannot be waited on from here (a helper must).
   */
  armed?(stop: { stopped: boolean }): Promise<number | undefined>;
}

/** The helper's `val` for a robust word (RSYS_ROBUST_WAIT in native/rsyscall.h). */
export const ROBUST_WAIT = -1;

/** The word of a child sharing its parent's memory, read with `read`. */
export function clearTidWord(address: number, read: () => number | Promise<number>): ExecOrExitWord {
  const fired = async () => (await read()) === 0;
  return { address, val: 1, fired, armed: async () => ((await fired()) ? undefined : 1) };
}

/**
 * The robust word of a forked child, read with `read`. With `cas` (the word is in our memory), it
 * can be armed from here as the helper arms it: the kernel wakes a robust word at the owner's death
 * only if FUTEX_WAITERS is set, and the child's tid lands there (CLONE_CHILD_SETTID) only once it
 * runs.
 */
export function robustWord(
  address: number,
  read: () => number | Promise<number>,
  cas?: (expected: number, desired: number) => boolean,
): ExecOrExitWord {
  const word: ExecOrExitWord = {
    address,
    val: ROBUST_WAIT,
    fired: async () => ((await read()) & gen.FUTEX.OWNER_DIED) !== 0,
  };
  if (cas) {
    word.armed = async (stop) => {
      for (;;) {
        const now = await read();
        if (now & gen.FUTEX.OWNER_DIED || stop.stopped) return undefined;
        if (now === 0) {
          // Not started yet: nothing wakes anyone for that.
          await new Promise((r) => setTimeout(r, 1).unref());
          continue;
        }
        if (now & gen.FUTEX.WAITERS) return now;
        cas(now, now | gen.FUTEX.WAITERS);
      }
    };
  }
  return word;
}

/** Clones a futex helper for `word` (in `memory`); returns it once its pidfd is in the epoller. */
export async function startHelper(root: Thread, memory: ChildMemory, word: ExecOrExitWord): Promise<AsyncChildProcess> {
  const sp = memory.helperFrame(native.futexHelperAddress, [word.address, word.val, process.pid, 0, 0, 0]);
  const pid = withSignalsBlocked(memory.masks, () => cloneRaw(HELPER_FLAGS, sp, memory.helperPidfdOut, 0));
  const pidfd = root.task.makeFd(asFd(memory.readHelperPidfd()));
  try {
    return new AsyncChildProcess(pid, await AsyncFileDescriptor.make(root.epoller, root.ram, pidfd), root.ram);
  } catch (e) {
    await killAndReapNow(pidfd);
    throw e;
  }
}

/**
 * Kills the child `pidfd` names and reaps it, blocking until it is gone: for failure paths where
 * it has no AsyncChildProcess. A SIGKILLed process that shares our memory is gone at once.
 */
export async function killAndReapNow(pidfd: FileDescriptor): Promise<void> {
  try {
    await pidfd.pidfdSendSignal(SIG.KILL).catch(() => {});
    // waitid(P_PIDFD, pidfd, NULL, WEXITED, NULL): the kernel takes a NULL siginfo.
    await pidfd.task.sysif.syscall(SYS.waitid, P.PIDFD, pidfd.near, 0, W.EXITED, 0).catch(() => {});
  } finally {
    await pidfd.close().catch(() => {});
  }
}

/**
 * Calls `gone` once the child whose word is `word` exec'd or exited, however many helpers that
 * takes (`restart` makes another), or once `child` died (a fork killed before it could arm its
 * word). With `ring`, a futex wait in the process's io_uring does the helper's job (helpers take
 * over should the ring refuse the word). The wait does not keep Node alive: an idle child does
 * not hold a program open.
 */
export async function watchExecOrExit(
  word: ExecOrExitWord,
  helper: AsyncChildProcess | undefined,
  restart: () => Promise<AsyncChildProcess>,
  child: AsyncChildProcess,
  gone: () => void,
  ring?: FutexRing,
) {
  let current: AsyncChildProcess | undefined = helper;
  let failures = 0;
  const died = child.waitpid(W.EXITED, { keepAlive: false }).then(
    () => true,
    () => true,
  );
  try {
    // Without a helper yet (the ring watched, or could not), the loop makes one.
    if (ring && (await watchInRing(ring, word, died))) return;
    for (;;) {
      if (current) {
        const helperExited = current.waitpid(W.EXITED, { keepAlive: false }).then(() => false);
        if (await Promise.race([helperExited, died])) return;
      }
      if (await word.fired()) return;
      // The helper died (or could not be made) while the child neither exec'd nor exited.
      try {
        current = await restart();
        failures = 0;
      } catch (e) {
        // A parent that went away cannot make another; the child went with it, or will.
        if (e instanceof SyscallSendError || e instanceof SyscallHangupError) return;
        current = undefined;
        const delay = RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)];
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  } catch {
    // The helper cannot be waited for (the epoller died), or the word cannot be read (the parent
    // it lives in went away): take the child for gone rather than leave its connection open forever.
  } finally {
    // A helper still waiting (its child died before arming the word) is of no use any more.
    if (current && !current.dead) void current[Symbol.asyncDispose]().catch(() => {});
    gone();
  }
}

/**
 * Waits in the ring until the word fired or the child died: true then; false if the ring cannot
 * wait on this word (a helper must).
 */
async function watchInRing(ring: FutexRing, word: ExecOrExitWord, died: Promise<boolean>): Promise<boolean> {
  if (!word.armed) return false;
  const stop = { stopped: false };
  const gone = died.then(() => {
    stop.stopped = true;
    return undefined;
  });
  for (;;) {
    const val = await Promise.race([word.armed(stop), gone]);
    if (val === undefined) return true;
    let waiting: RingWait;
    try {
      waiting = ring.wait(word.address, val);
    } catch {
      return false; // no room in the ring: a helper watches it
    }
    const res = await Promise.race([waiting.done, gone]);
    if (res === undefined) {
      // Died with the wait still queued (a fork killed before it armed its robust list: nothing
      // will wake the word). Take it back before the memory serves another child, whose wake it
      // would swallow; the cancel completes it.
      waiting.cancel();
      await within(waiting.done, 1000);
      return true;
    }
    if (await word.fired()) return true;
    // Woken with the word unchanged (a wake meant for someone else), or interrupted: wait again.
    if (res !== 0 && res !== -ERRNO.EAGAIN && res !== -ERRNO.EINTR) return false;
  }
}
