// <unistd.h>, program execution: execve, execveat, and ArgList, the NULL-terminated pointer arrays it takes.
//
// Most code wants ChildThread.exec(command) (src/tasks/child.ts), which builds these.
import { checkInt, checkPath, checkPointer, describe, pathOf, withContext } from "../args.js";
import type { AT, PathPointer } from "../fcntl.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer, PointerOwner, WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { SyscallHangupError } from "../near/errors.js";
import * as raw from "../near/syscalls.js";
import { type HasPointers, type HasSerializer, type Serializer, stringSerializer } from "../struct.js";

/**
 * `char *const[]`, as execve takes it: the addresses of NUL-terminated strings, then NULL. An entry
 * is a string, written with the list (the array first, then the strings, all in one allocation),
 * or a pointer to a string already written.
 *
 *   const argv = await thr.ptr(new ArgList(["sh", "-c", "echo hi"]));
 */
export class ArgList implements HasSerializer, HasPointers {
  constructor(
    /** The strings, each as text or as a pointer to one already written. */
    readonly strings: readonly (string | WrittenPointer<string>)[],
  ) {
    if (!Array.isArray(strings)) throw new TypeError(`ArgList takes an array, got ${describe(strings)}`);
    for (const s of strings) {
      if (typeof s === "string")
        stringSerializer.toBytes(s); // refuses a NUL inside
      else checkPointer("an ArgList entry", s, true);
    }
  }

  pointers(): Iterable<Pointer<unknown>> {
    return this.strings.filter((s): s is WrittenPointer<string> => typeof s !== "string");
  }

  getSelfSerializer(task: PointerOwner): Serializer<this> {
    return {
      toBytes() {
        throw new TypeError("an ArgList is written by placement (see Serializer.placed)");
      },
      fromBytes() {
        throw new TypeError("an ArgList is read back from its value, not from memory");
      },
      placed: { size: argListSize, toBytesAt: (list, address) => argListBytes(list, address, task) },
    };
  }
}

/** The array of n + 1 addresses, then each string given as a string with its NUL. */
function argListSize(list: ArgList): number {
  let size = 8 * (list.strings.length + 1);
  for (const s of list.strings) if (typeof s === "string") size += Buffer.byteLength(s) + 1;
  return size;
}

function argListBytes(list: ArgList, address: number, task: PointerOwner): Buffer {
  const bytes = Buffer.alloc(argListSize(list)); // zeroed: the final NULL and every string's NUL
  let offset = 8 * (list.strings.length + 1);
  for (const [i, s] of list.strings.entries()) {
    let at: number;
    if (typeof s === "string") {
      at = address + offset;
      offset += bytes.write(s, offset) + 1;
    } else {
      at = s.addressIn(task);
    }
    bytes.writeBigUInt64LE(BigInt(at), 8 * i);
  }
  return bytes;
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
  for (const s of [...argv.value.strings, ...envp.value.strings]) if (typeof s !== "string") s.addressIn(task);
}

/**
 * The `<unistd.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.execveat(...)`.
 */
export class ExecFileDescriptor extends BaseFileDescriptor {
  /**
   * `int execveat(int dirfd, const char *pathname, char *const argv[], char *const envp[], int flags)`:
   * like execve, with `path` relative to this directory fd; with `AT.EMPTY_PATH` and an empty path,
   * executes this fd itself.
   * @see https://man7.org/linux/man-pages/man2/execveat.2.html
   */
  async execveat(
    path: PathPointer,
    argv: WrittenPointer<ArgList>,
    envp: WrittenPointer<ArgList>,
    flags: AT = 0 as AT,
  ): Promise<void> {
    checkPath("path", path);
    checkLists(this.task, argv, envp);
    checkInt("flags", flags);
    const task = this.task;
    await exec(
      raw.execveat(task.sysif, this.borrow(task), path.borrow(task), argv.borrow(task), envp.borrow(task), flags),
      path,
    );
  }
}

/**
 * The `<unistd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.execve(...)`.
 */
export class ExecTask extends BaseTask {
  /**
   * `int execve(const char *pathname, char *const argv[], char *const envp[])`: replace this
   * process's program. Resolves when the process went away under the call (the success case for a
   * child: it exec'd); a failed exec rejects with SyscallError and leaves the process as it was. For
   * our own process it never returns.
   * @see https://man7.org/linux/man-pages/man2/execve.2.html
   */
  async execve(path: PathPointer, argv: WrittenPointer<ArgList>, envp: WrittenPointer<ArgList>): Promise<void> {
    checkPath("path", path);
    checkLists(this, argv, envp);
    await exec(raw.execve(this.sysif, path.borrow(this), argv.borrow(this), envp.borrow(this)), path);
  }
}
