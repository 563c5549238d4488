/**
 * `<sys/wait.h>`: child states: waitid (on a pidfd), ChildState, CalledProcessError.
 *
 * ```js
 * const state = await pidfd.waitid(W.EXITED, await thr.malloc(Siginfo));  // undefined: nothing yet with W.NOHANG
 * ```
 *
 * @module rsyscall/sys/wait
 */
import { checkInt, checkPointer, withContext } from "../args.js";
import type { Command } from "../command.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer } from "../handle/pointer.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import { type Serializer, StructReader } from "../struct.js";

/** waitpid/waitid options: `WEXITED` is `W.EXITED`; `__WALL` is `W.ALL`. */
export const W = family("W", gen.W);
/** waitid options, one or several joined with `W.of`. */
export type W = Flag<"W">;
/** waitid id types: `P_PID` is `P.PID`. */
export const P = family("P", gen.P);
/** A waitid id type. */
export type P = Flag<"P">;
/** What happened to a child (siginfo's si_code): `CLD_EXITED` is `CLD.EXITED`. */
export const CLD = family("CLD", gen.CLD);
/** What happened to a child, as siginfo's si_code says. */
export type CLD = Flag<"CLD">;

const L = layouts.siginfo;

/** The part of `siginfo_t` that waitid fills. */
export class Siginfo {
  /** Its size in bytes, always the same: `malloc(Siginfo)` needs no size. */
  static readonly sizeof = L.size;
  constructor(
    /** `si_signo`: SIGCHLD, for a child's change of state. */
    readonly signo: number,
    /** `si_code`: what happened (a CLD value). */
    readonly code: number,
    /** `si_pid`: the child's pid; 0 when WNOHANG found nothing. */
    readonly pid: number,
    /** `si_uid`: the child's real uid. */
    readonly uid: number,
    /** `si_status`: the exit status, or the signal. */
    readonly status: number,
  ) {}

  /** The serializer `malloc(Siginfo)` uses: how its bytes become a Siginfo and back. */
  static getSerializer(): Serializer<Siginfo> {
    return {
      toBytes: () => Buffer.alloc(L.size),
      fromBytes(bytes) {
        const r = new StructReader(bytes, L);
        return new Siginfo(r.int("si_signo"), r.int("si_code"), r.int("si_pid"), r.uint("si_uid"), r.int("si_status"));
      },
    };
  }
}

/**
 * A change of state of a child: it exited (with `status`), was killed or dumped (by signal
 * `status`), stopped, or continued. The state `thr.run` returns also carries what the child wrote
 * to the stdout and stderr it was given as pipes (`stdio: "pipe"`): strings, or Buffers with
 * `encoding: "buffer"`.
 */
export class ChildState<Output extends string | Buffer = string | Buffer> {
  constructor(
    /** What happened: exited, killed, dumped, stopped, trapped or continued. */
    readonly code: CLD,
    /** The child's pid. */
    readonly pid: number,
    /** The child's real uid. */
    readonly uid: number,
    /** The exit status, or the signal number. */
    readonly status: number,
    /** What the child wrote to its stdout, when that was a pipe `thr.run` read. */
    readonly stdout?: Output,
    /** What the child wrote to its stderr, when that was a pipe `thr.run` read. */
    readonly stderr?: Output,
  ) {}

  /** The state a siginfo from waitid reports. */
  static fromSiginfo(info: Siginfo): ChildState {
    return new ChildState(info.code as CLD, info.pid, info.uid, info.status);
  }

  /** This state with the output read from the child's pipes. */
  withOutput<O extends string | Buffer>(stdout: O | undefined, stderr: O | undefined): ChildState<O> {
    return new ChildState(this.code, this.pid, this.uid, this.status, stdout, stderr);
  }

  /** Whether the child is gone (exited, killed or dumped). */
  died(): boolean {
    return this.code === CLD.EXITED || this.code === CLD.KILLED || this.code === CLD.DUMPED;
  }

  /** Whether it exited with status 0. */
  clean(): boolean {
    return this.code === CLD.EXITED && this.status === 0;
  }

  /** The signal that killed it, if one did. */
  killedWith(): number | undefined {
    return this.code === CLD.KILLED || this.code === CLD.DUMPED ? this.status : undefined;
  }

  /** Its exit status if it exited, else null (as `ChildProcess.exitCode`). */
  get exitCode(): number | null {
    return this.code === CLD.EXITED ? this.status : null;
  }

  /** The name of the signal that killed it ("SIGKILL"), else null (as `ChildProcess.signalCode`). */
  get signal(): string | null {
    const sig = this.killedWith();
    return sig === undefined ? null : signalName(sig);
  }

  /** For messages: `pid 1234 exited with status 1`, `pid 1234 killed by signal 9`. */
  toString(): string {
    const what =
      CLD.describe(this.code) === String(this.code) ? `code ${this.code}` : CLD.describe(this.code).toLowerCase();
    return `pid ${this.pid} ${what} ${this.code === CLD.EXITED ? `with status ${this.status}` : `by signal ${this.status}`}`;
  }
}

/** "SIGKILL" for 9; "signal 64" for one without a name. */
function signalName(sig: number): string {
  const name = Object.entries(gen.SIG).find(([, n]) => n === sig)?.[0];
  return name ? `SIG${name}` : `signal ${sig}`;
}

/**
 * A child that did not exit cleanly, from AsyncChildProcess.check() and `thr.run`: its state, with
 * `exitCode`, `signal`, and the output `thr.run` captured (the end of stderr is in the message).
 */
export class CalledProcessError<Output extends string | Buffer = string | Buffer> extends Error {
  /** The class's name, which Node shows before the message. */
  override name = "CalledProcessError";
  constructor(
    /** How the child ended, with what `thr.run` captured of its output. */
    readonly state: ChildState<Output>,
    /** The program it ran, when known. */
    readonly command?: Command,
  ) {
    const stderr = state.stderr === undefined ? "" : String(state.stderr).trimEnd();
    const tail = stderr.length > 500 ? `...${stderr.slice(-500)}` : stderr;
    super(`${command ? `${brief(String(command))}: ` : ""}${state}${tail ? `\n${tail}` : ""}`);
  }

  /** The exit status, or null if a signal killed it. */
  get exitCode(): number | null {
    return this.state.exitCode;
  }
  /** The signal that killed it ("SIGTERM"), or null. */
  get signal(): string | null {
    return this.state.signal;
  }
  /** What it wrote to a captured stdout. */
  get stdout(): Output | undefined {
    return this.state.stdout;
  }
  /** What it wrote to a captured stderr. */
  get stderr(): Output | undefined {
    return this.state.stderr;
  }
}

/** A command line for a message: the whole of it is on `command`; a message keeps to a line or two. */
function brief(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}

/**
 * The `<sys/wait.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.waitid(...)`.
 */
export class WaitFileDescriptor extends BaseFileDescriptor {
  /**
   * `int waitid(idtype_t idtype, id_t id, siginfo_t *infop, int options)`, as
   * `waitid(P_PIDFD, pidfd, infop, options, NULL)`: wait for a state change of the child this pidfd
   * names. With `W.NOHANG` and nothing to report, resolves undefined. Consumes (and frees) `infop`:
   * the state comes back as a value.
   * @see https://man7.org/linux/man-pages/man2/waitid.2.html
   */
  async waitid(options: W, infop: Pointer<Siginfo>): Promise<ChildState | undefined> {
    checkInt("options", options);
    checkPointer("infop", infop);
    const task = this.task;
    const buf = infop.borrow(task);
    // The kernel leaves si_pid alone when W.NOHANG finds nothing: zero it first.
    const zeroed = await infop.write(new Siginfo(0, 0, 0, 0, 0));
    await withContext(raw.waitid(task.sysif, P.PIDFD, this.borrow(task), buf, options, 0), { fd: this.near });
    const filled = zeroed.filled();
    const info = await filled.read();
    filled.free();
    return info.pid === 0 ? undefined : ChildState.fromSiginfo(info);
  }
}
