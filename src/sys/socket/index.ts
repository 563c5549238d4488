/**
 * `<sys/socket.h>`: sockets: socket, socketpair, bind, listen, accept4, connect, shutdown,
 * getsockname, getpeername, getsockopt, setsockopt, sendto, recvfrom; the Sockaddr framework.
 *
 * ```js
 * const sock = await thr.task.socket(AF.INET, SOCK.STREAM);
 * await sock.bind(await thr.ptr(new SockaddrIn(0, "127.0.0.1")));
 * await sock.listen(10);
 * const name = await (await sock.getsockname(await thr.ptr(new Sockbuf(await thr.malloc(SockaddrIn))))).read();
 * (await name.buf.read()).port;
 * ```
 *
 * @module rsyscall/sys/socket
 */
import { checkInt, checkPointer, withContext } from "../../args.js";
import * as gen from "../../gen/constants.js";
import * as layouts from "../../gen/layouts.js";
import { BaseFileDescriptor } from "../../handle/fd.js";
import {
  type LinearPointer,
  linearize,
  type Pointer,
  type ReadablePointer,
  type WrittenPointer,
} from "../../handle/pointer.js";
import { BaseTask } from "../../handle/task.js";
import { type Flag, family } from "../../near/flags.js";
import type { Address, Fd } from "../../near/ids.js";
import * as raw from "../../near/syscalls.js";
import type { SyscallInterface } from "../../near/sysif.js";
import {
  fdPairSerializer,
  type HasPointers,
  type HasSerializer,
  type Serializer,
  StructReader,
  StructWriter,
} from "../../struct.js";

/** Address families: `AF_UNIX` is `AF.UNIX`. */
export const AF = family("AF", gen.AF);
/** An address family. */
export type AF = Flag<"AF">;
/** Socket types and flags: `SOCK_STREAM` is `SOCK.STREAM` (CLOEXEC is always added). */
export const SOCK = family("SOCK", gen.SOCK);
/** A socket type, with flags (`SOCK.NONBLOCK`) joined in by `SOCK.of`. */
export type SOCK = Flag<"SOCK">;
/** Option levels for getsockopt and setsockopt: `SOL_SOCKET` is `SOL.SOCKET`. */
export const SOL = family("SOL", gen.SOL);
/** A socket option level. */
export type SOL = Flag<"SOL">;
/** Socket options at level `SOL.SOCKET`: `SO_REUSEADDR` is `SO.REUSEADDR`. */
export const SO = family("SO", gen.SO);
/** A socket option name. */
export type SO = Flag<"SO">;
/** What shutdown shuts: `SHUT_WR` is `SHUT.WR`. */
export const SHUT = family("SHUT", gen.SHUT);
/** A `how` for shutdown. */
export type SHUT = Flag<"SHUT">;
/** send and receive flags: `MSG_NOSIGNAL` is `MSG.NOSIGNAL`. */
export const MSG = family("MSG", gen.MSG);
/** send and receive flags, one or several joined with `MSG.of`. */
export type MSG = Flag<"MSG">;
/** Control message types: `SCM_RIGHTS` is `SCM.RIGHTS`. */
export const SCM = family("SCM", gen.SCM);
/** A control message type. */
export type SCM = Flag<"SCM">;

/** A socket address. Subclasses (SockaddrUn, SockaddrIn, SockaddrIn6) register a parser per family. */
export abstract class Sockaddr {
  /** The address family (`sa_family`), which says how the rest of the bytes read. */
  abstract readonly family: AF;
  /** The bytes of the `struct sockaddr_*`, exactly as long as the address needs. */
  abstract toBytes(): Buffer;

  private static readonly parsers = new Map<number, (bytes: Buffer) => Sockaddr>();

  /** Registers how to parse addresses of `family`; for header modules that define one. */
  static register(family: AF, parse: (bytes: Buffer) => Sockaddr): void {
    Sockaddr.parsers.set(family, parse);
  }

  /** Parses any registered address family; unknown families come back as SockaddrStorage. */
  static parse(bytes: Buffer): Sockaddr {
    const family = bytes.length >= 2 ? bytes.readUInt16LE(0) : gen.AF.UNSPEC;
    const parse = Sockaddr.parsers.get(family);
    return parse ? parse(bytes) : new SockaddrStorage(bytes);
  }

  /** Writes `toBytes()`; reading parses whatever family the kernel filled in. */
  getSelfSerializer(): Serializer<this> {
    return { toBytes: (a) => a.toBytes(), fromBytes: (b) => Sockaddr.parse(b) as this };
  }
}

/** Room for any address (`struct sockaddr_storage`); `parse()` reads the concrete one. */
export class SockaddrStorage extends Sockaddr {
  /** Its size in bytes, always the same: `malloc(SockaddrStorage)` needs no size. */
  static readonly sizeof = layouts.sockaddr_storage.size;
  constructor(
    /** The address's bytes, as the kernel filled them. */
    readonly bytes: Buffer,
  ) {
    super();
  }
  /** The family in the first two bytes (`AF.UNSPEC` when there are fewer). */
  get family(): AF {
    return (this.bytes.length >= 2 ? this.bytes.readUInt16LE(0) : gen.AF.UNSPEC) as AF;
  }
  toBytes(): Buffer {
    return this.bytes;
  }
  /** The concrete address these bytes hold. */
  parse(): Sockaddr {
    return Sockaddr.parse(this.bytes);
  }
  /** The serializer `malloc(SockaddrStorage)` uses: how its bytes become a SockaddrStorage and back. */
  static getSerializer(): Serializer<SockaddrStorage> {
    return { toBytes: (s) => s.bytes, fromBytes: (b) => new SockaddrStorage(Buffer.from(b)) };
  }
}

/**
 * The in/out `socklen_t` of getsockname, accept and friends: memory holding the length of
 * `buf`. After the syscall, reading it gives a Sockbuf whose `buf` is the filled part.
 */
export class Sockbuf<T> implements HasSerializer, HasPointers {
  constructor(
    /** The value's memory: all of it before the syscall, the filled part after. */
    readonly buf: Pointer<T>,
    /** What is left of the buffer past the filled part, after the syscall. */
    readonly rest?: Pointer<T>,
  ) {}

  pointers(): Iterable<Pointer<unknown>> {
    return [this.buf];
  }

  getSelfSerializer(): Serializer<this> {
    const buf = this.buf;
    return {
      toBytes() {
        const b = Buffer.alloc(4);
        b.writeUInt32LE(buf.size());
        return b;
      },
      fromBytes: (bytes) => {
        const len = bytes.readUInt32LE(0);
        if (len > buf.size()) {
          throw new RangeError(`the kernel needed ${len} bytes for the value but the buffer has ${buf.size()}`);
        }
        const [filled, rest] = buf.readableSplit(len);
        return new Sockbuf(filled, rest) as unknown as this;
      },
    };
  }
}

/** The two connected ends `socketpair` makes. Reading one from memory makes the fd handles. */
export class Socketpair<F extends BaseFileDescriptor = BaseFileDescriptor> {
  /** Its size in bytes, always the same: `malloc(Socketpair)` needs no size. */
  static readonly sizeof = 8;
  constructor(
    /** One end (`sv[0]`). */
    readonly first: F,
    /** The other end (`sv[1]`). */
    readonly second: F,
  ) {}

  /** The serializer `malloc(Socketpair)` uses: how its bytes become a Socketpair and back. */
  static getSerializer<T extends BaseTask>(task: T): Serializer<Socketpair<T["_fd"]>> {
    return fdPairSerializer(
      task,
      (first, second) => new Socketpair(first, second),
      (pair) => [pair.first, pair.second],
    );
  }
}

/** `struct ucred`: who is at the other end of a unix socket (getsockopt SO_PEERCRED). */
export class Ucred {
  /** Its size in bytes, always the same: `malloc(Ucred)` needs no size. */
  static readonly sizeof = layouts.ucred.size;
  constructor(
    /** The peer's pid, in the pid namespace of the process that asked. */
    readonly pid: number,
    /** Its uid, as this user namespace sees it. */
    readonly uid: number,
    /** Its gid, as this user namespace sees it. */
    readonly gid: number,
  ) {}

  /** The serializer `malloc(Ucred)` uses: how its bytes become a Ucred and back. */
  static getSerializer(): Serializer<Ucred> {
    return ucredSerializer;
  }
}

const ucredSerializer: Serializer<Ucred> = {
  toBytes: (c) => new StructWriter(layouts.ucred).int("pid", c.pid).uint("uid", c.uid).uint("gid", c.gid).bytes,
  fromBytes(bytes) {
    const r = new StructReader(bytes, layouts.ucred);
    return new Ucred(r.int("pid"), r.uint("uid"), r.uint("gid"));
  },
};

const NO_MSG = 0 as MSG;

/**
 * The `<sys/socket.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.socket(...)`.
 */
export class SocketTask extends BaseTask {
  /**
   * `int socket(int domain, int type, int protocol)`: make a socket. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/socket.2.html
   */
  async socket(domain: AF, type: SOCK, protocol = 0): Promise<this["_fd"]> {
    checkInt("domain", domain);
    checkInt("type", type);
    checkInt("protocol", protocol);
    this.collectGarbage();
    return this.makeFd(await raw.socket(this.sysif, domain, type | SOCK.CLOEXEC, protocol));
  }

  /**
   * `int socketpair(int domain, int type, int protocol, int sv[2])`: make two connected sockets;
   * their numbers land in `buf`, to be read once for the handles. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/socketpair.2.html
   */
  async socketpair(
    domain: AF,
    type: SOCK,
    protocol: number,
    buf: Pointer<Socketpair<this["_fd"]>>,
  ): Promise<LinearPointer<Socketpair<this["_fd"]>>> {
    checkInt("domain", domain);
    checkInt("type", type);
    checkInt("protocol", protocol);
    checkPointer("buf", buf);
    if (buf.size() < Socketpair.sizeof) throw new TypeError(`socketpair: buf has ${buf.size()} bytes, needs 8`);
    this.collectGarbage();
    await raw.socketpair(this.sysif, domain, type | SOCK.CLOEXEC, protocol, buf.borrow(this));
    return linearize(buf);
  }
}

/**
 * The `<sys/socket.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.bind(...)`.
 */
export class SocketFileDescriptor extends BaseFileDescriptor {
  /**
   * `int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen)`: give this socket an
   * address.
   * @see https://man7.org/linux/man-pages/man2/bind.2.html
   */
  async bind(addr: WrittenPointer<Sockaddr>): Promise<void> {
    checkPointer("addr", addr, true);
    const task = this.task;
    await withContext(raw.bind(task.sysif, this.borrow(task), addr.borrow(task), addr.size()), addrContext(addr));
  }

  /**
   * `int listen(int sockfd, int backlog)`: accept connections.
   * @see https://man7.org/linux/man-pages/man2/listen.2.html
   */
  async listen(backlog: number): Promise<void> {
    checkInt("backlog", backlog);
    await withContext(raw.listen(this.task.sysif, this.borrow(this.task), backlog), { fd: this.near });
  }

  /**
   * `int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags)`: take a
   * connection. Close-on-exec is always added. With `addr`, also returns it, filled with the peer's
   * address.
   * @see https://man7.org/linux/man-pages/man2/accept4.2.html
   */
  accept(flags?: SOCK): Promise<this["task"]["_fd"]>;
  accept<T>(flags: SOCK, addr: WrittenPointer<Sockbuf<T>>): Promise<[this["task"]["_fd"], ReadablePointer<Sockbuf<T>>]>;
  async accept<T>(
    flags: SOCK = 0 as SOCK,
    addr?: WrittenPointer<Sockbuf<T>>,
  ): Promise<this["task"]["_fd"] | [this["task"]["_fd"], ReadablePointer<Sockbuf<T>>]> {
    checkInt("flags", flags);
    const task = this.task;
    if (addr !== undefined) {
      checkPointer("addr", addr, true);
      const sockaddr = addr.value.buf.borrow(task);
      task.collectGarbage();
      const n = await withContext(
        raw.accept4(task.sysif, this.borrow(task), sockaddr, addr.borrow(task), flags | SOCK.CLOEXEC),
        { fd: this.near },
      );
      return [task.makeFd(n), addr.filled()];
    }
    task.collectGarbage();
    const n = await withContext(raw.accept4(task.sysif, this.borrow(task), 0, 0, flags | SOCK.CLOEXEC), {
      fd: this.near,
    });
    return task.makeFd(n);
  }

  /**
   * `int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen)`: connect to an
   * address.
   * @see https://man7.org/linux/man-pages/man2/connect.2.html
   */
  async connect(addr: WrittenPointer<Sockaddr>): Promise<void> {
    checkPointer("addr", addr, true);
    const task = this.task;
    await withContext(raw.connect(task.sysif, this.borrow(task), addr.borrow(task), addr.size()), addrContext(addr));
  }

  /**
   * `int shutdown(int sockfd, int how)`: shut down one or both directions.
   * @see https://man7.org/linux/man-pages/man2/shutdown.2.html
   */
  async shutdown(how: SHUT): Promise<void> {
    checkInt("how", how);
    await withContext(raw.shutdown(this.task.sysif, this.borrow(this.task), how), { fd: this.near });
  }

  /**
   * `int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen)`: this socket's address,
   * into `addr`'s buffer.
   * @see https://man7.org/linux/man-pages/man2/getsockname.2.html
   */
  async getsockname<T>(addr: WrittenPointer<Sockbuf<T>>): Promise<ReadablePointer<Sockbuf<T>>> {
    return sockbufCall(this, raw.getsockname, addr);
  }

  /**
   * `int getpeername(int sockfd, struct sockaddr *addr, socklen_t *addrlen)`: the connected peer's
   * address, into `addr`'s buffer.
   * @see https://man7.org/linux/man-pages/man2/getpeername.2.html
   */
  async getpeername<T>(addr: WrittenPointer<Sockbuf<T>>): Promise<ReadablePointer<Sockbuf<T>>> {
    return sockbufCall(this, raw.getpeername, addr);
  }

  /**
   * `int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen)`: read an
   * option into `optval`'s buffer.
   * @see https://man7.org/linux/man-pages/man2/getsockopt.2.html
   */
  async getsockopt<T>(
    level: SOL,
    optname: SO | number,
    optval: WrittenPointer<Sockbuf<T>>,
  ): Promise<ReadablePointer<Sockbuf<T>>> {
    checkInt("level", level);
    checkInt("optname", optname);
    return sockbufCall(this, (s, fd, buf, len) => raw.getsockopt(s, fd, level, optname, buf, len), optval);
  }

  /**
   * `int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen)`: set
   * an option (`optval` is often an Int32).
   * @see https://man7.org/linux/man-pages/man2/setsockopt.2.html
   */
  async setsockopt(level: SOL, optname: SO | number, optval: WrittenPointer<unknown>): Promise<void> {
    checkInt("level", level);
    checkInt("optname", optname);
    checkPointer("optval", optval, true);
    const task = this.task;
    const call = raw.setsockopt(task.sysif, this.borrow(task), level, optname, optval.borrow(task), optval.size());
    await withContext(call, { fd: this.near });
  }

  /**
   * `ssize_t sendto(int sockfd, const void *buf, size_t len, int flags,
   * const struct sockaddr *dest_addr, socklen_t addrlen)`,
   * as `sendto(sockfd, buf, len, flags, NULL, 0)`: send on a connected socket; returns [sent, rest].
   * @see https://man7.org/linux/man-pages/man2/sendto.2.html
   */
  async send<T>(buf: Pointer<T>, flags: MSG = NO_MSG): Promise<[Pointer<T>, Pointer<T>]> {
    return this.sendto(buf, flags);
  }

  /**
   * `ssize_t sendto(int sockfd, const void *buf, size_t len, int flags,
   * const struct sockaddr *dest_addr, socklen_t addrlen)`:
   * send, to `addr` when given; returns [sent, rest].
   * @see https://man7.org/linux/man-pages/man2/sendto.2.html
   */
  async sendto<T>(
    buf: Pointer<T>,
    flags: MSG = NO_MSG,
    addr?: WrittenPointer<Sockaddr>,
  ): Promise<[Pointer<T>, Pointer<T>]> {
    checkPointer("buf", buf);
    checkInt("flags", flags);
    if (addr !== undefined) checkPointer("addr", addr, true);
    const task = this.task;
    const call = raw.sendto(
      task.sysif,
      this.borrow(task),
      buf.borrow(task),
      buf.size(),
      flags,
      addr ? addr.borrow(task) : 0,
      addr ? addr.size() : 0,
    );
    return buf.split(await withContext(call, { fd: this.near }));
  }

  /**
   * `ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr,
   * socklen_t *addrlen)`,
   * as `recvfrom(sockfd, buf, len, flags, NULL, NULL)`: receive; returns [filled, rest].
   * @see https://man7.org/linux/man-pages/man2/recvfrom.2.html
   */
  async recv<T>(buf: Pointer<T>, flags: MSG = NO_MSG): Promise<[ReadablePointer<T>, Pointer<T>]> {
    checkPointer("buf", buf);
    checkInt("flags", flags);
    const task = this.task;
    const call = raw.recvfrom(task.sysif, this.borrow(task), buf.borrow(task), buf.size(), flags, 0, 0);
    return buf.readableSplit(await withContext(call, { fd: this.near }));
  }

  /**
   * `ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr,
   * socklen_t *addrlen)`:
   * receive, with the sender's address in `addr`'s buffer; returns [filled, rest, addr].
   * @see https://man7.org/linux/man-pages/man2/recvfrom.2.html
   */
  async recvfrom<T, A>(
    buf: Pointer<T>,
    flags: MSG,
    addr: WrittenPointer<Sockbuf<A>>,
  ): Promise<[ReadablePointer<T>, Pointer<T>, ReadablePointer<Sockbuf<A>>]> {
    checkPointer("buf", buf);
    checkInt("flags", flags);
    checkPointer("addr", addr, true);
    const task = this.task;
    const call = raw.recvfrom(
      task.sysif,
      this.borrow(task),
      buf.borrow(task),
      buf.size(),
      flags,
      addr.value.buf.borrow(task),
      addr.borrow(task),
    );
    const [filled, rest] = buf.readableSplit(await withContext(call, { fd: this.near }));
    return [filled, rest, addr.filled()];
  }
}

/** A syscall that fills a buffer and its in/out length, as getsockname does. */
async function sockbufCall<T>(
  fd: BaseFileDescriptor,
  call: (s: SyscallInterface, fd: Fd, addr: Address, addrlen: Address) => Promise<number>,
  sockbuf: WrittenPointer<Sockbuf<T>>,
): Promise<ReadablePointer<Sockbuf<T>>> {
  checkPointer("addr", sockbuf, true);
  const task = fd.task;
  await withContext(call(task.sysif, fd.borrow(task), sockbuf.value.buf.borrow(task), sockbuf.borrow(task)), {
    fd: fd.near,
  });
  return sockbuf.filled();
}

function addrContext(addr: WrittenPointer<Sockaddr>): { path?: string } {
  const path = (addr.value as { path?: unknown }).path;
  return typeof path === "string" ? { path } : {};
}

export { Cmsg, CmsgList, CmsgSCMRights, MsgFileDescriptor, type Received, RecvMsghdr, SendMsghdr } from "./msg.js";
