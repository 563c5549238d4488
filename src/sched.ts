// <sched.h>: clone flags. (clone, unshare and setns come with child threads.)
import * as gen from "./gen/constants.js";
import { type Flag, family } from "./near/flags.js";

export const CLONE = family("CLONE", gen.CLONE);
export type CLONE = Flag<"CLONE">;
