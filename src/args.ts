// Argument checks for syscall methods: wrong types and sizes fail with a TypeError before any
// syscall is made, and failed syscalls get the context a reader needs (the path).
import { BaseFileDescriptor } from "./handle/fd.js";
import { Pointer, WrittenPointer } from "./handle/pointer.js";
import { SyscallError, type SyscallErrorContext } from "./near/errors.js";
import { stringSerializer } from "./struct.js";

/** Throws unless `value` is an integer that fits a C int (or unsigned int, for flags). */
export function checkInt(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < -(2 ** 31) || value > 2 ** 32 - 1) {
    throw new TypeError(`${name} must be an integer that fits 32 bits, got ${describe(value)}`);
  }
  return value;
}

/**
 * Throws unless `value` is an integer usable as a 64-bit argument (offsets, lengths): a bigint or
 * a number in [-2^63, 2^64), which reaches the kernel as those 64 bits.
 */
export function checkInt64(name: string, value: unknown): number | bigint {
  if (typeof value === "bigint") {
    if (value < -(2n ** 63n) || value >= 2n ** 64n) throw new TypeError(`${name} does not fit 64 bits: ${value}`);
    return value;
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < -(2 ** 63) || value >= 2 ** 64) {
    throw new TypeError(`${name} must be an integer that fits 64 bits, or a bigint, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a Pointer (a WrittenPointer when `written`). */
export function checkPointer<P extends Pointer<unknown>>(name: string, value: unknown, written = false): P {
  const cls = written ? WrittenPointer : Pointer;
  if (!(value instanceof cls)) {
    throw new TypeError(
      `${name} must be a ${cls.name} (from thr.${written ? "ptr" : "malloc"}), got ${describe(value)}`,
    );
  }
  return value as P;
}

/**
 * Throws unless `value` is a pointer to a path the kernel can read: a string we wrote (always
 * NUL-terminated, with no NUL inside), or a Buffer that ends in its only NUL, for names that are
 * not UTF-8. A Buffer without its NUL would make the kernel read past the end.
 */
export function checkPath<P extends WrittenPointer<string> | WrittenPointer<Buffer>>(name: string, value: unknown): P {
  const ptr = checkPointer<WrittenPointer<unknown>>(name, value, true);
  const v = ptr.value;
  if (typeof v === "string" && ptr.serializer === stringSerializer) return ptr as P;
  if (Buffer.isBuffer(v) && v.length > 0 && v.indexOf(0) === v.length - 1) return ptr as P;
  throw new TypeError(
    `${name} must point to a string or to a Buffer that ends in its only NUL byte, got ${
      Buffer.isBuffer(v) ? `a Buffer ${v.indexOf(0) < 0 ? "without a NUL" : "with a NUL before its end"}` : describe(v)
    }`,
  );
}

/** Throws unless `value` is a FileDescriptor. */
export function checkFd<F extends BaseFileDescriptor>(name: string, value: unknown): F {
  if (!(value instanceof BaseFileDescriptor))
    throw new TypeError(`${name} must be a FileDescriptor, got ${describe(value)}`);
  return value as F;
}

/** Adds `context` to a SyscallError that `promise` rejects with. */
export function withContext<T>(promise: Promise<T>, context: SyscallErrorContext): Promise<T> {
  return promise.catch((e: unknown) => {
    throw e instanceof SyscallError ? e.annotate(context) : e;
  });
}

/** The path a pointer holds, for error messages. */
export function pathOf(ptr: WrittenPointer<unknown>): string {
  const v = ptr.value;
  if (Buffer.isBuffer(v)) return v.subarray(0, v.indexOf(0) < 0 ? v.length : v.indexOf(0)).toString();
  return typeof v === "string" ? v : String(v);
}

/** Throws unless `value` is a chunk size for a helper that reads until something: a positive integer. */
export function checkChunkSize(name: string, value: unknown): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value} (a read of 0 bytes looks like end of file)`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return `a ${value.constructor?.name ?? "object"}`;
  if (typeof value === "string") return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
