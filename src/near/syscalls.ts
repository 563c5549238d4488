// One raw function per syscall: the number and the arguments in the kernel's order, nothing
// else. Arguments are near ids and plain numbers; lengths are explicit here (the handle layer
// derives them from pointers). Flags the kernel takes as `unsigned long` are passed through
// `>>> 0`, since a JavaScript `|` with bit 31 set yields a negative number.
//
// Listed alphabetically. The typed, validated methods are in the header modules.
import { SYS } from "../gen/sys.js";
import type { Address, Fd, Pid } from "./ids.js";
import type { SyscallInterface as S, SyscallArg } from "./sysif.js";

type Len = number;
type Int = number;
type Ret = Promise<number>;

export const accept4 = (s: S, fd: Fd, addr: Address | 0, addrlen: Address | 0, flags: Int) =>
  s.syscall(SYS.accept4, fd, addr, addrlen, flags) as Promise<Fd>;
export const bind = (s: S, fd: Fd, addr: Address, addrlen: Len): Ret => s.syscall(SYS.bind, fd, addr, addrlen);
export const capget = (s: S, hdrp: Address, datap: Address | 0): Ret => s.syscall(SYS.capget, hdrp, datap);
export const capset = (s: S, hdrp: Address, datap: Address): Ret => s.syscall(SYS.capset, hdrp, datap);
export const chdir = (s: S, path: Address): Ret => s.syscall(SYS.chdir, path);
export const chroot = (s: S, path: Address): Ret => s.syscall(SYS.chroot, path);
export const clone = (
  s: S,
  flags: Int,
  stack: Address | 0,
  parent_tid: Address | 0,
  child_tid: Address | 0,
  tls: number,
) => s.syscall(SYS.clone, flags >>> 0, stack, parent_tid, child_tid, tls) as Promise<Pid>;
export const close = (s: S, fd: Fd): Ret => s.syscall(SYS.close, fd);
export const close_range = (s: S, first: Int, last: Int, flags: Int): Ret =>
  s.syscall(SYS.close_range, first >>> 0, last >>> 0, flags);
export const connect = (s: S, fd: Fd, addr: Address, addrlen: Len): Ret => s.syscall(SYS.connect, fd, addr, addrlen);
export const dup3 = (s: S, oldfd: Fd, newfd: Fd, flags: Int) => s.syscall(SYS.dup3, oldfd, newfd, flags) as Promise<Fd>;
export const epoll_create1 = (s: S, flags: Int) => s.syscall(SYS.epoll_create1, flags) as Promise<Fd>;
export const epoll_ctl = (s: S, epfd: Fd, op: Int, fd: Fd, event: Address | 0): Ret =>
  s.syscall(SYS.epoll_ctl, epfd, op, fd, event);
export const epoll_wait = (s: S, epfd: Fd, events: Address, maxevents: Int, timeout: Int): Ret =>
  s.syscall(SYS.epoll_wait, epfd, events, maxevents, timeout);
export const eventfd2 = (s: S, initval: Int, flags: Int) => s.syscall(SYS.eventfd2, initval, flags) as Promise<Fd>;
export const execve = (s: S, path: Address, argv: Address, envp: Address): Ret =>
  s.syscall(SYS.execve, path, argv, envp);
export const execveat = (s: S, dirfd: Fd, path: Address, argv: Address, envp: Address, flags: Int): Ret =>
  s.syscall(SYS.execveat, dirfd, path, argv, envp, flags);
export const exit = (s: S, status: Int): Ret => s.syscall(SYS.exit, status);
export const faccessat2 = (s: S, dirfd: Fd, path: Address, mode: Int, flags: Int): Ret =>
  s.syscall(SYS.faccessat2, dirfd, path, mode, flags);
export const fchdir = (s: S, fd: Fd): Ret => s.syscall(SYS.fchdir, fd);
export const fchmod = (s: S, fd: Fd, mode: Int): Ret => s.syscall(SYS.fchmod, fd, mode);
export const fcntl = (s: S, fd: Fd, cmd: Int, arg: number | bigint): Ret => s.syscall(SYS.fcntl, fd, cmd, arg);
export const flock = (s: S, fd: Fd, operation: Int): Ret => s.syscall(SYS.flock, fd, operation);
export const fstat = (s: S, fd: Fd, statbuf: Address): Ret => s.syscall(SYS.fstat, fd, statbuf);
export const ftruncate = (s: S, fd: Fd, length: number | bigint): Ret => s.syscall(SYS.ftruncate, fd, length);
export const futex = (
  s: S,
  uaddr: Address,
  op: Int,
  val: Int,
  timeout: Address | 0,
  uaddr2: Address | 0,
  val3: Int,
): Ret => s.syscall(SYS.futex, uaddr, op, val >>> 0, timeout, uaddr2, val3 >>> 0);
export const get_robust_list = (s: S, pid: Pid, head_ptr: Address, len_ptr: Address): Ret =>
  s.syscall(SYS.get_robust_list, pid, head_ptr, len_ptr);
export const getdents64 = (s: S, fd: Fd, dirp: Address, count: Len): Ret => s.syscall(SYS.getdents64, fd, dirp, count);
export const getgid = (s: S): Ret => s.syscall(SYS.getgid);
export const getpeername = (s: S, fd: Fd, addr: Address, addrlen: Address): Ret =>
  s.syscall(SYS.getpeername, fd, addr, addrlen);
export const getpgid = (s: S, pid: Pid | 0) => s.syscall(SYS.getpgid, pid) as Promise<Pid>;
export const getpid = (s: S) => s.syscall(SYS.getpid) as Promise<Pid>;
export const getppid = (s: S) => s.syscall(SYS.getppid) as Promise<Pid>;
export const getpriority = (s: S, which: Int, who: Int): Ret => s.syscall(SYS.getpriority, which, who);
export const getsockname = (s: S, fd: Fd, addr: Address, addrlen: Address): Ret =>
  s.syscall(SYS.getsockname, fd, addr, addrlen);
export const getsockopt = (s: S, fd: Fd, level: Int, optname: Int, optval: Address, optlen: Address): Ret =>
  s.syscall(SYS.getsockopt, fd, level, optname, optval, optlen);
export const gettid = (s: S) => s.syscall(SYS.gettid) as Promise<Pid>;
export const getuid = (s: S): Ret => s.syscall(SYS.getuid);
export const inotify_add_watch = (s: S, fd: Fd, path: Address, mask: Int): Ret =>
  s.syscall(SYS.inotify_add_watch, fd, path, mask >>> 0);
export const inotify_init1 = (s: S, flags: Int) => s.syscall(SYS.inotify_init1, flags) as Promise<Fd>;
export const inotify_rm_watch = (s: S, fd: Fd, wd: Int): Ret => s.syscall(SYS.inotify_rm_watch, fd, wd);
export const ioctl = (s: S, fd: Fd, request: Int, arg: Address | number): Ret =>
  s.syscall(SYS.ioctl, fd, request >>> 0, arg);
export const kcmp = (s: S, pid1: Pid | Int, pid2: Pid | Int, type: Int, idx1: Int, idx2: Int): Ret =>
  s.syscall(SYS.kcmp, pid1, pid2, type, idx1 >>> 0, idx2 >>> 0);
export const kill = (s: S, pid: Pid | Int, sig: Int): Ret => s.syscall(SYS.kill, pid, sig);
export const linkat = (s: S, olddirfd: Fd, oldpath: Address, newdirfd: Fd, newpath: Address, flags: Int): Ret =>
  s.syscall(SYS.linkat, olddirfd, oldpath, newdirfd, newpath, flags);
export const listen = (s: S, fd: Fd, backlog: Int): Ret => s.syscall(SYS.listen, fd, backlog);
export const lseek = (s: S, fd: Fd, offset: number | bigint, whence: Int): Ret =>
  s.syscall(SYS.lseek, fd, offset, whence);
export const madvise = (s: S, addr: Address, length: Len, advice: Int): Ret =>
  s.syscall(SYS.madvise, addr, length, advice);
export const memfd_create = (s: S, name: Address, flags: Int) =>
  s.syscall(SYS.memfd_create, name, flags >>> 0) as Promise<Fd>;
export const mkdirat = (s: S, dirfd: Fd, path: Address, mode: Int): Ret => s.syscall(SYS.mkdirat, dirfd, path, mode);
export const mmap = (
  s: S,
  addr: Address | 0,
  length: Len,
  prot: Int,
  flags: Int,
  fd: Fd | -1,
  offset: number | bigint,
) => s.syscall(SYS.mmap, addr, length, prot, flags, fd, offset) as Promise<Address>;
export const mount = (
  s: S,
  source: Address | 0,
  target: Address,
  fstype: Address | 0,
  flags: Int,
  data: Address | 0,
): Ret => s.syscall(SYS.mount, source, target, fstype, flags >>> 0, data);
export const mprotect = (s: S, addr: Address, length: Len, prot: Int): Ret =>
  s.syscall(SYS.mprotect, addr, length, prot);
export const munmap = (s: S, addr: Address, length: Len): Ret => s.syscall(SYS.munmap, addr, length);
export const openat = (s: S, dirfd: Fd, path: Address, flags: Int, mode: Int) =>
  s.syscall(SYS.openat, dirfd, path, flags, mode) as Promise<Fd>;
export const pidfd_open = (s: S, pid: Pid | Int, flags: Int) => s.syscall(SYS.pidfd_open, pid, flags) as Promise<Fd>;
export const pidfd_send_signal = (s: S, pidfd: Fd, sig: Int, info: Address | 0, flags: Int): Ret =>
  s.syscall(SYS.pidfd_send_signal, pidfd, sig, info, flags);
export const pipe2 = (s: S, pipefd: Address, flags: Int): Ret => s.syscall(SYS.pipe2, pipefd, flags);
export const pivot_root = (s: S, new_root: Address, put_old: Address): Ret =>
  s.syscall(SYS.pivot_root, new_root, put_old);
export const prctl = (s: S, option: Int, a2: SyscallArg, a3: SyscallArg, a4: SyscallArg, a5: SyscallArg): Ret =>
  s.syscall(SYS.prctl, option, a2, a3, a4, a5);
export const prlimit64 = (s: S, pid: Pid | 0, resource: Int, newLimit: Address | 0, oldLimit: Address | 0): Ret =>
  s.syscall(SYS.prlimit64, pid, resource, newLimit, oldLimit);
export const pread64 = (s: S, fd: Fd, buf: Address, count: Len, offset: number | bigint): Ret =>
  s.syscall(SYS.pread64, fd, buf, count, offset);
export const preadv2 = (s: S, fd: Fd, iov: Address, iovcnt: Int, offset: number | bigint, flags: Int): Ret =>
  s.syscall(SYS.preadv2, fd, iov, iovcnt, offset, 0, flags);
export const pwrite64 = (s: S, fd: Fd, buf: Address, count: Len, offset: number | bigint): Ret =>
  s.syscall(SYS.pwrite64, fd, buf, count, offset);
export const pwritev2 = (s: S, fd: Fd, iov: Address, iovcnt: Int, offset: number | bigint, flags: Int): Ret =>
  s.syscall(SYS.pwritev2, fd, iov, iovcnt, offset, 0, flags);
export const read = (s: S, fd: Fd, buf: Address, count: Len): Ret => s.syscall(SYS.read, fd, buf, count);
/** read that resolves -errno instead of rejecting; see SyscallInterface.syscallRaw. */
export const readRaw = (s: S, fd: Fd, buf: Address, count: Len): Ret => s.syscallRaw(SYS.read, fd, buf, count);
export const readlinkat = (s: S, dirfd: Fd, path: Address, buf: Address, size: Len): Ret =>
  s.syscall(SYS.readlinkat, dirfd, path, buf, size);
export const recvfrom = (
  s: S,
  fd: Fd,
  buf: Address,
  len: Len,
  flags: Int,
  addr: Address | 0,
  addrlen: Address | 0,
): Ret => s.syscall(SYS.recvfrom, fd, buf, len, flags, addr, addrlen);
export const recvmsg = (s: S, fd: Fd, msg: Address, flags: Int): Ret => s.syscall(SYS.recvmsg, fd, msg, flags >>> 0);
export const renameat2 = (s: S, olddirfd: Fd, oldpath: Address, newdirfd: Fd, newpath: Address, flags: Int): Ret =>
  s.syscall(SYS.renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
export const rt_sigaction = (s: S, sig: Int, act: Address | 0, oldact: Address | 0, sigsetsize: Len): Ret =>
  s.syscall(SYS.rt_sigaction, sig, act, oldact, sigsetsize);
export const rt_sigprocmask = (s: S, how: Int, set: Address | 0, oldset: Address | 0, sigsetsize: Len): Ret =>
  s.syscall(SYS.rt_sigprocmask, how, set, oldset, sigsetsize);
export const sched_getaffinity = (s: S, pid: Pid | 0, size: Len, mask: Address): Ret =>
  s.syscall(SYS.sched_getaffinity, pid, size, mask);
export const sched_setaffinity = (s: S, pid: Pid | 0, size: Len, mask: Address): Ret =>
  s.syscall(SYS.sched_setaffinity, pid, size, mask);
export const sendmsg = (s: S, fd: Fd, msg: Address, flags: Int): Ret => s.syscall(SYS.sendmsg, fd, msg, flags >>> 0);
export const sendto = (s: S, fd: Fd, buf: Address, len: Len, flags: Int, addr: Address | 0, addrlen: Len): Ret =>
  s.syscall(SYS.sendto, fd, buf, len, flags, addr, addrlen);
export const set_robust_list = (s: S, head: Address, len: Len): Ret => s.syscall(SYS.set_robust_list, head, len);
export const setdomainname = (s: S, name: Address, len: Len): Ret => s.syscall(SYS.setdomainname, name, len);
export const setgroups = (s: S, size: Int, list: Address | 0): Ret => s.syscall(SYS.setgroups, size, list);
export const sethostname = (s: S, name: Address, len: Len): Ret => s.syscall(SYS.sethostname, name, len);
export const setns = (s: S, fd: Fd, nstype: Int): Ret => s.syscall(SYS.setns, fd, nstype);
export const setpgid = (s: S, pid: Pid | 0, pgid: Pid | 0): Ret => s.syscall(SYS.setpgid, pid, pgid);
export const setpriority = (s: S, which: Int, who: Int, prio: Int): Ret => s.syscall(SYS.setpriority, which, who, prio);
export const setresgid = (s: S, rgid: Int, egid: Int, sgid: Int): Ret => s.syscall(SYS.setresgid, rgid, egid, sgid);
export const setresuid = (s: S, ruid: Int, euid: Int, suid: Int): Ret => s.syscall(SYS.setresuid, ruid, euid, suid);
export const setsid = (s: S) => s.syscall(SYS.setsid) as Promise<Pid>;
export const setsockopt = (s: S, fd: Fd, level: Int, optname: Int, optval: Address | 0, optlen: Len): Ret =>
  s.syscall(SYS.setsockopt, fd, level, optname, optval, optlen);
export const shutdown = (s: S, fd: Fd, how: Int): Ret => s.syscall(SYS.shutdown, fd, how);
export const signalfd4 = (s: S, fd: Fd | -1, mask: Address, sizemask: Len, flags: Int) =>
  s.syscall(SYS.signalfd4, fd, mask, sizemask, flags) as Promise<Fd>;
export const socket = (s: S, domain: Int, type: Int, protocol: Int) =>
  s.syscall(SYS.socket, domain, type, protocol) as Promise<Fd>;
export const socketpair = (s: S, domain: Int, type: Int, protocol: Int, sv: Address): Ret =>
  s.syscall(SYS.socketpair, domain, type, protocol, sv);
export const statx = (s: S, dirfd: Fd, pathname: Address, flags: Int, mask: Int, statxbuf: Address): Ret =>
  s.syscall(SYS.statx, dirfd, pathname, flags, mask >>> 0, statxbuf);
export const symlinkat = (s: S, target: Address, newdirfd: Fd, linkpath: Address): Ret =>
  s.syscall(SYS.symlinkat, target, newdirfd, linkpath);
export const tgkill = (s: S, tgid: Pid, tid: Pid, sig: Int): Ret => s.syscall(SYS.tgkill, tgid, tid, sig);
export const timerfd_create = (s: S, clockid: Int, flags: Int) =>
  s.syscall(SYS.timerfd_create, clockid, flags) as Promise<Fd>;
export const timerfd_gettime = (s: S, fd: Fd, curr: Address): Ret => s.syscall(SYS.timerfd_gettime, fd, curr);
export const timerfd_settime = (s: S, fd: Fd, flags: Int, new_value: Address, old_value: Address | 0): Ret =>
  s.syscall(SYS.timerfd_settime, fd, flags, new_value, old_value);
export const umount2 = (s: S, target: Address, flags: Int): Ret => s.syscall(SYS.umount2, target, flags);
export const unshare = (s: S, flags: Int): Ret => s.syscall(SYS.unshare, flags >>> 0);
export const unlinkat = (s: S, dirfd: Fd, path: Address, flags: Int): Ret =>
  s.syscall(SYS.unlinkat, dirfd, path, flags);
export const waitid = (s: S, idtype: Int, id: Fd | Pid | Int, infop: Address, options: Int, rusage: Address | 0): Ret =>
  s.syscall(SYS.waitid, idtype, id, infop, options >>> 0, rusage);
export const write = (s: S, fd: Fd, buf: Address, count: Len): Ret => s.syscall(SYS.write, fd, buf, count);
/** write that resolves -errno instead of rejecting; see SyscallInterface.syscallRaw. */
export const writeRaw = (s: S, fd: Fd, buf: Address, count: Len): Ret => s.syscallRaw(SYS.write, fd, buf, count);
