/**
 * `<sys/time.h>`: Timeval, the microsecond time socket timeouts take.
 *
 * ```js
 * await sock.setsockopt(SOL.SOCKET, SO.RCVTIMEO, await thr.ptr(Timeval.fromSeconds(10)));
 * ```
 *
 * @module rsyscall/sys/time
 */
import * as layouts from "../gen/layouts.js";
import { type Serializer, StructReader, StructWriter } from "../struct.js";

const US_PER_S = 1_000_000;

/** `struct timeval`: seconds and microseconds (`SO_RCVTIMEO`, `SO_SNDTIMEO`; 0 means no timeout). */
export class Timeval {
  /** Its size in bytes, always the same: `malloc(Timeval)` needs no size. */
  static readonly sizeof = layouts.timeval.size;
  constructor(
    /** Whole seconds. */
    readonly sec: number,
    /** Microseconds, 0 to 999,999. */
    readonly usec: number,
  ) {
    if (!Number.isSafeInteger(sec) || !Number.isInteger(usec) || usec < 0 || usec >= US_PER_S) {
      throw new TypeError(`Timeval(${sec}, ${usec}): sec must be an integer, usec in [0, 1e6)`);
    }
  }

  /** From seconds as a number (1.5 is 1 s and 500,000 us). */
  static fromSeconds(seconds: number): Timeval {
    const sec = Math.floor(seconds);
    return new Timeval(sec, Math.min(US_PER_S - 1, Math.round((seconds - sec) * US_PER_S)));
  }

  /** As seconds. */
  toSeconds(): number {
    return this.sec + this.usec / US_PER_S;
  }

  /** The serializer `malloc(Timeval)` uses: how its bytes become a Timeval and back. */
  static getSerializer(): Serializer<Timeval> {
    return timevalSerializer;
  }
}

const timevalSerializer: Serializer<Timeval> = {
  toBytes: (t) => new StructWriter(layouts.timeval).int("tv_sec", t.sec).int("tv_usec", t.usec).bytes,
  fromBytes(bytes) {
    const r = new StructReader(bytes, layouts.timeval);
    return new Timeval(r.int("tv_sec"), r.int("tv_usec"));
  },
};
