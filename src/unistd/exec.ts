// <unistd.h>, program execution: execve, execveat, and ArgList, the NULL-terminated pointer arrays it takes.
//
// Most code wants ChildThread.exec(command) (src/tasks/clone.ts), which builds these.
import { checkInt, checkPointer, pathOf, withContext } from "../args.js";
import type { AT, PathPointer } from "../fcntl.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { SyscallHangupError } from "../near/errors.js";
import * as raw from "../near/syscalls.js";
import type { HasSerializer, Serializer } from "../struct.js";

/** `char *const[]`: the addresses of strings we wrote, then NULL. */
export class ArgList implements HasSerializer {
  constructor(readonly strings: readonly WrittenPointer<string>[]) {
    for (const s of strings) checkPointer("an ArgList string", s, true);
  }

  getSelfSerializer(task: BaseTask): Serializer<this> {
    return {
      toBytes: (list) => {
        const b = Buffer.alloc(8 * (list.strings.length + 1));
        for (const [i, s] of list.strings.entries()) b.writeBigUInt64LE(BigInt(s.borrow(task)), 8 * i);
        return b;
      },
      fromBytes() {
        throw new TypeError("an ArgList is read back from its value, not from memory");
      },
    };
  }
}

async function exec(call: Promise<number>, path: PathPointer): Promise<void> {
  try {
    await withContext(call, { path: pathOf(path) });
  } catch (e) {
    if (e instanceof SyscallHangupError) return;
    throw e;
  }
}

function checkLists(task: BaseTask, argv: WrittenPointer<ArgList>, envp: WrittenPointer<ArgList>): void {
  checkPointer("argv", argv, true);
  checkPointer("envp", envp, true);
  for (const s of [...argv.value.strings, ...envp.value.strings]) s.borrow(task);
}

export class ExecFileDescriptor extends BaseFileDescriptor {
  /**
   * `execveat(dirfd, pathname, argv, envp, flags)`: like execve, with `path` relative to this
   * directory fd; with `AT.EMPTY_PATH` and an empty path, executes this fd itself.
   * @see https://man7.org/linux/man-pages/man2/execveat.2.html
   */
  async execveat(
    path: PathPointer,
    argv: WrittenPointer<ArgList>,
    envp: WrittenPointer<ArgList>,
    flags: AT = 0 as AT,
  ): Promise<void> {
    checkPointer("path", path, true);
    checkLists(this.task, argv, envp);
    checkInt("flags", flags);
    const task = this.task;
    await exec(
      raw.execveat(task.sysif, this.borrow(task), path.borrow(task), argv.borrow(task), envp.borrow(task), flags),
      path,
    );
  }
}

export class ExecTask extends BaseTask {
  /**
   * `execve(pathname, argv, envp)`: replace this process's program. Resolves when the process
   * went away under the call (the success case for a child: it exec'd); a failed exec rejects
   * with SyscallError and leaves the process as it was. For our own process it never returns.
   * @see https://man7.org/linux/man-pages/man2/execve.2.html
   */
  async execve(path: PathPointer, argv: WrittenPointer<ArgList>, envp: WrittenPointer<ArgList>): Promise<void> {
    checkPointer("path", path, true);
    checkLists(this, argv, envp);
    await exec(raw.execve(this.sysif, path.borrow(this), argv.borrow(this), envp.borrow(this)), path);
  }
}
