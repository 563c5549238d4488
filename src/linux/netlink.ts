/**
 * `<linux/netlink.h>`: netlink sockets, which talk to the kernel in messages: SockaddrNl, the message
 * and attribute formats, and NetlinkSocket, which sends a request and collects its answer.
 *
 * ```js
 * const nl = await NetlinkSocket.open(thr, NETLINK.ROUTE);
 * const replies = await nl.request(RTM.GETLINK, NLM_F.DUMP, body);   // every message of the answer
 * await nl.close();
 * ```
 *
 * @module rsyscall/linux/netlink
 */
import { describe } from "../args.js";
import type { AsyncFileDescriptor } from "../epoller.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { SyscallError } from "../near/errors.js";
import { type Flag, family } from "../near/flags.js";
import { type Serializer, StructReader, StructWriter } from "../struct.js";
import { AF, SOCK, Sockaddr } from "../sys/socket/index.js";
import type { Thread } from "../thread.js";

/** Netlink protocols (socket's third argument): `NETLINK_ROUTE` is `NETLINK.ROUTE`. */
export const NETLINK = family("NETLINK", gen.NETLINK);
export type NETLINK = Flag<"NETLINK">;
/** Message flags: `NLM_F_REQUEST` is `NLM_F.REQUEST`. */
export const NLM_F = family("NLM_F", gen.NLM_F);
export type NLM_F = Flag<"NLM_F">;
/** The message types every protocol shares: `NLMSG_ERROR` is `NLMSG.ERROR`. */
export const NLMSG = family("NLMSG", gen.NLMSG);
export type NLMSG = Flag<"NLMSG">;
/** Attribute type flags: `NLA_F_NESTED` is `NLA_F.NESTED`. */
export const NLA_F = family("NLA_F", gen.NLA_F);
export type NLA_F = Flag<"NLA_F">;

const HEADER = layouts.nlmsghdr;
const ATTR = layouts.rtattr;
const ALIGN = gen.NLMSG.ALIGNTO;
/** Room for one read: the kernel answers a dump a page or two at a time, at most 32 KiB. */
const READ_SIZE = 64 * 1024;

/** Rounds up to netlink's 4-byte alignment. */
export function nlAlign(n: number): number {
  return (n + ALIGN - 1) & ~(ALIGN - 1);
}

/** `struct sockaddr_nl`: a netlink port (0 is the kernel) and the multicast groups joined. */
export class SockaddrNl extends Sockaddr {
  /** Its size in bytes, always the same: `malloc(SockaddrNl)` needs no size. */
  static readonly sizeof = layouts.sockaddr_nl.size;
  /** Always `AF.NETLINK`. */
  readonly family = AF.NETLINK;

  constructor(
    /** The port id: 0 for the kernel (or, binding, for "pick one for me"). */
    readonly pid = 0,
    /** A bit mask of multicast groups. */
    readonly groups = 0,
  ) {
    super();
    for (const [name, v] of [
      ["pid", pid],
      ["groups", groups],
    ] as const)
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
        throw new TypeError(`SockaddrNl: bad ${name} ${describe(v)}`);
  }

  toBytes(): Buffer {
    return new StructWriter(layouts.sockaddr_nl)
      .uint("nl_family", AF.NETLINK)
      .uint("nl_pid", this.pid)
      .uint("nl_groups", this.groups).bytes;
  }

  /** Reads a `struct sockaddr_nl`; throws unless its family is AF_NETLINK. */
  static fromBytes(bytes: Buffer): SockaddrNl {
    const r = new StructReader(bytes, layouts.sockaddr_nl);
    if (r.uint("nl_family") !== AF.NETLINK) throw new TypeError("not an AF_NETLINK address");
    return new SockaddrNl(r.uint("nl_pid"), r.uint("nl_groups"));
  }

  /** The serializer `malloc(SockaddrNl)` uses: how its bytes become a SockaddrNl and back. */
  static getSerializer(): Serializer<SockaddrNl> {
    return { toBytes: (a) => a.toBytes(), fromBytes: (b) => SockaddrNl.fromBytes(b) };
  }

  override toString(): string {
    return `netlink:${this.pid}/${this.groups}`;
  }
}

/** One netlink message: `struct nlmsghdr` and what follows it. */
export interface NetlinkMessage {
  /** `nlmsg_type`: the request or answer (RTM_NEWLINK, NLMSG_ERROR, NLMSG_DONE...). */
  type: number;
  /** `nlmsg_flags`: NLM_F bits. */
  flags: number;
  /** `nlmsg_seq`: the sequence number that pairs an answer with its request. */
  seq: number;
  /** `nlmsg_pid`: the sender's port id (0: the kernel). */
  pid: number;
  /** The bytes after the header (the protocol's struct, then attributes). */
  body: Buffer;
}

/** A message's bytes: the header, then `body`, padded. */
export function encodeMessage(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const length = HEADER.size + body.length;
  const out = Buffer.alloc(nlAlign(length));
  new StructWriter(HEADER, HEADER.size)
    .uint("nlmsg_len", length)
    .uint("nlmsg_type", type)
    .uint("nlmsg_flags", flags)
    .uint("nlmsg_seq", seq)
    .uint("nlmsg_pid", 0)
    .bytes.copy(out);
  body.copy(out, HEADER.size);
  return out;
}

/** The messages in what one read returned; a length that runs past the end is an error. */
export function decodeMessages(bytes: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  for (let off = 0; off + HEADER.size <= bytes.length; ) {
    const r = new StructReader(bytes.subarray(off), HEADER);
    const length = r.uint("nlmsg_len");
    if (length < HEADER.size || off + length > bytes.length)
      throw new Error(`netlink: a message of ${length} bytes at ${off} runs past the ${bytes.length} read`);
    out.push({
      type: r.uint("nlmsg_type"),
      flags: r.uint("nlmsg_flags"),
      seq: r.uint("nlmsg_seq"),
      pid: r.uint("nlmsg_pid"),
      body: Buffer.from(bytes.subarray(off + HEADER.size, off + length)),
    });
    off += nlAlign(length);
  }
  return out;
}

/** An attribute's value: bytes as they are, a string (NUL-terminated), a u32, or nested attributes. */
export type AttrValue = Buffer | string | number | Attr[];

/** One attribute (`struct rtattr`/`struct nlattr`): a type and a value. */
export interface Attr {
  /** `rta_type`: which attribute (IFLA_IFNAME, ...), as the message type gives it meaning. */
  type: number;
  /** Its payload: bytes, a string, a u32, or nested attributes. */
  value: AttrValue;
}

/** Attributes' bytes, each padded; a number is a native-endian u32, a string NUL-terminated, an array nested. */
export function encodeAttrs(attrs: readonly Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const { type, value } of attrs) {
    const data =
      typeof value === "number"
        ? u32(value)
        : typeof value === "string"
          ? Buffer.from(`${value}\0`)
          : Array.isArray(value)
            ? encodeAttrs(value)
            : value;
    const length = ATTR.size + data.length;
    const out = Buffer.alloc(nlAlign(length));
    new StructWriter(ATTR, ATTR.size).uint("rta_len", length).uint("rta_type", type).bytes.copy(out);
    data.copy(out, ATTR.size);
    parts.push(out);
  }
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** The attributes in `bytes`, by type (the nested flag and byte-order flag masked off); the last of a type wins. */
export function decodeAttrs(bytes: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = 0; off + ATTR.size <= bytes.length; ) {
    const r = new StructReader(bytes.subarray(off), ATTR);
    const length = r.uint("rta_len");
    if (length < ATTR.size || off + length > bytes.length) break;
    out.set(r.uint("rta_type") & ~(NLA_F.NESTED | NLA_F.NET_BYTEORDER), bytes.subarray(off + ATTR.size, off + length));
    off += nlAlign(length);
  }
  return out;
}

/** A NUL-terminated string attribute's text. */
export function attrString(value: Buffer | undefined): string | undefined {
  if (value === undefined) return undefined;
  const end = value.indexOf(0);
  return value.subarray(0, end < 0 ? value.length : end).toString();
}

/**
 * A netlink socket of some thread, read through the event loop: `request` sends one message and
 * resolves every message of the kernel's answer, or rejects with a SyscallError carrying the errno
 * of its NLMSG_ERROR (`syscall` is the request's name, e.g. "RTM_NEWLINK"). Requests take turns.
 */
export class NetlinkSocket {
  #seq = 1;
  #turn: Promise<unknown> = Promise.resolve();

  private constructor(
    /** The socket, non-blocking, read through the event loop. */
    readonly afd: AsyncFileDescriptor,
    /** Names message types for errors ("RTM_NEWLINK"). */
    readonly nameOf: (type: number) => string,
  ) {}

  /** `socket(AF_NETLINK, SOCK_RAW, protocol)` in `thread`, bound to a port the kernel picks. */
  static async open(
    thread: Thread,
    protocol: NETLINK,
    nameOf: (type: number) => string = String,
  ): Promise<NetlinkSocket> {
    const fd = await thread.socket(AF.NETLINK, SOCK.of(SOCK.RAW, SOCK.NONBLOCK), protocol);
    try {
      await fd.bind(await thread.ptr(new SockaddrNl()));
      return new NetlinkSocket(await thread.makeAfd(fd), nameOf);
    } catch (e) {
      await fd.close();
      throw e;
    }
  }

  /**
   * Sends a request (`NLM_F.REQUEST` is added to `flags`, and `NLM_F.ACK` unless it is a dump) and
   * collects the answer: a dump's messages until NLMSG_DONE, or nothing but the acknowledgement.
   */
  request(type: number, flags: number, body: Buffer): Promise<NetlinkMessage[]> {
    const run = this.#turn.then(() => this.#exchange(type, flags, body));
    this.#turn = run.catch(() => {});
    return run;
  }

  async #exchange(type: number, flags: number, body: Buffer): Promise<NetlinkMessage[]> {
    const seq = this.#seq++;
    const dump = (flags & NLM_F.DUMP) === NLM_F.DUMP;
    await this.afd.writeAllBytes(encodeMessage(type, flags | NLM_F.REQUEST | (dump ? 0 : NLM_F.ACK), seq, body));
    const answer: NetlinkMessage[] = [];
    for (;;) {
      for (const message of decodeMessages(await this.afd.readSomeBytes(READ_SIZE))) {
        if (message.seq !== seq) continue; // a late answer to an earlier request
        if (message.type === NLMSG.DONE || message.type === NLMSG.ERROR) {
          // NLMSG_ERROR's error is 0 in an acknowledgement; a dump's DONE may carry one too.
          const errno = message.body.length >= 4 ? -message.body.readInt32LE(layouts.nlmsgerr.fields.error[0]) : 0;
          if (errno > 0) throw new SyscallError(errno, this.nameOf(type));
          return answer;
        }
        answer.push(message);
      }
    }
  }

  /** Closes the socket. */
  async close(): Promise<void> {
    await this.afd.close();
  }

  /** For `await using`: `close()`, unless closed already. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.afd.handle.valid) await this.close();
  }
}
