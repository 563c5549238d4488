/**
 * `<linux/memfd.h>`: the memfd_create flags. The syscall is in sys/mman.ts, where its SYNOPSIS puts it.
 *
 * @module rsyscall/linux/memfd
 */
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

/** memfd_create flags: `MFD_ALLOW_SEALING` is `MFD.ALLOW_SEALING` (CLOEXEC is always added). */
export const MFD = family("MFD", gen.MFD);
/** memfd_create flags, one or several joined with `MFD.of`. */
export type MFD = Flag<"MFD">;
