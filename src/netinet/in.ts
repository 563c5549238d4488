/**
 * `<netinet/in.h>`: IPv4 and IPv6 socket addresses, IPPROTO.
 *
 * ```js
 * await sock.bind(await thr.ptr(new SockaddrIn(8080, "127.0.0.1")));
 * await sock.connect(await thr.ptr(new SockaddrIn6(443, "::1")));
 * ```
 *
 * @module rsyscall/netinet/in
 */
import { isIPv4, isIPv6 } from "node:net";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { type Flag, family } from "../near/flags.js";
import { type Serializer, StructReader, StructWriter } from "../struct.js";
import { AF, Sockaddr } from "../sys/socket/index.js";

/** IP protocols: `IPPROTO_TCP` is `IPPROTO.TCP` (also the option level for that protocol). */
export const IPPROTO = family("IPPROTO", gen.IPPROTO);
/** An IP protocol number. */
export type IPPROTO = Flag<"IPPROTO">;

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new TypeError(`port must be in [0, 65535], got ${port}`);
  return port;
}

function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** `struct sockaddr_in`: an IPv4 address and port (host order here, network order in memory). */
export class SockaddrIn extends Sockaddr {
  /** Its size in bytes, always the same: `malloc(SockaddrIn)` needs no size. */
  static readonly sizeof = layouts.sockaddr_in.size;
  /** Always `AF.INET`. */
  readonly family = AF.INET;
  /** The port, 0 to 65535 (0 at bind: the kernel picks one). */
  readonly port: number;
  /** The address in dotted-quad text (`"127.0.0.1"`). */
  readonly addr: string;

  constructor(port: number, addr = "0.0.0.0") {
    super();
    this.port = checkPort(port);
    if (!isIPv4(addr)) throw new TypeError(`SockaddrIn: not an IPv4 address: ${JSON.stringify(addr)}`);
    this.addr = addr;
  }

  toBytes(): Buffer {
    return new StructWriter(layouts.sockaddr_in)
      .uint("sin_family", AF.INET)
      .raw("sin_port", be16(this.port))
      .raw("sin_addr", Buffer.from(this.addr.split(".").map(Number))).bytes;
  }

  /** Reads a `struct sockaddr_in`; throws unless its family is AF_INET. */
  static fromBytes(bytes: Buffer): SockaddrIn {
    const r = new StructReader(bytes, layouts.sockaddr_in);
    if (r.uint("sin_family") !== AF.INET) throw new TypeError("not an AF_INET address");
    return new SockaddrIn(r.raw("sin_port").readUInt16BE(0), [...r.raw("sin_addr")].join("."));
  }

  /** The serializer `malloc(SockaddrIn)` uses: how its bytes become a SockaddrIn and back. */
  static getSerializer(): Serializer<SockaddrIn> {
    return { toBytes: (a) => a.toBytes(), fromBytes: (b) => SockaddrIn.fromBytes(b) };
  }

  override toString(): string {
    return `${this.addr}:${this.port}`;
  }
}

/** `struct sockaddr_in6`: an IPv6 address, port, flow info and scope id. */
export class SockaddrIn6 extends Sockaddr {
  /** Its size in bytes, always the same: `malloc(SockaddrIn6)` needs no size. */
  static readonly sizeof = layouts.sockaddr_in6.size;
  /** Always `AF.INET6`. */
  readonly family = AF.INET6;
  /** The port, 0 to 65535 (0 at bind: the kernel picks one). */
  readonly port: number;
  /** The address in its canonical text (RFC 5952: `"::1"`, `"fe80::1"`). */
  readonly addr: string;

  constructor(
    port: number,
    addr = "::",
    /** `sin6_flowinfo`, in host order. */
    readonly flowinfo = 0,
    /** `sin6_scope_id`: the interface index a link-local address is on. */
    readonly scopeId = 0,
  ) {
    super();
    this.port = checkPort(port);
    if (!isIPv6(addr)) throw new TypeError(`SockaddrIn6: not an IPv6 address: ${JSON.stringify(addr)}`);
    this.addr = formatIPv6(parseIPv6(addr));
  }

  toBytes(): Buffer {
    return new StructWriter(layouts.sockaddr_in6)
      .uint("sin6_family", AF.INET6)
      .raw("sin6_port", be16(this.port))
      .raw("sin6_flowinfo", be32(this.flowinfo))
      .raw("sin6_addr", parseIPv6(this.addr))
      .uint("sin6_scope_id", this.scopeId).bytes;
  }

  /** Reads a `struct sockaddr_in6`; throws unless its family is AF_INET6. */
  static fromBytes(bytes: Buffer): SockaddrIn6 {
    const r = new StructReader(bytes, layouts.sockaddr_in6);
    if (r.uint("sin6_family") !== AF.INET6) throw new TypeError("not an AF_INET6 address");
    return new SockaddrIn6(
      r.raw("sin6_port").readUInt16BE(0),
      formatIPv6(r.raw("sin6_addr")),
      r.raw("sin6_flowinfo").readUInt32BE(0),
      r.uint("sin6_scope_id"),
    );
  }

  /** The serializer `malloc(SockaddrIn6)` uses: how its bytes become a SockaddrIn6 and back. */
  static getSerializer(): Serializer<SockaddrIn6> {
    return { toBytes: (a) => a.toBytes(), fromBytes: (b) => SockaddrIn6.fromBytes(b) };
  }

  override toString(): string {
    return `[${this.addr}]:${this.port}`;
  }
}

/** The 16 bytes of a textual IPv6 address (already checked with isIPv6). */
function parseIPv6(text: string): Buffer {
  let s = text.split("%")[0] ?? text;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string) => (part ? part.split(":").map((g) => Number.parseInt(g, 16)) : []);
  const [head = "", tail] = s.split("::");
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  for (const [i, g] of all.entries()) out.writeUInt16BE(g, i * 2);
  return out;
}

/** The canonical text of 16 IPv6 bytes (RFC 5952: the longest zero run becomes "::"). */
function formatIPv6(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

Sockaddr.register(AF.INET, SockaddrIn.fromBytes);
Sockaddr.register(AF.INET6, SockaddrIn6.fromBytes);

/**
 * The bytes of an IPv4 ("10.0.0.1") or IPv6 ("fd00::1") address, as the kernel takes it in a
 * struct or a netlink attribute (network byte order), and its family.
 */
export function addressBytes(text: string): {
  /** `AF.INET` or `AF.INET6`. */
  family: AF;
  /** 4 or 16 bytes, in network order. */
  bytes: Buffer;
} {
  if (isIPv4(text)) return { family: AF.INET, bytes: Buffer.from(text.split(".").map(Number)) };
  if (isIPv6(text)) return { family: AF.INET6, bytes: parseIPv6(text) };
  throw new TypeError(`not an IP address: ${JSON.stringify(text)}`);
}

/** The text of 4 (IPv4) or 16 (IPv6) address bytes. */
export function addressText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join(".");
  if (bytes.length === 16) return formatIPv6(bytes);
  throw new TypeError(`not an IP address: ${bytes.length} bytes`);
}
