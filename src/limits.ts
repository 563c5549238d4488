/**
 * `<limits.h>`: the kernel's limits on names and paths.
 *
 * ```js
 * if (Buffer.byteLength(name) > NAME_MAX) throw ...
 * ```
 *
 * @module rsyscall/limits
 */
import * as gen from "./gen/constants.js";

/** The longest file name (one path component), in bytes, without its NUL. */
export const NAME_MAX: number = gen.LIMITS.NAME_MAX;
/** The longest path the kernel takes, in bytes, its NUL included. */
export const PATH_MAX: number = gen.LIMITS.PATH_MAX;
/** The most iovecs one readv or writev takes. */
export const IOV_MAX: number = gen.LIMITS.IOV_MAX;
