// <unistd.h>, program execution: execve, and ArgList, the NULL-terminated pointer arrays it takes.
//
// Most code wants ChildThread.exec(command) (src/tasks/clone.ts), which builds these.
import { checkPointer, pathOf, withContext } from "../args.js";
import type { PathPointer } from "../fcntl.js";
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

export class ExecTask extends BaseTask {
  /**
   * `execve(pathname, argv, envp)`: replace this process's program. Resolves when the process
   * went away under the call (the success case for a child: it exec'd); a failed exec rejects
   * with SyscallError and leaves the process as it was. For our own process it never returns.
   * @see https://man7.org/linux/man-pages/man2/execve.2.html
   */
  async execve(path: PathPointer, argv: WrittenPointer<ArgList>, envp: WrittenPointer<ArgList>): Promise<void> {
    checkPointer("path", path, true);
    checkPointer("argv", argv, true);
    checkPointer("envp", envp, true);
    for (const s of [...argv.value.strings, ...envp.value.strings]) s.borrow(this);
    try {
      await withContext(raw.execve(this.sysif, path.borrow(this), argv.borrow(this), envp.borrow(this)), {
        path: pathOf(path),
      });
    } catch (e) {
      if (e instanceof SyscallHangupError) return;
      throw e;
    }
  }
}
