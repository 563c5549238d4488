/**
 * `<netinet/tcp.h>`: TCP-level socket options, set at SOL.TCP.
 *
 * ```js
 * await sock.setsockopt(SOL.TCP, TCP.NODELAY, await thr.ptr(new Int32(1)));
 * ```
 *
 * @module rsyscall/netinet/tcp
 */
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

/** TCP socket options: `TCP_NODELAY` is `TCP.NODELAY`. */
export const TCP = family("TCP", gen.TCP);
export type TCP = Flag<"TCP">;
