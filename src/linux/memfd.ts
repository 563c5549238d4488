/**
 * `<linux/memfd.h>`: the memfd_create flags. The syscall is in sys/mman.ts, where its SYNOPSIS puts it.
 *
 * @module rsyscall/linux/memfd
 */
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

export const MFD = family("MFD", gen.MFD);
export type MFD = Flag<"MFD">;
