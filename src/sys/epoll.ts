// <sys/epoll.h>: epoll event bits and ctl operations. (The syscalls come with async IO.)
import * as gen from "../gen/constants.js";
import { type Flag, family } from "../near/flags.js";

export const EPOLL = family("EPOLL", gen.EPOLL);
export type EPOLL = Flag<"EPOLL">;
export const EPOLL_CTL = family("EPOLL_CTL", gen.EPOLL_CTL);
export type EPOLL_CTL = Flag<"EPOLL_CTL">;
