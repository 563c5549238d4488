/**
 * `<sys/epoll.h>`: epoll_create1, epoll_ctl, epoll_wait, and the packed 12-byte epoll_event.
 *
 * ```js
 * const ep = await thr.task.epollCreate();
 * await ep.epollCtl(EPOLL_CTL.ADD, fd, await thr.ptr(new EpollEvent(1, EPOLL.IN)));
 * const [valid] = await ep.epollWait(await thr.malloc(EpollEventList, 16 * EpollEvent.sizeof), 0);
 * for (const ev of await valid.read()) ev.data, ev.events;
 * ```
 *
 * Most code wants the Epoller (src/epoller.ts) and AsyncFileDescriptor instead.
 *
 * @module rsyscall/sys/epoll
 */
import { checkFd, checkInt, checkPointer, withContext } from "../args.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import { type Serializer, StructReader, StructWriter } from "../struct.js";

/** epoll events and input flags: `EPOLLIN` is `EPOLL.IN`. */
export const EPOLL = family("EPOLL", gen.EPOLL);
/** epoll events, one or several joined with `EPOLL.of`. */
export type EPOLL = Flag<"EPOLL">;
/** epoll_ctl operations: `EPOLL_CTL_ADD` is `EPOLL_CTL.ADD`. */
export const EPOLL_CTL = family("EPOLL_CTL", gen.EPOLL_CTL);
/** An epoll_ctl operation. */
export type EPOLL_CTL = Flag<"EPOLL_CTL">;
/** epoll_create1 flags: `EPOLL_CLOEXEC` is `EPOLL_CREATE.CLOEXEC` (always added). */
export const EPOLL_CREATE = family("EPOLL_CREATE", gen.EPOLL_CREATE);
/** epoll_create1 flags. */
export type EPOLL_CREATE = Flag<"EPOLL_CREATE">;

const L = layouts.epoll_event;

/** `struct epoll_event` (packed on x86_64): the events and a 64-bit cookie. */
export class EpollEvent {
  /** Its size in bytes, always the same: `malloc(EpollEvent)` needs no size. */
  static readonly sizeof = L.size;
  constructor(
    /** The cookie given back with each event; a safe integer. */
    readonly data: number,
    /** The events: what to wait for, in epoll_ctl; what happened, from epoll_wait. */
    readonly events: EPOLL,
  ) {}

  /** The serializer `malloc(EpollEvent)` uses: how its bytes become an EpollEvent and back. */
  static getSerializer(): Serializer<EpollEvent> {
    return epollEventSerializer;
  }
}

const epollEventSerializer: Serializer<EpollEvent> = {
  toBytes: (e) => new StructWriter(L).uint("events", e.events).uint("data", e.data).bytes,
  fromBytes(bytes) {
    const r = new StructReader(bytes, L);
    return new EpollEvent(r.uint("data"), r.uint("events") as EPOLL);
  },
};

/** What epoll_wait fills: as many events as fit. Allocate with `malloc(EpollEventList, n * EpollEvent.sizeof)`. */
export class EpollEventList extends Array<EpollEvent> {
  /** So that map, filter and slice give plain arrays, not EpollEventLists. */
  static override get [Symbol.species]() {
    return Array;
  }

  /** The serializer `malloc(EpollEventList)` uses: how its bytes become an EpollEventList and back. */
  static getSerializer(): Serializer<EpollEventList> {
    return epollEventListSerializer;
  }
}

const epollEventListSerializer: Serializer<EpollEventList> = {
  toBytes: (list) => Buffer.concat(list.map((e) => epollEventSerializer.toBytes(e))),
  fromBytes(bytes) {
    const list = new EpollEventList();
    for (let off = 0; off + L.size <= bytes.length; off += L.size) {
      list.push(epollEventSerializer.fromBytes(bytes.subarray(off, off + L.size)));
    }
    return list;
  },
};

/**
 * The `<sys/epoll.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.epollCreate(...)`.
 */
export class EpollTask extends BaseTask {
  /**
   * `int epoll_create1(int flags)`: make an epoll instance. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/epoll_create1.2.html
   */
  async epollCreate(flags: EPOLL_CREATE = 0 as EPOLL_CREATE): Promise<this["_fd"]> {
    checkInt("flags", flags);
    this.collectGarbage();
    return this.makeFd(await raw.epoll_create1(this.sysif, flags | EPOLL_CREATE.CLOEXEC));
  }
}

/**
 * The `<sys/epoll.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.epollCtl(...)`.
 */
export class EpollFileDescriptor extends BaseFileDescriptor {
  /**
   * `int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)`: add, modify or delete `fd`
   * in this epoll instance. `event` is required except for `EPOLL_CTL.DEL`.
   * @see https://man7.org/linux/man-pages/man2/epoll_ctl.2.html
   */
  async epollCtl(op: EPOLL_CTL, fd: BaseFileDescriptor, event?: WrittenPointer<EpollEvent>): Promise<void> {
    checkInt("op", op);
    checkFd("fd", fd);
    if (event !== undefined) checkPointer("event", event, true);
    else if (op !== EPOLL_CTL.DEL) throw new TypeError("epollCtl: ADD and MOD need an event");
    const task = this.task;
    const call = raw.epoll_ctl(task.sysif, this.borrow(task), op, fd.borrow(task), event ? event.borrow(task) : 0);
    await withContext(call, { fd: fd.near });
  }

  /**
   * `int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)`: wait up to
   * `timeout` ms (-1: forever, 0: not at all) for events, as many as fit `events`. Returns the
   * filled part and the rest.
   * @see https://man7.org/linux/man-pages/man2/epoll_wait.2.html
   */
  async epollWait(
    events: Pointer<EpollEventList>,
    timeout: number,
  ): Promise<[ReadablePointer<EpollEventList>, Pointer<EpollEventList>]> {
    checkPointer("events", events);
    checkInt("timeout", timeout);
    const max = Math.floor(events.size() / L.size);
    if (max < 1) throw new TypeError(`epollWait: events has room for no event (${events.size()} bytes)`);
    const task = this.task;
    const n = await withContext(raw.epoll_wait(task.sysif, this.borrow(task), events.borrow(task), max, timeout), {
      fd: this.near,
    });
    return events.readableSplit(n * L.size);
  }
}
