/**
 * `<linux/kcmp.h>`: what kcmp compares. The syscall is on Task (src/unistd/kcmp.ts): its SYNOPSIS
 * declares it through `<unistd.h>`'s syscall(2).
 *
 * @module rsyscall/linux/kcmp
 */
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

/** kcmp types: `KCMP_VM` is `KCMP.VM`. */
export const KCMP = family("KCMP", gen.KCMP);
/** What kcmp compares. */
export type KCMP = Flag<"KCMP">;
