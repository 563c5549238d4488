/**
 * `<linux/close_range.h>`: the close_range flags. The syscall is on Task (src/unistd/close.ts):
 * its SYNOPSIS declares it in `<unistd.h>`.
 *
 * @module rsyscall/linux/close_range
 */
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

/** close_range flags: `CLOSE_RANGE_CLOEXEC` is `CLOSE_RANGE.CLOEXEC`. */
export const CLOSE_RANGE = family("CLOSE_RANGE", gen.CLOSE_RANGE);
/** close_range flags, one or several joined with `CLOSE_RANGE.of`. */
export type CLOSE_RANGE = Flag<"CLOSE_RANGE">;
