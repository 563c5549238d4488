/**
 * `<net/if.h>`: network interfaces: their flags (IFF), `struct ifreq` for the interface ioctls
 * (`SIOC`), and TUN/TAP (`<linux/if_tun.h>`): `TUN.SETIFF` with `IFF_TUN` flags, a family of their
 * own, since they reuse values of net/if.h's IFF.
 *
 * ```js
 * const tun = await thr.task.open(await thr.ptr("/dev/net/tun"), O.of(O.RDWR, O.NONBLOCK));
 * await tun.ioctl(TUN.SETIFF, await thr.ptr(new Ifreq("tun0", IFF_TUN.of(IFF_TUN.TUN, IFF_TUN.NO_PI))));
 * ```
 *
 * @module rsyscall/net/if
 */
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { type Flag, family } from "../near/flags.js";
import { type Serializer, StructReader, StructWriter } from "../struct.js";

/** Interface flags: `IFF_UP` is `IFF.UP`. */
export const IFF = family("IFF", gen.IFF);
export type IFF = Flag<"IFF">;
/** TUN/TAP flags for `TUN.SETIFF`: `IFF_TUN` is `IFF_TUN.TUN`, `IFF_NO_PI` is `IFF_TUN.NO_PI`. */
export const IFF_TUN = family("IFF_TUN", gen.IFF_TUN);
export type IFF_TUN = Flag<"IFF_TUN">;
/** TUN/TAP ioctl requests: `TUNSETIFF` is `TUN.SETIFF`. */
export const TUN = family("TUN", gen.TUN);
export type TUN = Flag<"TUN">;
/** Interface ioctl requests on a socket: `SIOCGIFFLAGS` is `SIOC.GIFFLAGS`. */
export const SIOC = family("SIOC", gen.SIOC);
export type SIOC = Flag<"SIOC">;

const NAME_SIZE = layouts.ifreq.fields.ifr_name[1];

/**
 * `struct ifreq` with a name and flags (a union: `flags` is read as ifr_flags, 16 bits), as
 * `TUN.SETIFF`, `SIOC.GIFFLAGS` and `SIOC.SIFFLAGS` use it. The kernel may write back the name it
 * chose (for a name with `%d`).
 */
export class Ifreq {
  /** Its size in bytes, always the same: `malloc(Ifreq)` needs no size. */
  static readonly sizeof = layouts.ifreq.size;
  constructor(
    /** `ifr_name`: the interface (at most 15 bytes). */
    readonly name: string,
    /** `ifr_flags`: IFF bits, or IFF_TUN bits for TUN.SETIFF. */
    readonly flags = 0,
  ) {
    if (typeof name !== "string" || Buffer.byteLength(name) >= NAME_SIZE || name.includes("\0"))
      throw new TypeError(
        `Ifreq: an interface name is at most ${NAME_SIZE - 1} bytes without NUL, got ${JSON.stringify(name)}`,
      );
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff)
      throw new TypeError(`Ifreq: flags are 16 bits, got ${flags}`);
  }

  /** The serializer `malloc(Ifreq)` uses: how its bytes become an Ifreq and back. */
  static getSerializer(): Serializer<Ifreq> {
    return {
      toBytes: (r) =>
        new StructWriter(layouts.ifreq).raw("ifr_name", Buffer.from(r.name)).uint("ifr_flags", r.flags).bytes,
      fromBytes: (b) => {
        const r = new StructReader(b, layouts.ifreq);
        const name = r.raw("ifr_name");
        const end = name.indexOf(0);
        return new Ifreq(name.subarray(0, end < 0 ? name.length : end).toString(), r.uint("ifr_flags"));
      },
    };
  }
}
