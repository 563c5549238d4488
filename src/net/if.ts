// <net/if.h>: network interfaces: their flags (IFF), as links report them and `SIOCGIFFLAGS`
// reads them.
//
//   if (link.flags & IFF.UP) ...
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

/** Interface flags: `IFF_UP` is `IFF.UP`. */
export const IFF = family("IFF", gen.IFF);
export type IFF = Flag<"IFF">;
