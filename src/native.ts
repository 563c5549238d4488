// The JavaScript face of the native core (native/): the addon, provided by `npm install`
// (scripts/build-native.mjs), and the rsyscall-server program made with it.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface NativeCore {
  /** Performs the syscall described in `callBuffer`; returns the raw result (-4095..-1 = -errno). */
  syscall(): number;
  /** Copies `length` bytes at `address` into a new Buffer. */
  memRead(address: number, length: number): Buffer;
  /** Copies `bytes` to `address`. */
  memWrite(address: number, bytes: Uint8Array): void;
  /** `read(fd, bytes, bytes.length)` on an fd of this process, into the caller's memory: the raw result. */
  readFd(fd: number, bytes: Uint8Array): number;
  /** `write(fd, bytes, bytes.length)` on an fd of this process, from the caller's memory: the raw result. */
  writeFd(fd: number, bytes: Uint8Array): number;
  /** An ArrayBuffer over `length` bytes at `address`; never freed by V8. */
  view(address: number, length: number): ArrayBuffer;
  /**
   * process_vm_readv of one byte of our memory, at the same address in process `pid`: 0 if it read,
   * else the errno (EFAULT: its address space lacks the address; ESRCH: it has none).
   */
  peekOurMemory(pid: number): number;
  /** Calls `callback(status)` from the event loop whenever `fd` is readable (a uv_poll handle;
   *  a negative status is libuv's error, after which nothing more comes). The handle does not keep
   *  the loop alive until `setWatchRef(handle, true)`. */
  watch(fd: number, callback: (status: number) => void): WatchHandle;
  /** Whether the watch keeps the event loop alive. */
  setWatchRef(handle: WatchHandle, ref: boolean): void;
  /** Stops watching; using the handle again throws. */
  unwatch(handle: WatchHandle): void;
  /** Whether to unmap `length` bytes at `address` when the Node environment goes away (a worker's memory). */
  unmapAtTeardown(address: number, length: number, keep: boolean): void;
  /** Whether to close `fd` when the Node environment goes away (a worker's fds). */
  closeAtTeardown(fd: number, keep: boolean): void;
  /** Shared argument block: see native/addon.c. */
  readonly callBuffer: ArrayBuffer;
  /** Address of rsys_trampoline, where clone children start. */
  readonly trampolineAddress: number;
  /** Address of rsys_server, the freestanding syscall server. */
  readonly serverAddress: number;
  /** Address of rsys_futex_helper, which exits once a futex word changes. */
  readonly futexHelperAddress: number;
  /** Address of rsys_exec, the exec stub of Thread.spawn. */
  readonly execStubAddress: number;
  /** The server's start-up flags (native/rsyscall.h). */
  readonly serverFlags: {
    readonly RESET_SIGNALS: number;
    readonly UNBLOCK_ALL: number;
    readonly PDEATHSIG: number;
    readonly CLOEXEC_SOCKET: number;
    readonly CLOSE_FD: number;
    readonly ROBUST: number;
  };
}

/** An opaque uv_poll handle made by `watch`. */
export type WatchHandle = { readonly __watch: unique symbol };

const require = createRequire(import.meta.url);
// node-gyp-build (it ships no types) picks build/Release when there is one (a clone, or an install
// where no prebuild fit, so built from source), else the packed prebuilds/linux-x64/.
const nodeGypBuild = require("node-gyp-build") as { path(packageRoot: string): string };
const addonPath = nodeGypBuild.path(fileURLToPath(new URL("..", import.meta.url)));

export const native: NativeCore = require(addonPath);

/** Path of the standalone `rsyscall-server` program: beside the addon, from the same build. */
export const serverProgramPath = join(dirname(addonPath), "rsyscall-server");
