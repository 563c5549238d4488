// Errors of the near layer: a failed syscall, and a syscall whose outcome is unknown because
// the process serving it went away.
import { errnoMessages, errnoNames } from "../gen/errno.js";

/** What a SyscallError says about the syscall's arguments, for its message. */
export interface SyscallErrorContext {
  /** The path the syscall was given, when there was one. */
  path?: string;
  /** The second path (rename, link, symlink). */
  dest?: string;
  /** The file descriptor the syscall was made on. */
  fd?: number;
}

/**
 * A syscall returned -errno. Shaped like Node's `SystemError` from `node:fs`: `code` is the
 * errno name (`"ENOENT"`), `syscall` the syscall's name (`"openat"`), `path` the path when one
 * was given. Unlike `node:fs`, `errno` is the positive Linux value, as in
 * `os.constants.errno` and `rsyscall`'s `ERRNO` table.
 */
export class SyscallError extends Error {
  /** The positive errno value (`ERRNO.ENOENT`, 2). */
  readonly errno: number;
  /** The errno's name, as Node names it (`"ENOENT"`). */
  readonly code: string;
  /** The syscall's name (`"openat"`). */
  readonly syscall: string;
  // Declared, not defined: absent context stays absent, as on Node's errors.
  /** The path the syscall was given, when there was one. */
  declare path?: string;
  /** The second path (rename, link, symlink). */
  declare dest?: string;
  /** The file descriptor the syscall was made on, when it matters to the message. */
  declare fd?: number;

  constructor(errno: number, syscall: string, context: SyscallErrorContext = {}) {
    const code = errnoNames[errno] ?? `E${errno}`;
    const description = errnoMessages[errno] ?? "unknown error";
    super(SyscallError.message(code, description, syscall, context));
    this.name = "SyscallError";
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
    if (context.path !== undefined) this.path = context.path;
    if (context.dest !== undefined) this.dest = context.dest;
    if (context.fd !== undefined) this.fd = context.fd;
  }

  /** Adds context (a path, an fd) that only a higher layer knows; returns this error. */
  annotate(context: SyscallErrorContext): this {
    Object.assign(this, context);
    const description = errnoMessages[this.errno] ?? "unknown error";
    this.message = SyscallError.message(this.code, description, this.syscall, { ...this, ...context });
    return this;
  }

  private static message(code: string, description: string, syscall: string, c: SyscallErrorContext) {
    const lower = description.charAt(0).toLowerCase() + description.slice(1);
    let msg = `${code}: ${lower}, ${syscall}`;
    if (c.path !== undefined) msg += ` '${c.path}'`;
    if (c.dest !== undefined) msg += ` -> '${c.dest}'`;
    if (c.path === undefined && c.fd !== undefined) msg += ` (fd ${c.fd})`;
    return msg;
  }
}

/**
 * Makes an error without capturing its stack: for errors made in our event loop's callbacks (a
 * hang-up, a registration ended under its waiters), whose stack holds only our own frames, and
 * whose capture (with the async frames above it) cost more than the rest of a child's exec.
 */
export function withoutStack<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * The process serving syscalls went away (it exited, or exec'd) after a request was sent:
 * whether the syscall ran is unknown. For `execve` and `exit`, this is the success case.
 */
export class SyscallHangupError extends Error {
  /** The syscall's name. */
  readonly syscall: string;
  constructor(syscall: string, reason: string, message?: string) {
    super(
      `${syscall}: ${message ?? `the process serving syscalls hung up (${reason}); the syscall may or may not have run`}`,
    );
    this.name = "SyscallHangupError";
    this.syscall = syscall;
  }
}

/** A syscall was refused before it was sent: the interface is closed. It did not run. */
export class SyscallSendError extends Error {
  /** The syscall's name. */
  readonly syscall: string;
  constructor(syscall: string, reason: string) {
    super(`${syscall}: not sent, ${reason}`);
    this.name = "SyscallSendError";
    this.syscall = syscall;
  }
}
