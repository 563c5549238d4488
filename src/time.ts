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
  /** Its size in bytes, always the same: `malloc(Timespec)` needs no size. */
  static readonly sizeof = layouts.timespec.size;
  constructor(
    /** Whole seconds. */
    readonly sec: number,
    /** Nanoseconds, 0 to 999,999,999. */
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

  /** The serializer `malloc(Timespec)` uses: how its bytes become a Timespec and back. */
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
  /** Its size in bytes, always the same: `malloc(Itimerspec)` needs no size. */
  static readonly sizeof = layouts.itimerspec.size;
  /** The period after the first expiration; zero for a one-shot timer. */
  readonly interval: Timespec;
  /** The time to the first expiration (or when it is, with TFD_TIMER.ABSTIME). */
  readonly value: Timespec;

  /** Times are Timespecs or seconds. A zero `value` disarms a timer. */
  constructor(interval: Timespec | number, value: Timespec | number) {
    this.interval = typeof interval === "number" ? Timespec.fromSeconds(interval) : interval;
    this.value = typeof value === "number" ? Timespec.fromSeconds(value) : value;
  }

  /** The serializer `malloc(Itimerspec)` uses: how its bytes become an Itimerspec and back. */
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
