/**
 * rsyscall: Linux system calls as methods on objects that stand for processes.
 *
 * ```js
 * import { localThread as thr } from "rsyscall";
 * import { O } from "rsyscall/fcntl";
 * const fd = await thr.task.open(await thr.ptr("/etc/hostname"), O.RDONLY);
 * const [valid] = await fd.read(await thr.malloc(Buffer, 4096));
 * console.log((await valid.read()).toString());
 * ```
 *
 * Header modules are subpaths named after their C header: "rsyscall/sys/socket", "rsyscall/fcntl".
 *
 * @module rsyscall
 */
import "./netinet/in.js";
import "./sys/un.js";

export { Command } from "./command.js";
export { Environment, ExecutableNotFoundError } from "./environ.js";
export { AsyncFileDescriptor, EpolledFileDescriptor, Epoller } from "./epoller.js";
export {
  AddressSpaceMismatchError,
  FDTableMismatchError,
  NamespaceMismatchError,
  PidNamespaceMismatchError,
} from "./far.js";
export { ClosedFileDescriptorError, UseAfterFreeError } from "./handle/errors.js";
export { MemoryMapping } from "./handle/mapping.js";
export { LinearPointer, Pointer, ReadablePointer, WrittenPointer } from "./handle/pointer.js";
export { Inotify, Watch } from "./inotify-watch.js";
export { AsyncChildProcess } from "./monitor.js";
export { SyscallError, SyscallHangupError, SyscallSendError } from "./near/errors.js";
export type { SyscallArg, SyscallInterface } from "./near/sysif.js";
export { CalledProcessError, ChildState } from "./sys/wait.js";
export { FileDescriptor, Task } from "./task.js";
export { ChildThread } from "./tasks/child.js";
export type { CloneOptions } from "./tasks/clone.js";
export { ConnectedThread } from "./tasks/connected.js";

import "./tasks/spawn.js";

export { SyscallConnection } from "./tasks/connection.js";
export { localThread } from "./tasks/local.js";
export type { Output } from "./tasks/spawn.js";
export type { RunOptions, SpawnOptions, Stdio } from "./tasks/spawn-options.js";
export { Thread } from "./thread.js";
