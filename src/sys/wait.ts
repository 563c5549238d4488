// <sys/wait.h>: wait options and id types. (waitid comes with child monitoring.)
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

/** waitpid/waitid options: `WEXITED` is `W.EXITED`; `__WALL` is `W.ALL`. */
export const W = family("W", gen.W);
export type W = Flag<"W">;
/** waitid id types: `P_PID` is `P.PID`. */
export const P = family("P", gen.P);
export type P = Flag<"P">;
