/**
 * `<netinet/ip.h>` (with `<netinet/in.h>`'s IP_* options): IP-level socket options, set at SOL.IP.
 *
 * ```js
 * await sock.setsockopt(SOL.IP, IP.TTL, await thr.ptr(new Int32(32)));
 * ```
 *
 * @module rsyscall/netinet/ip
 */
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

/** IP socket options: `IP_TTL` is `IP.TTL`. */
export const IP = family("IP", gen.IP);
export type IP = Flag<"IP">;
