// <sys/mount.h>: mount and umount2 flags. (The syscalls come with namespaces.)
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

export const MS = family("MS", gen.MS);
export type MS = Flag<"MS">;
/** umount2 flags: `MNT_DETACH` is `MNT.DETACH`, `UMOUNT_NOFOLLOW` is `MNT.UMOUNT_NOFOLLOW`. */
export const MNT = family("MNT", gen.MNT);
export type MNT = Flag<"MNT">;
