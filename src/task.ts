// The composition: `Task` and `FileDescriptor` with the syscall methods of every header module.
// Each family is a class in its header module, extending the handle base class; its methods are
// copied here, so a family class keeps its helpers outside the class (copied methods cannot reach
// `#private` members). Adding a family touches its header module and one line in each list below.
import { DirentFileDescriptor } from "./dirent.js";
import { FcntlFileDescriptor, FcntlTask } from "./fcntl.js";
import { GrpTask } from "./grp.js";
import { BaseFileDescriptor } from "./handle/fd.js";
import { BaseTask } from "./handle/task.js";
import { FutexTask } from "./linux/futex.js";
import type { Fd } from "./near/ids.js";
import { SchedFileDescriptor, SchedTask } from "./sched.js";
import { SignalTask } from "./signal.js";
import { StdioFileDescriptor, StdioTask } from "./stdio.js";
import { CapabilityTask } from "./sys/capability.js";
import { EpollFileDescriptor, EpollTask } from "./sys/epoll.js";
import { EventfdTask } from "./sys/eventfd.js";
import { FileLockFileDescriptor } from "./sys/file.js";
import { InotifyFileDescriptor, InotifyTask } from "./sys/inotify.js";
import { IoctlFileDescriptor } from "./sys/ioctl.js";
import { MmanFileDescriptor, MmanTask } from "./sys/mman.js";
import { MountTask } from "./sys/mount.js";
import { PidfdFileDescriptor, PidfdTask } from "./sys/pidfd.js";
import { PrctlTask } from "./sys/prctl.js";
import { ResourceTask } from "./sys/resource.js";
import { SignalfdFileDescriptor, SignalfdTask } from "./sys/signalfd.js";
import { MsgFileDescriptor, SocketFileDescriptor, SocketTask } from "./sys/socket/index.js";
import { StatFileDescriptor, StatTask } from "./sys/stat.js";
import { TimerfdFileDescriptor, TimerfdTask } from "./sys/timerfd.js";
import { UioFileDescriptor } from "./sys/uio.js";
import { WaitFileDescriptor } from "./sys/wait.js";
import {
  CloseTask,
  CredentialsTask,
  CwdFileDescriptor,
  CwdTask,
  DupFileDescriptor,
  ExecFileDescriptor,
  ExecTask,
  FsFileDescriptor,
  FsTask,
  HostnameTask,
  IoFileDescriptor,
  KcmpTask,
  PipeTask,
} from "./unistd/index.js";

/** A file descriptor accessed through some Task, with every fd syscall as a method. */
export interface FileDescriptor
  extends CwdFileDescriptor,
    DirentFileDescriptor,
    DupFileDescriptor,
    EpollFileDescriptor,
    ExecFileDescriptor,
    FcntlFileDescriptor,
    FileLockFileDescriptor,
    FsFileDescriptor,
    InotifyFileDescriptor,
    IoctlFileDescriptor,
    IoFileDescriptor,
    MmanFileDescriptor,
    MsgFileDescriptor,
    PidfdFileDescriptor,
    SchedFileDescriptor,
    SignalfdFileDescriptor,
    SocketFileDescriptor,
    StatFileDescriptor,
    StdioFileDescriptor,
    TimerfdFileDescriptor,
    UioFileDescriptor,
    WaitFileDescriptor {}
export class FileDescriptor extends BaseFileDescriptor {
  declare readonly task: Task;
}
compose(FileDescriptor, [
  CwdFileDescriptor,
  DirentFileDescriptor,
  DupFileDescriptor,
  EpollFileDescriptor,
  ExecFileDescriptor,
  FcntlFileDescriptor,
  FileLockFileDescriptor,
  FsFileDescriptor,
  InotifyFileDescriptor,
  IoctlFileDescriptor,
  IoFileDescriptor,
  MmanFileDescriptor,
  MsgFileDescriptor,
  PidfdFileDescriptor,
  SchedFileDescriptor,
  SignalfdFileDescriptor,
  SocketFileDescriptor,
  StatFileDescriptor,
  StdioFileDescriptor,
  TimerfdFileDescriptor,
  UioFileDescriptor,
  WaitFileDescriptor,
]);

/** A process we can make syscalls in, with every syscall not made on an fd as a method. */
export interface Task
  extends CapabilityTask,
    CloseTask,
    CredentialsTask,
    CwdTask,
    EpollTask,
    EventfdTask,
    ExecTask,
    FcntlTask,
    FsTask,
    FutexTask,
    GrpTask,
    HostnameTask,
    InotifyTask,
    KcmpTask,
    MmanTask,
    MountTask,
    PidfdTask,
    PipeTask,
    PrctlTask,
    ResourceTask,
    SchedTask,
    SignalTask,
    SignalfdTask,
    SocketTask,
    StatTask,
    StdioTask,
    TimerfdTask {}
export class Task extends BaseTask {
  declare readonly _fd: FileDescriptor;

  protected override newHandle(n: Fd): FileDescriptor {
    return new FileDescriptor(this, n);
  }
}
compose(Task, [
  CapabilityTask,
  CloseTask,
  CredentialsTask,
  CwdTask,
  EpollTask,
  EventfdTask,
  ExecTask,
  FcntlTask,
  FsTask,
  FutexTask,
  GrpTask,
  HostnameTask,
  InotifyTask,
  KcmpTask,
  MmanTask,
  MountTask,
  PidfdTask,
  PipeTask,
  PrctlTask,
  ResourceTask,
  SchedTask,
  SignalTask,
  SignalfdTask,
  SocketTask,
  StatTask,
  StdioTask,
  TimerfdTask,
]);

/** Copies the methods each family class defines (not those of the base) onto `target`. */
function compose(
  target: abstract new (...args: never[]) => object,
  families: (abstract new (...args: never[]) => object)[],
): void {
  for (const family of families) {
    for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(family.prototype))) {
      if (name === "constructor") continue;
      if (Object.hasOwn(target.prototype, name)) throw new Error(`${target.name}.${name} is defined by two families`);
      Object.defineProperty(target.prototype, name, descriptor);
    }
  }
}
