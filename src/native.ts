// The JavaScript face of the native core (native/): the addon, built by `npm install`.
import { createRequire } from "node:module";
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

const buildDir = fileURLToPath(new URL("../build/Release/", import.meta.url));

export const native: NativeCore = createRequire(import.meta.url)(`${buildDir}rsyscall_native.node`);

/** Path of the standalone `rsyscall-server` program. */
export const serverProgramPath = `${buildDir}rsyscall-server`;
