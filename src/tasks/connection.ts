// SyscallConnection: syscalls made in another process, which runs the syscall server (native/
// server.c) on a socket. A request is the syscall number and six arguments (7 x int64); the reply
// is the raw int64 result. Replies come in request order; one process runs one syscall at a time.
//
// Requests are queued synchronously, in call order (an `await` between queueing and writing could
// reorder them), and everything queued in one tick is written in one batch, so many requests can
// be outstanding at once (pipelining). When the process goes away under outstanding requests
// (EOF on the socket, or `hangup` from whoever saw it exec or exit), they all reject with
// SyscallHangupError; later requests reject with SyscallSendError. Nothing waits forever.
import type { AsyncFileDescriptor } from "../epoller.js";
import type { RAM } from "../memory/ram.js";
import { SyscallError, SyscallHangupError, SyscallSendError } from "../near/errors.js";
import { isErrno, type SyscallArg, type SyscallInterface, syscallName } from "../near/sysif.js";
import { bytesSerializer } from "../struct.js";

const REQUEST_SIZE = 56;
const REPLY_SIZE = 8;
const READ_SIZE = 64 * REPLY_SIZE;

interface Outstanding {
  nr: number;
  raw: boolean;
  resolve: (result: number) => void;
  reject: (e: unknown) => void;
}

export class SyscallConnection implements SyscallInterface {
  readonly #afd: AsyncFileDescriptor;
  readonly #ram: RAM;
  #queued: Buffer[] = [];
  #outstanding: Outstanding[] = [];
  #partial = Buffer.alloc(0);
  #writing = false;
  #reading = false;
  #gone: string | undefined;

  /** `afd` is our end of the socket, in our own process; `ram` is our own memory. */
  constructor(afd: AsyncFileDescriptor, ram: RAM) {
    this.#afd = afd;
    this.#ram = ram;
  }

  syscall(
    nr: number,
    a1?: SyscallArg,
    a2?: SyscallArg,
    a3?: SyscallArg,
    a4?: SyscallArg,
    a5?: SyscallArg,
    a6?: SyscallArg,
  ): Promise<number> {
    return this.#request(nr, false, [a1, a2, a3, a4, a5, a6]);
  }

  syscallRaw(
    nr: number,
    a1?: SyscallArg,
    a2?: SyscallArg,
    a3?: SyscallArg,
    a4?: SyscallArg,
    a5?: SyscallArg,
    a6?: SyscallArg,
  ): Promise<number> {
    return this.#request(nr, true, [a1, a2, a3, a4, a5, a6]);
  }

  /** How many requests await their reply. */
  get outstanding(): number {
    return this.#outstanding.length;
  }

  /** Whether the process went away (or close was called). */
  get closed(): boolean {
    return this.#gone !== undefined;
  }

  #request(nr: number, raw: boolean, args: (SyscallArg | undefined)[]): Promise<number> {
    if (this.#gone !== undefined) return Promise.reject(new SyscallSendError(syscallName(nr), this.#gone));
    const req = Buffer.alloc(REQUEST_SIZE);
    req.writeBigInt64LE(BigInt(nr), 0);
    for (const [i, a] of args.entries())
      if (a !== undefined) req.writeBigInt64LE(BigInt.asIntN(64, BigInt(a)), 8 + 8 * i);
    return new Promise((resolve, reject) => {
      this.#outstanding.push({ nr, raw, resolve, reject });
      this.#queued.push(req);
      if (!this.#writing) {
        this.#writing = true;
        queueMicrotask(() => void this.#write());
      }
      if (!this.#reading) void this.#read();
    });
  }

  /** Writes what is queued, a batch at a time, until nothing is. */
  async #write(): Promise<void> {
    try {
      while (this.#queued.length > 0 && this.#gone === undefined) {
        const batch = Buffer.concat(this.#queued);
        this.#queued = [];
        await this.#afd.writeAll(await this.#ram.ptr(bytesSerializer, batch));
      }
    } catch (e) {
      this.hangup(`writing the request failed: ${(e as Error).message}`);
    } finally {
      this.#writing = false;
    }
  }

  /** Reads replies while requests are outstanding; stops when none are, so an idle child never keeps Node alive. */
  async #read(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#outstanding.length > 0 && this.#gone === undefined) {
        const data = await this.#afd.readSomeBytes(READ_SIZE);
        if (data.length === 0) {
          this.hangup("the connection reached EOF");
          return;
        }
        this.#dispatch(data);
      }
    } catch (e) {
      this.hangup(`reading the reply failed: ${(e as Error).message}`);
    } finally {
      this.#reading = false;
    }
  }

  #dispatch(data: Buffer): void {
    const bytes = this.#partial.length ? Buffer.concat([this.#partial, data]) : data;
    let off = 0;
    for (; off + REPLY_SIZE <= bytes.length; off += REPLY_SIZE) {
      const request = this.#outstanding.shift();
      if (!request) {
        this.hangup("a reply came with no request outstanding");
        return;
      }
      const result = Number(bytes.readBigInt64LE(off));
      if (!request.raw && isErrno(result)) request.reject(new SyscallError(-result, syscallName(request.nr)));
      else request.resolve(result);
    }
    this.#partial = Buffer.from(bytes.subarray(off));
  }

  /**
   * The process went away (it exec'd or exited): outstanding requests reject with
   * SyscallHangupError, later ones with SyscallSendError. Idempotent.
   */
  hangup(reason: string): void {
    if (this.#gone !== undefined) return;
    this.#gone = reason;
    const outstanding = this.#outstanding;
    this.#outstanding = [];
    this.#queued = [];
    for (const request of outstanding) request.reject(new SyscallHangupError(syscallName(request.nr), reason));
    void this.#afd.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.hangup("the connection was closed");
  }
}
