/**
 * `<sys/un.h>`: Unix socket addresses.
 *
 * ```js
 * await sock.bind(await thr.ptr(new SockaddrUn("/tmp/sock")));
 * // A path longer than sun_path (108 bytes) goes through the parent directory's fd:
 * const long = await SockaddrUn.fromPath(thr, "/very/long/.../sock");
 * await sock.bind(await thr.ptr(long));  await long.close();
 * ```
 *
 * @module rsyscall/sys/un
 */
import { basename, dirname } from "node:path";
import { O, type PathPointer } from "../fcntl.js";
import * as layouts from "../gen/layouts.js";
import type { BaseFileDescriptor } from "../handle/fd.js";
import type { Flag } from "../near/flags.js";
import { type Serializer, StructReader, StructWriter } from "../struct.js";
import { AF, Sockaddr } from "./socket/index.js";

const PATH_SIZE = layouts.sockaddr_un.fields.sun_path[1];
const PATH_OFFSET = layouts.sockaddr_un.fields.sun_path[0];

/** What `SockaddrUn.fromPath` needs: a thread's `ptr` and its task's `open`. */
export interface PathOpener {
  /** Writes `path` into the thread's memory. */
  ptr(path: string): Promise<PathPointer>;
  /** The task that opens the directory. */
  readonly task: {
    /** `open`, as Task has it. */
    open(path: PathPointer, flags: Flag<"O">): Promise<BaseFileDescriptor>;
  };
}

/** `struct sockaddr_un`: a path (bytes), an abstract name (first byte NUL), or unnamed (empty). */
export class SockaddrUn extends Sockaddr {
  /** Always `AF.UNIX`. */
  readonly family = AF.UNIX;
  /** The path (or abstract name, starting with NUL) as text; empty for an unnamed socket. */
  readonly path: string;
  readonly #bytes: Buffer;

  constructor(path: string | Buffer) {
    super();
    const bytes = typeof path === "string" ? Buffer.from(path) : Buffer.from(path);
    if (bytes.length > PATH_SIZE) {
      throw new RangeError(
        `SockaddrUn: the path is ${bytes.length} bytes, more than sun_path's ${PATH_SIZE}; use SockaddrUn.fromPath`,
      );
    }
    if (bytes[0] !== 0 && bytes.includes(0)) throw new TypeError("SockaddrUn: a path cannot contain a NUL byte");
    this.#bytes = bytes;
    this.path = bytes.toString();
  }

  /** Whether this is an abstract-namespace address (its name starts with a NUL byte). */
  get abstract(): boolean {
    return this.#bytes.length > 0 && this.#bytes[0] === 0;
  }

  toBytes(): Buffer {
    // A pathname gets its NUL terminator when there is room; the kernel accepts it without.
    const terminated = !this.abstract && this.#bytes.length > 0 && this.#bytes.length < PATH_SIZE;
    const size = PATH_OFFSET + this.#bytes.length + (terminated ? 1 : 0);
    return new StructWriter(layouts.sockaddr_un, size).uint("sun_family", AF.UNIX).raw("sun_path", this.#bytes).bytes;
  }

  /** Reads a `struct sockaddr_un` (as long as the kernel said); throws unless its family is AF_UNIX. */
  static fromBytes(bytes: Buffer): SockaddrUn {
    const r = new StructReader(bytes, { size: PATH_OFFSET, fields: layouts.sockaddr_un.fields });
    if (r.uint("sun_family") !== AF.UNIX) throw new TypeError("not an AF_UNIX address");
    const path = bytes.subarray(PATH_OFFSET);
    if (path.length > 0 && path[0] === 0) return new SockaddrUn(Buffer.from(path));
    const end = path.indexOf(0);
    return new SockaddrUn(Buffer.from(end < 0 ? path : path.subarray(0, end)));
  }

  /** The serializer `malloc(SockaddrUn)` uses: how its bytes become a SockaddrUn and back. */
  static getSerializer(): Serializer<SockaddrUn> {
    return { toBytes: (a) => a.toBytes(), fromBytes: (b) => SockaddrUn.fromBytes(b) };
  }

  /**
   * An address for any path, however long: when it does not fit sun_path, opens the parent
   * directory (O_PATH) and names the socket `/proc/self/fd/<n>/<name>`. Use it from the process
   * that opened the directory, and `close()` it after bind or connect.
   */
  static async fromPath(thr: PathOpener, path: string): Promise<SockaddrUnProcFd | SockaddrUn> {
    if (Buffer.byteLength(path) <= PATH_SIZE) return new SockaddrUn(path);
    const dir = await thr.task.open(await thr.ptr(dirname(path)), O.of(O.PATH, O.DIRECTORY));
    try {
      return new SockaddrUnProcFd(dir, basename(path));
    } catch (e) {
      await dir.close();
      throw e;
    }
  }
}

/** A SockaddrUn that reaches its socket through an open directory fd. */
export class SockaddrUnProcFd extends SockaddrUn {
  constructor(
    /** The socket's directory, opened O_PATH: the path goes through its `/proc/self/fd` entry. */
    readonly dir: BaseFileDescriptor,
    /** The socket's name in `dir`. */
    readonly name: string,
  ) {
    super(`/proc/self/fd/${dir.near}/${name}`);
  }

  /** Closes the directory fd. */
  async close(): Promise<void> {
    await this.dir.close();
  }
}

Sockaddr.register(AF.UNIX, SockaddrUn.fromBytes);
