/**
 * `<unistd.h>`: the header module, split by topic: io (read, write, pread, pwrite, lseek),
 * dup (dup2, dup3), pipe (pipe2), fs (unlinkat, linkat, symlinkat, readlinkat, faccessat2,
 * ftruncate), cwd (chdir, fchdir, chroot, pivot_root), hostname (sethostname, setdomainname),
 * credentials (getpid, getuid, setsid, ...), exec (execve), kcmp (through syscall(2)).
 * close(2) is on every FileDescriptor (handle/fd.ts).
 *
 * @module rsyscall/unistd
 */
export { CloseTask } from "./close.js";
export { CredentialsTask } from "./credentials.js";
export { CwdFileDescriptor, CwdTask } from "./cwd.js";
export { DupFileDescriptor } from "./dup.js";
export { ArgList, ExecFileDescriptor, ExecTask } from "./exec.js";
export { FsFileDescriptor, FsTask, OK } from "./fs.js";
export { HostnameTask, UTS_NAME_MAX } from "./hostname.js";
export { IoFileDescriptor, SEEK } from "./io.js";
export { KcmpTask } from "./kcmp.js";
export { Pipe, PipeTask } from "./pipe.js";
