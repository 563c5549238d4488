/**
 * The serialization framework: how values become bytes in a task's memory and back.
 *
 * A serializer turns one type into bytes and back. Where it comes from:
 * - a class with a static `getSerializer(task)`: `malloc(cls, size)` works for it;
 * - if the class also has a static `sizeof`, it is fixed-size and `malloc(cls)` needs no size;
 * - a value with `getSelfSerializer(task)`: `ptr(value)` (serializers that depend on the value);
 * - strings (NUL-terminated) and Buffers (bytes as they are) are built in.
 *
 * Serializers take the task because some make resources when read (a pipe's fds).
 *
 * ```js
 * import { Int32 } from "rsyscall/struct";
 * const n = await thr.ptr(new Int32(7));   // WrittenPointer<Int32>
 * (await n.read()).value === 7;
 * ```
 *
 * @module rsyscall/struct
 */
import type { HasPointers, Serializer } from "./handle/pointer.js";
import type { BaseTask } from "./handle/task.js";
import { asFd } from "./near/ids.js";

export type { HasPointers, Serializer };

/** A class that knows how to serialize its instances (for tasks of type K). */
export interface SerializableClass<T, K extends BaseTask = BaseTask> {
  /** The serializer for instances in `task` (reading some makes handles there: a pipe's fds). */
  getSerializer(task: K): Serializer<T>;
}

/** A serializable class whose instances all take `sizeof` bytes. */
export interface FixedSizeClass<T, K extends BaseTask = BaseTask> extends SerializableClass<T, K> {
  /** The size of every instance in bytes: `malloc(cls)` needs no size. */
  readonly sizeof: number;
}

/** A value that provides its own serializer. */
export interface HasSerializer {
  /** The serializer for this very value, whose layout depends on it (its length, its parts). */
  getSelfSerializer(task: BaseTask): Serializer<this>;
}

/** Bytes as they are. */
export const bytesSerializer: Serializer<Buffer> = {
  toBytes(value) {
    if (!(value instanceof Uint8Array)) throw new TypeError(`expected a Buffer, got ${describe(value)}`);
    return value;
  },
  fromBytes: (bytes) => bytes,
};

/** A NUL-terminated string, UTF-8. Reading stops at the first NUL. */
export const stringSerializer: Serializer<string> = {
  toBytes(value) {
    if (typeof value !== "string") throw new TypeError(`expected a string, got ${describe(value)}`);
    if (value.includes("\0")) throw new TypeError(`string contains a NUL byte: ${JSON.stringify(value)}`);
    return Buffer.from(`${value}\0`);
  },
  fromBytes(bytes) {
    const end = bytes.indexOf(0);
    return bytes.toString("utf8", 0, end < 0 ? bytes.length : end);
  },
};

function fixedInteger<C extends { readonly value: V }, V extends number | bigint>(
  cls: abstract new (...args: never[]) => C,
  make: (v: V) => C,
  size: number,
  write: (b: Buffer, v: V) => void,
  read: (b: Buffer) => V,
): Serializer<C> {
  return {
    toBytes(c) {
      if (!(c instanceof cls)) throw new TypeError(`expected ${cls.name}, got ${describe(c)}`);
      const b = Buffer.allocUnsafe(size);
      write(b, c.value);
      return b;
    },
    fromBytes(bytes) {
      if (bytes.length < size) throw new RangeError(`need ${size} bytes, got ${bytes.length}`);
      return make(read(bytes));
    },
  };
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name}: ${String(value)} is not an integer in [${min}, ${max}]`);
  }
  return value;
}

function checkBig(name: string, value: bigint | number, bits: number, signed: boolean): bigint {
  const v = typeof value === "bigint" ? value : Number.isInteger(value) ? BigInt(value) : Number.NaN;
  if (typeof v !== "bigint") throw new TypeError(`${name}: ${String(value)} is not an integer`);
  const wrapped = signed ? BigInt.asIntN(bits, v) : BigInt.asUintN(bits, v);
  if (wrapped !== v) throw new TypeError(`${name}: ${value} does not fit in ${bits} bits`);
  return v;
}

/** A C `int32_t`. */
export class Int32 {
  /** `sizeof(int32_t)`: `malloc(Int32)` needs no size. */
  static readonly sizeof = 4;
  /** The integer. */
  readonly value: number;
  constructor(value: number) {
    this.value = checkInteger("Int32", value, -(2 ** 31), 2 ** 31 - 1);
  }
  /** How `malloc(Int32)` and `ptr(new Int32(n))` turn it into bytes and back. */
  static getSerializer(): Serializer<Int32> {
    return int32Serializer;
  }
  /** The integer, so that arithmetic and comparisons work on the object itself. */
  valueOf(): number {
    return this.value;
  }
}
const int32Serializer = fixedInteger(
  Int32,
  (v: number) => new Int32(v),
  4,
  (b, v) => b.writeInt32LE(v),
  (b) => b.readInt32LE(0),
);

/** A C `uint32_t`. */
export class UInt32 {
  /** `sizeof(uint32_t)`: `malloc(UInt32)` needs no size. */
  static readonly sizeof = 4;
  /** The integer. */
  readonly value: number;
  constructor(value: number) {
    this.value = checkInteger("UInt32", value, 0, 2 ** 32 - 1);
  }
  /** How `malloc(UInt32)` and `ptr(new UInt32(n))` turn it into bytes and back. */
  static getSerializer(): Serializer<UInt32> {
    return uint32Serializer;
  }
  /** The integer, so that arithmetic and comparisons work on the object itself. */
  valueOf(): number {
    return this.value;
  }
}
const uint32Serializer = fixedInteger(
  UInt32,
  (v: number) => new UInt32(v),
  4,
  (b, v) => b.writeUInt32LE(v),
  (b) => b.readUInt32LE(0),
);

/** A C `int64_t`; the value is a bigint (a number is accepted). */
export class Int64 {
  /** `sizeof(int64_t)`: `malloc(Int64)` needs no size. */
  static readonly sizeof = 8;
  /** The integer. */
  readonly value: bigint;
  constructor(value: bigint | number) {
    this.value = checkBig("Int64", value, 64, true);
  }
  /** How `malloc(Int64)` and `ptr(new Int64(n))` turn it into bytes and back. */
  static getSerializer(): Serializer<Int64> {
    return int64Serializer;
  }
  /** The integer, so that arithmetic and comparisons work on the object itself. */
  valueOf(): bigint {
    return this.value;
  }
}
const int64Serializer = fixedInteger(
  Int64,
  (v: bigint) => new Int64(v),
  8,
  (b, v) => b.writeBigInt64LE(v),
  (b) => b.readBigInt64LE(0),
);

/** A C `uint64_t`; the value is a bigint (a number is accepted). */
export class UInt64 {
  /** `sizeof(uint64_t)`: `malloc(UInt64)` needs no size. */
  static readonly sizeof = 8;
  /** The integer. */
  readonly value: bigint;
  constructor(value: bigint | number) {
    this.value = checkBig("UInt64", value, 64, false);
  }
  /** How `malloc(UInt64)` and `ptr(new UInt64(n))` turn it into bytes and back. */
  static getSerializer(): Serializer<UInt64> {
    return uint64Serializer;
  }
  /** The integer, so that arithmetic and comparisons work on the object itself. */
  valueOf(): bigint {
    return this.value;
  }
}
const uint64Serializer = fixedInteger(
  UInt64,
  (v: bigint) => new UInt64(v),
  8,
  (b, v) => b.writeBigUInt64LE(v),
  (b) => b.readBigUInt64LE(0),
);

/**
 * Two fd numbers (int32 each), as pipe2 and socketpair write them; reading makes the handles in
 * `task`, so a pointer to them is read once (a LinearPointer).
 */
export function fdPairSerializer<T extends BaseTask, P>(
  task: T,
  make: (first: T["_fd"], second: T["_fd"]) => P,
  parts: (pair: P) => readonly [{ readonly near: number }, { readonly near: number }],
): Serializer<P> {
  return {
    toBytes(pair) {
      const [first, second] = parts(pair);
      const b = Buffer.alloc(8);
      b.writeInt32LE(first.near, 0);
      b.writeInt32LE(second.near, 4);
      return b;
    },
    fromBytes: (bytes) => make(task.makeFd(asFd(bytes.readInt32LE(0))), task.makeFd(asFd(bytes.readInt32LE(4)))),
  };
}

/** The serializer for a value `ptr` was given. Throws a TypeError for what cannot be serialized. */
export function serializerOf<T>(value: T, task: BaseTask): Serializer<T> {
  if (typeof value === "string") return stringSerializer as unknown as Serializer<T>;
  if (Buffer.isBuffer(value)) return bytesSerializer as unknown as Serializer<T>;
  if (value instanceof Uint8Array) return uint8ArraySerializer as unknown as Serializer<T>;
  if (value !== null && typeof value === "object") {
    const own = (value as Partial<HasSerializer>).getSelfSerializer;
    if (typeof own === "function") return own.call(value, task) as Serializer<T>;
    const cls = value.constructor as Partial<SerializableClass<T>>;
    if (typeof cls?.getSerializer === "function") return cls.getSerializer(task);
  }
  throw new TypeError(`cannot write ${describe(value)} to memory: it has no serializer`);
}

const uint8ArraySerializer: Serializer<Uint8Array> = {
  toBytes: bytesSerializer.toBytes,
  fromBytes: (bytes) => new Uint8Array(bytes),
};

/** The serializer of a class `malloc` was given (`Buffer`, `String`, or a serializable class). */
export function serializerOfClass<T>(cls: unknown, task: BaseTask): Serializer<T> {
  if (cls === Buffer) return bytesSerializer as unknown as Serializer<T>;
  if (cls === String) return stringSerializer as unknown as Serializer<T>;
  if (typeof cls === "function" && typeof (cls as Partial<SerializableClass<T>>).getSerializer === "function") {
    return (cls as unknown as SerializableClass<T>).getSerializer(task);
  }
  throw new TypeError(`cannot allocate for ${describe(cls)}: it is not Buffer, String or a serializable class`);
}

/** The fixed size of a class, or undefined when instances vary in size. */
export function sizeofClass(cls: unknown): number | undefined {
  if (typeof cls !== "function") return undefined;
  const size = (cls as Partial<FixedSizeClass<unknown>>).sizeof;
  return typeof size === "number" ? size : undefined;
}

function describe(v: unknown): string {
  if (typeof v === "function") return v.name || "an anonymous class";
  if (v === null || typeof v !== "object") return String(v);
  return `a ${v.constructor?.name ?? "plain object"}`;
}

/** A struct layout from src/gen/layouts.ts: its size, and [offset, size] per field. */
export interface Layout {
  /** `sizeof` the struct. */
  readonly size: number;
  /** Each field's `[offsetof, sizeof]`, by its C name. */
  readonly fields: { readonly [name: string]: readonly [number, number] };
}

/** Reads a struct's fields from bytes by name, with widths from the generated layout. */
export class StructReader<L extends Layout> {
  constructor(
    /** The struct's bytes (at least `layout.size` of them). */
    readonly bytes: Buffer,
    /** Where each field is. */
    readonly layout: L,
  ) {
    if (bytes.length < layout.size) throw new RangeError(`struct needs ${layout.size} bytes, got ${bytes.length}`);
  }

  /** An unsigned integer field; a 64-bit one must fit in a double (use `big` otherwise). */
  uint(field: keyof L["fields"] & string): number {
    const [off, size] = this.#field(field);
    if (size === 8) return Number(this.bytes.readBigUInt64LE(off));
    return this.bytes.readUIntLE(off, size);
  }

  /** A signed integer field. */
  int(field: keyof L["fields"] & string): number {
    const [off, size] = this.#field(field);
    if (size === 8) return Number(this.bytes.readBigInt64LE(off));
    return this.bytes.readIntLE(off, size);
  }

  /** A 64-bit field as a bigint. */
  big(field: keyof L["fields"] & string, signed = false): bigint {
    const [off] = this.#field(field);
    return signed ? this.bytes.readBigInt64LE(off) : this.bytes.readBigUInt64LE(off);
  }

  /** A field's bytes (for arrays). */
  raw(field: keyof L["fields"] & string): Buffer {
    const [off, size] = this.#field(field);
    return this.bytes.subarray(off, off + size);
  }

  #field(field: string): readonly [number, number] {
    const f = this.layout.fields[field];
    if (!f) throw new Error(`layout has no field ${field}`);
    return f;
  }
}

/** Writes a struct's fields by name into zeroed bytes, with widths from the generated layout. */
export class StructWriter<L extends Layout> {
  /** The struct's bytes, zeroed at first: what is not written stays 0. */
  readonly bytes: Buffer;
  constructor(
    /** Where each field is. */
    readonly layout: L,
    size: number = layout.size,
  ) {
    this.bytes = Buffer.alloc(size);
  }

  /** Writes an unsigned integer field, at the field's width. */
  uint(field: keyof L["fields"] & string, value: number | bigint): this {
    const [off, size] = this.#field(field);
    if (size === 8) this.bytes.writeBigUInt64LE(BigInt(value), off);
    else this.bytes.writeUIntLE(Number(value), off, size);
    return this;
  }

  /** Writes a signed integer field, at the field's width. */
  int(field: keyof L["fields"] & string, value: number | bigint): this {
    const [off, size] = this.#field(field);
    if (size === 8) this.bytes.writeBigInt64LE(BigInt(value), off);
    else this.bytes.writeIntLE(Number(value), off, size);
    return this;
  }

  /** Copies bytes into a field (an array); throws if they do not fit it or the struct. */
  raw(field: keyof L["fields"] & string, value: Uint8Array): this {
    const [off, size] = this.#field(field);
    if (value.length > size || off + value.length > this.bytes.length) {
      throw new RangeError(`${value.length} bytes do not fit field ${field} (${size})`);
    }
    this.bytes.set(value, off);
    return this;
  }

  #field(field: string): readonly [number, number] {
    const f = this.layout.fields[field];
    if (!f) throw new Error(`layout has no field ${field}`);
    return f;
  }
}
