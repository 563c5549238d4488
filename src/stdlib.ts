/**
 * `<stdlib.h>`: mkdtemp (a C library function, not a syscall: mkdir with a random name until one is
 * free), and TemporaryDirectory, which removes itself without following a symlink or crossing into
 * another mount.
 *
 * ```js
 * await using tmp = await mkdtemp(thr, "/tmp/build-");   // removed at the end of the scope
 * await thr.spit(`${tmp.path}/out`, "...");
 * ```
 *
 * @module rsyscall/stdlib
 */
import { randomBytes } from "node:crypto";
import { basename, dirname } from "node:path";
import { describe } from "./args.js";
import { DirentList } from "./dirent.js";
import { AT, O } from "./fcntl.js";
import { ERRNO } from "./gen/errno.js";
import { SyscallError } from "./near/errors.js";
import { STATX, Statx } from "./sys/stat.js";
import type { FileDescriptor } from "./task.js";
import type { Thread } from "./thread.js";

/**
 * A directory made by `mkdtemp`, with an fd open on it and on its parent, so that removal goes
 * through the directory that was made even if its path is renamed or replaced meanwhile.
 */
export class TemporaryDirectory {
  #removed = false;
  readonly #dir: FileDescriptor;
  readonly #parent: FileDescriptor;
  readonly #name: string;

  /**
   * Internal: made by `mkdtemp`.
   * @internal
   */
  constructor(
    /** The thread that made it, and removes it. */
    readonly thread: Thread,
    /** Where it was made. */
    readonly path: string,
    dir: FileDescriptor,
    parent: FileDescriptor,
  ) {
    this.#dir = dir;
    this.#parent = parent;
    this.#name = basename(path);
  }

  /**
   * Removes everything in the directory, then the directory. A symlink is removed, never followed;
   * a directory on another mount (something mounted in the tree) is not entered: it and the
   * directories above it stay, and removal rejects with EBUSY, naming it, after removing the rest.
   */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    try {
      const top = await statxOf(this.thread, this.#dir);
      const busy = await removeContents(this.thread, this.#dir, top, this.path);
      if (busy) throw new SyscallError(ERRNO.EBUSY, "rmdir", { path: busy }); // a mount is in the way
      await this.#parent.unlinkat(await this.thread.ptr(this.#name), AT.REMOVEDIR);
    } finally {
      await Promise.all([this.#dir.close(), this.#parent.close()]);
    }
  }

  /** For `await using`: `remove()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove();
  }
}

/**
 * Makes a directory named `prefix` and six random characters, mode 0700, in `thread`'s file system
 * (mkdtemp(3), whose template ends in XXXXXX; here the prefix alone).
 */
export async function mkdtemp(thread: Thread, prefix: string): Promise<TemporaryDirectory> {
  if (typeof prefix !== "string" || !prefix.startsWith("/") || prefix.includes("\0"))
    throw new TypeError(`mkdtemp: the prefix must be an absolute path, got ${describe(prefix)}`);
  for (let attempt = 0; ; attempt++) {
    const path = `${prefix}${randomBytes(6).toString("base64url").slice(0, 6)}`;
    try {
      await thread.task.mkdir(await thread.ptr(path), 0o700);
    } catch (e) {
      if (e instanceof SyscallError && e.code === "EEXIST" && attempt < 100) continue;
      throw e;
    }
    const parent = await thread.task.open(await thread.ptr(dirname(path)), O.of(O.PATH, O.DIRECTORY));
    try {
      const dir = await parent.openat(await thread.ptr(basename(path)), O.of(O.RDONLY, O.DIRECTORY, O.NOFOLLOW));
      return new TemporaryDirectory(thread, path, dir, parent);
    } catch (e) {
      await parent.close();
      throw e;
    }
  }
}

/** The type and mount id of `name` in the directory `fd` (not following a symlink), or of `fd` itself. */
async function statxOf(thread: Thread, fd: FileDescriptor, name = ""): Promise<Statx> {
  const flags = name === "" ? AT.EMPTY_PATH : AT.SYMLINK_NOFOLLOW;
  const st = await fd.statx(
    await thread.ptr(name),
    flags,
    STATX.of(STATX.TYPE, STATX.MNT_ID),
    await thread.malloc(Statx),
  );
  return st.read();
}

/**
 * Removes what `dir` holds; resolves the path of a mount found in the way (left in place), if any.
 * Each subdirectory is opened with O_NOFOLLOW and checked to be on `top`'s mount after opening,
 * so a directory swapped for a symlink or a mount between the look and the open is not entered.
 */
async function removeContents(
  thread: Thread,
  dir: FileDescriptor,
  top: Statx,
  path: string,
): Promise<string | undefined> {
  let busy: string | undefined;
  let buf = await thread.malloc(DirentList, 16 * 1024);
  const names: string[] = [];
  for (;;) {
    const [valid, rest] = await dir.getdents(buf);
    const entries = await valid.read();
    buf = valid.merge(rest);
    if (entries.length === 0) break;
    for (const entry of entries) if (entry.name !== "." && entry.name !== "..") names.push(entry.name);
  }
  buf.free();
  for (const name of names) {
    const st = await statxOf(thread, dir, name);
    if (!st.isDirectory()) {
      await dir.unlinkat(await thread.ptr(name), 0 as AT);
      continue;
    }
    if (st.mountId !== top.mountId || st.isMountRoot()) {
      busy ??= `${path}/${name}`;
      continue;
    }
    const sub = await dir.openat(await thread.ptr(name), O.of(O.RDONLY, O.DIRECTORY, O.NOFOLLOW));
    try {
      const opened = await statxOf(thread, sub);
      if (opened.mountId !== top.mountId) {
        busy ??= `${path}/${name}`;
        continue;
      }
      const inner = await removeContents(thread, sub, top, `${path}/${name}`);
      if (inner) {
        busy ??= inner;
        continue;
      }
    } finally {
      await sub.close();
    }
    await dir.unlinkat(await thread.ptr(name), AT.REMOVEDIR);
  }
  return busy;
}
