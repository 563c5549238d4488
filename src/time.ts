// <time.h>: Timespec.
import * as layouts from "./gen/layouts.js";
import { type Serializer, StructReader, StructWriter } from "./struct.js";

const NS_PER_S = 1_000_000_000;

/** `struct timespec`: seconds and nanoseconds. */
export class Timespec {
  static readonly sizeof = layouts.timespec.size;
  constructor(
    readonly sec: number,
    readonly nsec: number,
  ) {
    if (!Number.isSafeInteger(sec) || !Number.isInteger(nsec) || nsec < 0 || nsec >= NS_PER_S) {
      throw new TypeError(`Timespec(${sec}, ${nsec}): sec must be an integer, nsec in [0, 1e9)`);
    }
  }

  /** From seconds as a number (1.5 is 1 s and 500,000,000 ns). */
  static fromSeconds(seconds: number): Timespec {
    const sec = Math.floor(seconds);
    return new Timespec(sec, Math.min(NS_PER_S - 1, Math.round((seconds - sec) * NS_PER_S)));
  }

  /** As seconds (loses precision below a microsecond or so for large values). */
  toSeconds(): number {
    return this.sec + this.nsec / NS_PER_S;
  }

  static getSerializer(): Serializer<Timespec> {
    return timespecSerializer;
  }
}

const timespecSerializer: Serializer<Timespec> = {
  toBytes: (t) => new StructWriter(layouts.timespec).int("tv_sec", t.sec).int("tv_nsec", t.nsec).bytes,
  fromBytes(bytes) {
    const r = new StructReader(bytes, layouts.timespec);
    return new Timespec(r.int("tv_sec"), r.int("tv_nsec"));
  },
};
