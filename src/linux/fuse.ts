/**
 * `<linux/fuse.h>`: the FUSE protocol (user-space file systems), and enough of a server to serve a
 * read-only file system held in memory from Node.
 *
 * ```js
 * const box = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNS), { inNamespaceUid: 0, inNamespaceGid: 0 });
 * const fuse = await mountReadOnlyFuse(box, "/mnt", { "hello.txt": "hi\n", docs: { "a.md": "# a\n" } });
 * // ... programs in box's mount namespace read /mnt/hello.txt ...
 * await fuse.unmount();
 * ```
 *
 * /dev/fuse must be opened inside the user namespace that mounts it (the kernel ties the
 * connection to the opener's namespace, and a mount from another fails with EINVAL), so the thread
 * mounting opens it too. The server reads requests through an AsyncFileDescriptor: a synchronous
 * syscall of the Node process on the mount would wait for an answer only Node's event loop can give.
 *
 * @module rsyscall/linux/fuse
 */
import { describe } from "../args.js";
import { DT } from "../dirent.js";
import type { AsyncFileDescriptor } from "../epoller.js";
import { O } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import { ERRNO } from "../gen/errno.js";
import * as layouts from "../gen/layouts.js";
import { SyscallError } from "../near/errors.js";
import { type Flag, family } from "../near/flags.js";
import { StructReader, StructWriter } from "../struct.js";
import { MNT, MS } from "../sys/mount.js";
import { S_IF } from "../sys/stat.js";
import type { Thread } from "../thread.js";

/** FUSE request opcodes: `FUSE_LOOKUP` is `FUSE_OP.LOOKUP`. */
export const FUSE_OP = family("FUSE_OP", gen.FUSE_OP);
export type FUSE_OP = Flag<"FUSE_OP">;
/** Protocol constants: `FUSE_ROOT_ID` is `FUSE.ROOT_ID`; INIT flags such as `FUSE.ASYNC_READ`. */
export const FUSE = family("FUSE", gen.FUSE);
export type FUSE = Flag<"FUSE">;
/** Flags of an OPEN reply: `FOPEN_KEEP_CACHE` is `FOPEN.KEEP_CACHE`. */
export const FOPEN = family("FOPEN", gen.FOPEN);
export type FOPEN = Flag<"FOPEN">;

const L = layouts;
/** The protocol minor version this server speaks (7.31: the INIT reply with max_pages). */
const MINOR = 31;
const MAX_WRITE = 128 * 1024;
/** A read of /dev/fuse must have room for the largest request: a write of max_write and its header. */
const READ_SIZE = MAX_WRITE + 4096;
/** Seconds the kernel may cache names and attributes: nothing here ever changes. */
const VALID = 60;

/** A read-only tree: a file is its contents, a directory an object of named entries. */
export type FuseTree = { [name: string]: string | Uint8Array | FuseTree };

interface Node {
  id: number;
  data?: Buffer;
  children?: Map<string, Node>;
  parent: number;
}

/** The nodes of a tree, numbered from FUSE_ROOT_ID; names are checked (no "/", NUL, "." or ".."). */
function number(tree: FuseTree): Map<number, Node> {
  const nodes = new Map<number, Node>();
  const add = (t: FuseTree, id: number, parent: number) => {
    const node: Node = { id, parent, children: new Map() };
    nodes.set(id, node);
    for (const [name, value] of Object.entries(t)) {
      if (
        name === "" ||
        name === "." ||
        name === ".." ||
        name.includes("/") ||
        name.includes("\0") ||
        Buffer.byteLength(name) > 255
      )
        throw new TypeError(`FUSE tree: not a file name: ${JSON.stringify(name)}`);
      const child = nodes.size + 1;
      if (typeof value === "string" || value instanceof Uint8Array) {
        nodes.set(child, { id: child, parent: id, data: Buffer.from(value) });
      } else if (value !== null && typeof value === "object") {
        add(value, child, id);
      } else {
        throw new TypeError(`FUSE tree: ${name} is ${describe(value)}, not contents or a directory`);
      }
      node.children!.set(name, nodes.get(child)!);
    }
  };
  add(tree, FUSE.ROOT_ID, FUSE.ROOT_ID);
  return nodes;
}

/** A FUSE file system being served; `done` settles when the connection ends (unmounted). */
export interface FuseMount {
  /** Where it is mounted, in the mounting thread's mount namespace. */
  readonly mountpoint: string;
  /** Resolves when the kernel ends the connection (ENODEV on read: unmounted); rejects on a server error. */
  readonly done: Promise<void>;
  /** Unmounts (lazily: MNT.DETACH) and waits for the server to see the end. */
  unmount(): Promise<void>;
}

/**
 * Mounts `tree` read-only at `mountpoint` in `thread`'s mount namespace and serves it from Node.
 * `thread` opens /dev/fuse and mounts, so it must hold CAP_SYS_ADMIN over its mount namespace (a
 * child in new user and mount namespaces does, as uid 0 inside) and be able to open /dev/fuse.
 * Answers INIT, LOOKUP, GETATTR, OPENDIR, READDIR, RELEASEDIR, OPEN, READ, FLUSH, RELEASE, STATFS
 * and FORGET; anything else gets ENOSYS (or EROFS for what would write), so no client hangs.
 */
export async function mountReadOnlyFuse(thread: Thread, mountpoint: string, tree: FuseTree): Promise<FuseMount> {
  if (typeof mountpoint !== "string" || !mountpoint.startsWith("/"))
    throw new TypeError(`mountReadOnlyFuse: the mount point must be an absolute path, got ${describe(mountpoint)}`);
  const nodes = number(tree);
  const dev = await thread.task.open(await thread.ptr("/dev/fuse"), O.of(O.RDWR, O.NONBLOCK));
  let afd: AsyncFileDescriptor;
  try {
    const [uid, gid] = await Promise.all([thread.task.getuid(), thread.task.getgid()]);
    const options = `fd=${dev.near},rootmode=${(S_IF.DIR | 0o555).toString(8)},user_id=${uid},group_id=${gid},allow_other`;
    await thread.mount("rsyscall", mountpoint, "fuse", MS.of(MS.NOSUID, MS.NODEV, MS.RDONLY), options);
    afd = await thread.makeAfd(dev);
  } catch (e) {
    await dev.close();
    throw e;
  }
  const done = serve(afd, nodes);
  done.catch(() => {});
  return {
    mountpoint,
    done,
    async unmount() {
      await thread.task.umount(await thread.ptr(mountpoint), MNT.DETACH);
      await done;
    },
  };
}

/** Reads requests and answers them until the connection ends. */
async function serve(afd: AsyncFileDescriptor, nodes: Map<number, Node>): Promise<void> {
  try {
    for (;;) {
      let request: Buffer;
      try {
        request = await afd.readSomeBytes(READ_SIZE);
      } catch (e) {
        // ENODEV: unmounted (a plain fuse mount gets no DESTROY first).
        if (e instanceof SyscallError && e.code === "ENODEV") return;
        throw e;
      }
      const reply = answer(request, nodes);
      if (reply) {
        try {
          await afd.writeAllBytes(reply);
        } catch (e) {
          // ENOENT: the request was interrupted and is gone; the kernel no longer wants the answer.
          if (!(e instanceof SyscallError && e.code === "ENOENT")) throw e;
        }
      }
    }
  } finally {
    await afd.close().catch(() => {});
  }
}

/** The reply to one request (undefined for FORGET, which gets none). */
function answer(request: Buffer, nodes: Map<number, Node>): Buffer | undefined {
  const h = new StructReader(request, L.fuse_in_header);
  const opcode = h.uint("opcode");
  const unique = h.big("unique");
  const node = nodes.get(Number(h.big("nodeid")));
  const body = request.subarray(L.fuse_in_header.size, h.uint("len"));
  const ok = (payload: Buffer = Buffer.alloc(0)) => reply(unique, 0, payload);
  const fail = (errno: number) => reply(unique, -errno, Buffer.alloc(0));
  switch (opcode) {
    case FUSE_OP.INIT: {
      const init = new StructReader(body, L.fuse_init_in);
      if (init.uint("major") !== FUSE.KERNEL_VERSION) return fail(ERRNO.EPROTO);
      return ok(
        new StructWriter(L.fuse_init_out)
          .uint("major", FUSE.KERNEL_VERSION)
          .uint("minor", Math.min(MINOR, init.uint("minor")))
          .uint("max_readahead", init.uint("max_readahead"))
          .uint("flags", 0)
          .uint("max_background", 16)
          .uint("congestion_threshold", 12)
          .uint("max_write", MAX_WRITE)
          .uint("time_gran", 1)
          .uint("max_pages", MAX_WRITE / 4096).bytes,
      );
    }
    case FUSE_OP.FORGET:
    case FUSE_OP.BATCH_FORGET:
    case FUSE_OP.INTERRUPT:
      return undefined; // no reply: nothing of ours to forget, nothing ever waits long enough to interrupt
  }
  if (!node) return fail(ERRNO.ENOENT);
  switch (opcode) {
    case FUSE_OP.LOOKUP: {
      const end = body.indexOf(0);
      const name = body.subarray(0, end < 0 ? body.length : end).toString();
      const child = name === ".." ? nodes.get(node.parent) : name === "." ? node : node.children?.get(name);
      if (!child) return fail(ERRNO.ENOENT);
      return ok(
        new StructWriter(L.fuse_entry_out)
          .uint("nodeid", child.id)
          .uint("entry_valid", VALID)
          .uint("attr_valid", VALID)
          .raw("attr", attr(child)).bytes,
      );
    }
    case FUSE_OP.GETATTR:
      return ok(new StructWriter(L.fuse_attr_out).uint("attr_valid", VALID).raw("attr", attr(node)).bytes);
    case FUSE_OP.OPENDIR:
      if (!node.children) return fail(ERRNO.ENOTDIR);
      return ok(new StructWriter(L.fuse_open_out).uint("fh", node.id).bytes);
    case FUSE_OP.OPEN:
      if (node.children) return fail(ERRNO.EISDIR);
      if ((body.readUInt32LE(0) & O.ACCMODE) !== O.RDONLY) return fail(ERRNO.EROFS);
      return ok(new StructWriter(L.fuse_open_out).uint("fh", node.id).uint("open_flags", FOPEN.KEEP_CACHE).bytes);
    case FUSE_OP.READ: {
      const r = new StructReader(body, L.fuse_read_in);
      const offset = Number(r.big("offset"));
      return ok(node.data?.subarray(offset, offset + r.uint("size")) ?? Buffer.alloc(0));
    }
    case FUSE_OP.READDIR: {
      if (!node.children) return fail(ERRNO.ENOTDIR);
      const r = new StructReader(body, L.fuse_read_in);
      return ok(dirents(node, nodes, Number(r.big("offset")), r.uint("size")));
    }
    case FUSE_OP.STATFS:
      return ok(
        new StructWriter(L.fuse_statfs_out).raw(
          "st",
          new StructWriter(L.fuse_kstatfs)
            .uint("files", nodes.size)
            .uint("bsize", 4096)
            .uint("frsize", 4096)
            .uint("namelen", 255).bytes,
        ).bytes,
      );
    case FUSE_OP.RELEASE:
    case FUSE_OP.RELEASEDIR:
    case FUSE_OP.FLUSH:
      return ok();
    case FUSE_OP.ACCESS:
      return ok(); // the kernel checks the modes itself with default permissions; we refuse nothing readable
    case FUSE_OP.SETATTR:
    case FUSE_OP.WRITE:
    case FUSE_OP.CREATE:
    case FUSE_OP.MKNOD:
    case FUSE_OP.MKDIR:
    case FUSE_OP.UNLINK:
    case FUSE_OP.RMDIR:
    case FUSE_OP.RENAME:
    case FUSE_OP.RENAME2:
    case FUSE_OP.LINK:
    case FUSE_OP.SYMLINK:
      return fail(ERRNO.EROFS);
    default:
      return fail(ERRNO.ENOSYS);
  }
}

function reply(unique: bigint, error: number, payload: Buffer): Buffer {
  const header = new StructWriter(L.fuse_out_header)
    .uint("len", L.fuse_out_header.size + payload.length)
    .int("error", error)
    .uint("unique", unique).bytes;
  return Buffer.concat([header, payload]);
}

function attr(node: Node): Buffer {
  const size = node.data?.length ?? 0;
  return new StructWriter(L.fuse_attr)
    .uint("ino", node.id)
    .uint("size", size)
    .uint("blocks", Math.ceil(size / 512))
    .uint("mode", node.children ? S_IF.DIR | 0o555 : S_IF.REG | 0o444)
    .uint("nlink", node.children ? 2 : 1)
    .uint("blksize", 4096).bytes;
}

/** READDIR's answer: the entries from `offset` (each one's `off` is the offset of the next) that fit in `size`. */
function dirents(dir: Node, nodes: Map<number, Node>, offset: number, size: number): Buffer {
  const all: [string, Node][] = [[".", dir], ["..", nodes.get(dir.parent)!], ...dir.children!];
  const parts: Buffer[] = [];
  let used = 0;
  for (let i = offset; i < all.length; i++) {
    const [name, node] = all[i]!;
    const nameBytes = Buffer.from(name);
    const length = (L.fuse_dirent.size + nameBytes.length + 7) & ~7;
    if (used + length > size) break;
    const entry = Buffer.alloc(length);
    new StructWriter(L.fuse_dirent)
      .uint("ino", node.id)
      .uint("off", i + 1)
      .uint("namelen", nameBytes.length)
      .uint("type", node.children ? DT.DIR : DT.REG)
      .bytes.copy(entry);
    nameBytes.copy(entry, L.fuse_dirent.size);
    parts.push(entry);
    used += length;
  }
  return Buffer.concat(parts);
}
