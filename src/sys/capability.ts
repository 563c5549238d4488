/**
 * `<sys/capability.h>`: capabilities: capget, capset (version 3: two 32-bit words per set).
 *
 * ```js
 * const caps = await (await thr.task.capget(await thr.ptr(new CapHeader()), await thr.malloc(CapData))).read();
 * caps.effective.has(CAP.SYS_ADMIN);
 * ```
 *
 * @module rsyscall/sys/capability
 */
import { checkPointer } from "../args.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import { type Serializer, StructReader, StructWriter } from "../struct.js";

/** Capabilities: `CAP_SYS_ADMIN` is `CAP.SYS_ADMIN`. */
export const CAP = family("CAP", gen.CAP);
/** A capability number. */
export type CAP = Flag<"CAP">;

const WORDS = gen.LINUX_CAPABILITY.U32S_3;
const D = layouts.cap_data;

/** `struct __user_cap_header_struct`, version 3, for `pid` (0: this process). */
export class CapHeader {
  /** Its size in bytes, always the same: `malloc(CapHeader)` needs no size. */
  static readonly sizeof = layouts.cap_header.size;
  constructor(
    /** The process whose capabilities capget reads or capset writes. */
    readonly pid = 0,
  ) {}
  /** The serializer `malloc(CapHeader)` uses: how its bytes become a CapHeader and back. */
  static getSerializer(): Serializer<CapHeader> {
    return {
      toBytes: (h) =>
        new StructWriter(layouts.cap_header).uint("version", gen.LINUX_CAPABILITY.VERSION_3).int("pid", h.pid).bytes,
      fromBytes: (b) => new CapHeader(new StructReader(b, layouts.cap_header).int("pid")),
    };
  }
}

/** The three capability sets, as sets of CAP numbers. */
export class CapData {
  /** Its size in bytes, always the same: `malloc(CapData)` needs no size. */
  static readonly sizeof = D.size * WORDS;
  constructor(
    /** What the process can use now. */
    readonly effective: ReadonlySet<CAP> = new Set(),
    /** What it may make effective. */
    readonly permitted: ReadonlySet<CAP> = new Set(),
    /** What may pass on across an exec. */
    readonly inheritable: ReadonlySet<CAP> = new Set(),
  ) {}

  /** The serializer `malloc(CapData)` uses: how its bytes become a CapData and back. */
  static getSerializer(): Serializer<CapData> {
    const fields = ["effective", "permitted", "inheritable"] as const;
    return {
      toBytes(data) {
        const words = Array.from({ length: WORDS }, () => new StructWriter(D));
        for (const f of fields) {
          const masks = new Array<number>(WORDS).fill(0);
          for (const cap of data[f]) masks[cap >> 5] = ((masks[cap >> 5] ?? 0) | (1 << (cap & 31))) >>> 0;
          for (const [i, w] of words.entries()) w.uint(f, masks[i] ?? 0);
        }
        return Buffer.concat(words.map((w) => w.bytes));
      },
      fromBytes(bytes) {
        const sets = fields.map((f) => {
          const set = new Set<CAP>();
          for (let i = 0; i < WORDS; i++) {
            const mask = new StructReader(bytes.subarray(i * D.size), D).uint(f);
            for (let bit = 0; bit < 32; bit++) if ((mask >>> bit) & 1) set.add((i * 32 + bit) as CAP);
          }
          return set;
        });
        return new CapData(sets[0], sets[1], sets[2]);
      },
    };
  }
}

/**
 * The `<sys/capability.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.capget(...)`.
 */
export class CapabilityTask extends BaseTask {
  /**
   * `int capget(cap_user_header_t hdrp, cap_user_data_t datap)`: read the capability sets of the
   * header's pid into `data`.
   * @see https://man7.org/linux/man-pages/man2/capget.2.html
   */
  async capget(header: WrittenPointer<CapHeader>, data: Pointer<CapData>): Promise<ReadablePointer<CapData>> {
    checkPointer("header", header, true);
    checkPointer("data", data);
    if (data.size() < CapData.sizeof) throw new TypeError(`capget: data needs ${CapData.sizeof} bytes`);
    await raw.capget(this.sysif, header.borrow(this), data.borrow(this));
    return data.filled();
  }

  /**
   * `int capset(cap_user_header_t hdrp, const cap_user_data_t datap)`: set this process's capability
   * sets.
   * @see https://man7.org/linux/man-pages/man2/capset.2.html
   */
  async capset(header: WrittenPointer<CapHeader>, data: WrittenPointer<CapData>): Promise<void> {
    checkPointer("header", header, true);
    checkPointer("data", data, true);
    await raw.capset(this.sysif, header.borrow(this), data.borrow(this));
  }
}
