/**
 * `<linux/rtnetlink.h>` (with `<linux/if_link.h>`, `<linux/if_addr.h>`, `<linux/veth.h>`): routing netlink,
 * how a container runtime sets up networks: links (veth pairs, moved between network namespaces,
 * set up), addresses and routes, and listing links and addresses. Rtnetlink speaks it from any
 * thread, in that thread's network namespace.
 *
 * ```js
 * const rt = await Rtnetlink.open(child);           // the child's network namespace
 * await rt.createVeth("veth0", "veth1", { peerNetnsPid: other.process.pid });
 * await rt.addAddress("veth0", "10.0.0.1", 24);
 * await rt.setUp("veth0");
 * await rt.addRoute({ destination: "10.1.0.0", prefixlen: 16, gateway: "10.0.0.2" });
 * ```
 *
 * @module rsyscall/linux/rtnetlink
 */
import { describe } from "../args.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { type Flag, family } from "../near/flags.js";
import { IFF } from "../net/if.js";
import { addressBytes, addressText } from "../netinet/in.js";
import { StructReader, StructWriter } from "../struct.js";
import { AF } from "../sys/socket/index.js";
import type { Thread } from "../thread.js";
import {
  type Attr,
  attrString,
  decodeAttrs,
  encodeAttrs,
  NETLINK,
  type NetlinkMessage,
  NetlinkSocket,
  NLM_F,
} from "./netlink.js";

/** Message types: `RTM_NEWLINK` is `RTM.NEWLINK`. */
export const RTM = family("RTM", gen.RTM);
export type RTM = Flag<"RTM">;
/** Link attributes: `IFLA_IFNAME` is `IFLA.IFNAME`. */
export const IFLA = family("IFLA", gen.IFLA);
export type IFLA = Flag<"IFLA">;
/** Attributes nested in IFLA_LINKINFO: `IFLA_INFO_KIND` is `IFLA_INFO.KIND`. */
export const IFLA_INFO = family("IFLA_INFO", gen.IFLA_INFO);
export type IFLA_INFO = Flag<"IFLA_INFO">;
/** A veth's data: `VETH_INFO_PEER` is `VETH_INFO.PEER`. */
export const VETH_INFO = family("VETH_INFO", gen.VETH_INFO);
export type VETH_INFO = Flag<"VETH_INFO">;
/** Address attributes: `IFA_LOCAL` is `IFA.LOCAL`. */
export const IFA = family("IFA", gen.IFA);
export type IFA = Flag<"IFA">;
/** Route attributes: `RTA_GATEWAY` is `RTA.GATEWAY`. */
export const RTA = family("RTA", gen.RTA);
export type RTA = Flag<"RTA">;
/** Route types: `RTN_UNICAST` is `RTN.UNICAST`. */
export const RTN = family("RTN", gen.RTN);
export type RTN = Flag<"RTN">;
/** Route and address scopes: `RT_SCOPE_LINK` is `RT_SCOPE.LINK`. */
export const RT_SCOPE = family("RT_SCOPE", gen.RT_SCOPE);
export type RT_SCOPE = Flag<"RT_SCOPE">;
/** Who made a route: `RTPROT_STATIC` is `RTPROT.STATIC`. */
export const RTPROT = family("RTPROT", gen.RTPROT);
export type RTPROT = Flag<"RTPROT">;
/** Routing tables: `RT_TABLE_MAIN` is `RT_TABLE.MAIN`. */
export const RT_TABLE = family("RT_TABLE", gen.RT_TABLE);
export type RT_TABLE = Flag<"RT_TABLE">;

/** A network interface, as RTM_GETLINK reports it. */
export interface Link {
  /** The interface index, which names the link in later requests. */
  index: number;
  /** IFLA_IFNAME: its name (`"lo"`, `"veth0"`). */
  name: string;
  /** IFF flags (`link.flags & IFF.UP`). */
  flags: number;
  /** IFLA_MTU, when reported. */
  mtu: number | undefined;
  /** The hardware address, "aa:bb:..." (none for some kinds, such as lo's zeros or tun). */
  address: string | undefined;
  /** The link kind (`"veth"`, `"bridge"`...), when it has one. */
  kind: string | undefined;
}

/** An address on an interface, as RTM_GETADDR reports it. */
export interface InterfaceAddress {
  /** The index of the interface the address is on. */
  index: number;
  /** `AF.INET` or `AF.INET6`. */
  family: number;
  /** The network prefix length (24 for a /24). */
  prefixlen: number;
  /** IFA_ADDRESS: the address (the peer's, on a point-to-point link). */
  address: string | undefined;
  /** IFA_LOCAL: the local address, where it differs from `address`. */
  local: string | undefined;
  /** IFA_LABEL: the address's label (IPv4; the interface name by default). */
  label: string | undefined;
}

/** Where a new veth's peer goes: a network namespace named by a process in it, or by an fd of it. */
export interface PeerNamespace {
  /** A process in the namespace, as the pid the Rtnetlink's thread sees. */
  peerNetnsPid?: number;
  /** An fd of the namespace (`/proc/PID/ns/net`) in the Rtnetlink's thread. */
  peerNetnsFd?: number;
}

/** A route to add. */
export interface Route {
  /** The destination network ("10.1.0.0"), or undefined for the default route. */
  destination?: string;
  /** The destination's prefix length (0 with no destination). */
  prefixlen?: number;
  /** The next hop, if the destination is not on the link itself. */
  gateway?: string;
  /** The interface out (a name or an index). */
  dev?: string | number;
  /** The routing table (RT_TABLE.MAIN by default). */
  table?: number;
}

const NAMES = new Map(Object.entries(gen.RTM).map(([k, v]) => [v as number, `RTM_${k}`]));

/** Routing netlink in one thread's network namespace: links, addresses, routes. */
export class Rtnetlink {
  private constructor(
    /** The NETLINK_ROUTE socket requests go through. */
    readonly socket: NetlinkSocket,
  ) {}

  /** A NETLINK_ROUTE socket in `thread` (in its network namespace). */
  static async open(thread: Thread): Promise<Rtnetlink> {
    return new Rtnetlink(await NetlinkSocket.open(thread, NETLINK.ROUTE, (t) => NAMES.get(t) ?? `RTM ${t}`));
  }

  /** Every link of the namespace. */
  async links(): Promise<Link[]> {
    const replies = await this.socket.request(RTM.GETLINK, NLM_F.DUMP, ifinfomsg(AF.UNSPEC, 0, 0, 0));
    return replies.filter((m) => m.type === RTM.NEWLINK).map(parseLink);
  }

  /** The link called `name`; rejects with ENODEV when there is none. */
  async link(name: string): Promise<Link> {
    const replies = await this.socket.request(
      RTM.GETLINK,
      0,
      Buffer.concat([ifinfomsg(AF.UNSPEC, 0, 0, 0), encodeAttrs([{ type: IFLA.IFNAME, value: checkName(name) }])]),
    );
    const link = replies.find((m) => m.type === RTM.NEWLINK);
    if (!link) throw new Error(`RTM_GETLINK ${name}: no answer`);
    return parseLink(link);
  }

  /** Every address of the namespace (of `family`, `AF.UNSPEC` for all). */
  async addresses(addressFamily: number = AF.UNSPEC): Promise<InterfaceAddress[]> {
    const replies = await this.socket.request(RTM.GETADDR, NLM_F.DUMP, ifaddrmsg(addressFamily, 0, 0, 0));
    return replies.filter((m) => m.type === RTM.NEWADDR).map(parseAddress);
  }

  /**
   * A veth pair: `name` here, `peer` in the namespace `where` names (here by default). Fails with
   * EEXIST if a link of either name exists there.
   */
  async createVeth(name: string, peer: string, where: PeerNamespace = {}): Promise<void> {
    const peerAttrs: Attr[] = [{ type: IFLA.IFNAME, value: checkName(peer) }, ...namespaceAttrs(where)];
    const linkinfo: Attr[] = [
      { type: IFLA_INFO.KIND, value: "veth" },
      {
        type: IFLA_INFO.DATA,
        value: [
          { type: VETH_INFO.PEER, value: Buffer.concat([ifinfomsg(AF.UNSPEC, 0, 0, 0), encodeAttrs(peerAttrs)]) },
        ],
      },
    ];
    const attrs: Attr[] = [
      { type: IFLA.IFNAME, value: checkName(name) },
      { type: IFLA.LINKINFO, value: linkinfo },
    ];
    await this.socket.request(
      RTM.NEWLINK,
      NLM_F.CREATE | NLM_F.EXCL,
      Buffer.concat([ifinfomsg(AF.UNSPEC, 0, 0, 0), encodeAttrs(attrs)]),
    );
  }

  /** Moves a link into another network namespace (by a process in it, or an fd of it). */
  async moveToNamespace(link: string | number, where: PeerNamespace): Promise<void> {
    const attrs = namespaceAttrs(where);
    if (attrs.length === 0) throw new TypeError("moveToNamespace: say peerNetnsPid or peerNetnsFd");
    await this.#setLink(link, 0, 0, attrs);
  }

  /** Sets a link up (or down, with `up` false). */
  async setUp(link: string | number, up = true): Promise<void> {
    await this.#setLink(link, up ? IFF.UP : 0, IFF.UP, []);
  }

  /** Deletes a link (both ends, for a veth). */
  async deleteLink(link: string | number): Promise<void> {
    await this.socket.request(RTM.DELLINK, 0, await this.#linkMessage(link, 0, 0, []));
  }

  /** Adds `address`/`prefixlen` (IPv4 or IPv6) to a link. */
  async addAddress(link: string | number, address: string, prefixlen: number): Promise<void> {
    const { family: af, bytes } = addressBytes(address);
    checkPrefix(prefixlen, bytes.length);
    const index = await this.#index(link);
    const attrs: Attr[] = [
      { type: IFA.LOCAL, value: bytes },
      { type: IFA.ADDRESS, value: bytes },
    ];
    await this.socket.request(
      RTM.NEWADDR,
      NLM_F.CREATE | NLM_F.EXCL,
      Buffer.concat([ifaddrmsg(af, prefixlen, RT_SCOPE.UNIVERSE, index), encodeAttrs(attrs)]),
    );
  }

  /** Adds a route: to `destination`/`prefixlen` (the default route without one), via `gateway`, out of `dev`. */
  async addRoute(route: Route): Promise<void> {
    if (route.gateway === undefined && route.dev === undefined)
      throw new TypeError("addRoute: say gateway, dev or both");
    const dst = route.destination === undefined ? undefined : addressBytes(route.destination);
    const gateway = route.gateway === undefined ? undefined : addressBytes(route.gateway);
    const af = dst?.family ?? gateway?.family ?? AF.INET;
    const prefixlen = route.prefixlen ?? (dst ? dst.bytes.length * 8 : 0);
    checkPrefix(prefixlen, dst?.bytes.length ?? (af === AF.INET6 ? 16 : 4));
    const attrs: Attr[] = [];
    if (dst) attrs.push({ type: RTA.DST, value: dst.bytes });
    if (gateway) attrs.push({ type: RTA.GATEWAY, value: gateway.bytes });
    if (route.dev !== undefined) attrs.push({ type: RTA.OIF, value: await this.#index(route.dev) });
    const table = route.table ?? RT_TABLE.MAIN;
    const body = new StructWriter(layouts.rtmsg)
      .uint("rtm_family", af)
      .uint("rtm_dst_len", prefixlen)
      .uint("rtm_table", table < 256 ? table : RT_TABLE.UNSPEC)
      .uint("rtm_protocol", RTPROT.STATIC)
      .uint("rtm_scope", gateway ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK)
      .uint("rtm_type", RTN.UNICAST).bytes;
    if (table >= 256) attrs.push({ type: RTA.TABLE, value: table });
    await this.socket.request(RTM.NEWROUTE, NLM_F.CREATE | NLM_F.EXCL, Buffer.concat([body, encodeAttrs(attrs)]));
  }

  /** Closes the socket. */
  close(): Promise<void> {
    return this.socket.close();
  }

  /** For `await using`: closes the socket. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.socket[Symbol.asyncDispose]();
  }

  async #setLink(link: string | number, flags: number, change: number, attrs: Attr[]): Promise<void> {
    await this.socket.request(RTM.NEWLINK, 0, await this.#linkMessage(link, flags, change, attrs));
  }

  async #linkMessage(link: string | number, flags: number, change: number, attrs: Attr[]): Promise<Buffer> {
    return Buffer.concat([ifinfomsg(AF.UNSPEC, await this.#index(link), flags, change), encodeAttrs(attrs)]);
  }

  async #index(link: string | number): Promise<number> {
    if (typeof link === "number") {
      if (!Number.isInteger(link) || link <= 0) throw new TypeError(`not an interface index: ${link}`);
      return link;
    }
    return (await this.link(link)).index;
  }
}

function ifinfomsg(af: number, index: number, flags: number, change: number): Buffer {
  return new StructWriter(layouts.ifinfomsg)
    .uint("ifi_family", af)
    .int("ifi_index", index)
    .uint("ifi_flags", flags)
    .uint("ifi_change", change).bytes;
}

function ifaddrmsg(af: number, prefixlen: number, scope: number, index: number): Buffer {
  return new StructWriter(layouts.ifaddrmsg)
    .uint("ifa_family", af)
    .uint("ifa_prefixlen", prefixlen)
    .uint("ifa_scope", scope)
    .uint("ifa_index", index).bytes;
}

function namespaceAttrs(where: PeerNamespace): Attr[] {
  if (where.peerNetnsPid !== undefined && where.peerNetnsFd !== undefined)
    throw new TypeError("say peerNetnsPid or peerNetnsFd, not both");
  for (const v of [where.peerNetnsPid, where.peerNetnsFd])
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new TypeError(`not a pid or fd: ${describe(v)}`);
  if (where.peerNetnsPid !== undefined) return [{ type: IFLA.NET_NS_PID, value: where.peerNetnsPid }];
  if (where.peerNetnsFd !== undefined) return [{ type: IFLA.NET_NS_FD, value: where.peerNetnsFd }];
  return [];
}

/** An interface name: 1 to 15 bytes (IFNAMSIZ with its NUL), no slash, no whitespace. */
function checkName(name: string): string {
  if (
    typeof name !== "string" ||
    !/^[^/\s\0]{1,15}$/.test(name) ||
    Buffer.byteLength(name) > 15 ||
    name === "." ||
    name === ".."
  )
    throw new TypeError(`not an interface name (1 to 15 bytes, no slash or space): ${describe(name)}`);
  return name;
}

function checkPrefix(prefixlen: number, bytes: number): void {
  if (!Number.isInteger(prefixlen) || prefixlen < 0 || prefixlen > bytes * 8)
    throw new TypeError(`not a prefix length for a ${bytes * 8}-bit address: ${describe(prefixlen)}`);
}

function parseLink(message: NetlinkMessage): Link {
  const r = new StructReader(message.body, layouts.ifinfomsg);
  const attrs = decodeAttrs(message.body.subarray(layouts.ifinfomsg.size));
  const mac = attrs.get(IFLA.ADDRESS);
  const info = attrs.get(IFLA.LINKINFO);
  return {
    index: r.int("ifi_index"),
    name: attrString(attrs.get(IFLA.IFNAME)) ?? "",
    flags: r.uint("ifi_flags"),
    mtu: attrs.get(IFLA.MTU)?.readUInt32LE(0),
    address: mac && mac.length > 0 ? [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":") : undefined,
    kind: info ? attrString(decodeAttrs(info).get(IFLA_INFO.KIND)) : undefined,
  };
}

function parseAddress(message: NetlinkMessage): InterfaceAddress {
  const r = new StructReader(message.body, layouts.ifaddrmsg);
  const attrs = decodeAttrs(message.body.subarray(layouts.ifaddrmsg.size));
  const text = (b: Buffer | undefined) => (b && (b.length === 4 || b.length === 16) ? addressText(b) : undefined);
  return {
    index: r.uint("ifa_index"),
    family: r.uint("ifa_family"),
    prefixlen: r.uint("ifa_prefixlen"),
    address: text(attrs.get(IFA.ADDRESS)),
    local: text(attrs.get(IFA.LOCAL)),
    label: attrString(attrs.get(IFA.LABEL)),
  };
}
