// <linux/io_uring.h>: the io_uring constants. The library uses a ring of its own to learn when
// children exec or exit (src/tasks/futex-ring.ts); the syscalls are raw there, as io_uring's
// memory is the Node process's own and read in place.
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

/** Operations: `IORING_OP_FUTEX_WAIT` is `IORING_OP.FUTEX_WAIT`. */
export const IORING_OP = family("IORING_OP", gen.IORING_OP);
export type IORING_OP = Flag<"IORING_OP">;
/** io_uring_setup flags. */
export const IORING_SETUP = family("IORING_SETUP", gen.IORING_SETUP);
export type IORING_SETUP = Flag<"IORING_SETUP">;
/** io_uring_enter flags. */
export const IORING_ENTER = family("IORING_ENTER", gen.IORING_ENTER);
export type IORING_ENTER = Flag<"IORING_ENTER">;
/** What io_uring_setup says the kernel can do (`params.features`). */
export const IORING_FEAT = family("IORING_FEAT", gen.IORING_FEAT);
export type IORING_FEAT = Flag<"IORING_FEAT">;
/** mmap offsets of a ring's parts. */
export const IORING_OFF = family("IORING_OFF", gen.IORING_OFF);
export type IORING_OFF = Flag<"IORING_OFF">;
/** futex2 flags (`FUTEX2_SIZE_U32`, `FUTEX2_PRIVATE`), as io_uring's futex operations take them. */
export const FUTEX2 = family("FUTEX2", gen.FUTEX2);
export type FUTEX2 = Flag<"FUTEX2">;
