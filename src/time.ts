/**
 * `<time.h>`: Timespec, Itimerspec, clock ids.
 *
 * ```js
 * const timer = new Itimerspec(Timespec.fromSeconds(0.5), Timespec.fromSeconds(0.1));  // interval, value
 * ```
 *
 * @module rsyscall/time
 */
import * as gen from "./gen/constants.js";
import * as layouts from "./gen/layouts.js";
import { type Flag, family } from "./near/flags.js";
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

/** Clock ids: `CLOCK_MONOTONIC` is `CLOCK.MONOTONIC`. */
export const CLOCK = family("CLOCK", gen.CLOCK);
/** A clock id. */
export type CLOCK = Flag<"CLOCK">;

/** `struct itimerspec`: a first expiration (`value`) and a period after it (`interval`, 0: once). */
export class Itimerspec {
  static readonly sizeof = layouts.itimerspec.size;
  readonly interval: Timespec;
  readonly value: Timespec;

  /** Times are Timespecs or seconds. A zero `value` disarms a timer. */
  constructor(interval: Timespec | number, value: Timespec | number) {
    this.interval = typeof interval === "number" ? Timespec.fromSeconds(interval) : interval;
    this.value = typeof value === "number" ? Timespec.fromSeconds(value) : value;
  }

  static getSerializer(): Serializer<Itimerspec> {
    return itimerspecSerializer;
  }
}

const itimerspecSerializer: Serializer<Itimerspec> = {
  toBytes(t) {
    const w = new StructWriter(layouts.itimerspec);
    w.raw("it_interval", timespecSerializer.toBytes(t.interval));
    w.raw("it_value", timespecSerializer.toBytes(t.value));
    return w.bytes;
  },
  fromBytes(bytes) {
    const r = new StructReader(bytes, layouts.itimerspec);
    return new Itimerspec(
      timespecSerializer.fromBytes(r.raw("it_interval")),
      timespecSerializer.fromBytes(r.raw("it_value")),
    );
  },
};
