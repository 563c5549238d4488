// The Epoller and AsyncFileDescriptor: non-blocking IO that waits in Node's event loop.
//
// One epoll instance per Epoller; each fd is registered once, edge-triggered, for every event.
// For our own process, libuv watches the epoll fd (a uv_poll handle in the addon): when it is
// readable, one epoll_wait(timeout 0) collects the edges. Nothing blocks the loop and nothing polls,
// and the watch keeps the loop alive only while someone is waiting.
//
// Per registration we keep which events are known ready. Events from epoll set bits; an EAGAIN
// clears them, but only if no new edge arrived while that syscall was in flight (a generation
// count tells), since the edge that would have woken us has already been consumed. Registrations
// start optimistic (readable and writable), so the first read is tried at once and a read in the
// wrong direction (a pipe's write end) fails with EBADF instead of waiting forever.
//
//   const afd = await thr.makeAfd(fd, true);
//   const bytes = await afd.readSomeBytes();
//   await afd.writeAllBytes(Buffer.from("hello"));
import * as util from "node:util";
import { checkChunkSize } from "./args.js";
import { F, O } from "./fcntl.js";
import { ERRNO } from "./gen/errno.js";
import * as layouts from "./gen/layouts.js";
import { SYS } from "./gen/sys.js";
import { ClosedFileDescriptorError } from "./handle/errors.js";
import type { BaseFileDescriptor, InvalidationListener } from "./handle/fd.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "./handle/pointer.js";
import type { RAM } from "./memory/ram.js";
import { native, type WatchHandle } from "./native.js";
import { SyscallError, SyscallHangupError, SyscallSendError, withoutStack } from "./near/errors.js";
import { asAddress } from "./near/ids.js";
import { LocalSyscall, rawSyscall } from "./near/local.js";
import * as raw from "./near/syscalls.js";
import { isErrno, type SyscallInterface } from "./near/sysif.js";
import { bytesSerializer, Int32 } from "./struct.js";
import { EPOLL, EPOLL_CTL, EpollEvent } from "./sys/epoll.js";
import { SO, type SOCK, SOL, Sockaddr, SockaddrStorage, Sockbuf } from "./sys/socket/index.js";
import type { FileDescriptor, Task } from "./task.js";

const READ_EVENTS = EPOLL.IN | EPOLL.RDHUP | EPOLL.HUP | EPOLL.ERR;
const WRITE_EVENTS = EPOLL.OUT | EPOLL.ERR | EPOLL.HUP;
const ALL_EVENTS = EPOLL.of(EPOLL.IN, EPOLL.OUT, EPOLL.RDHUP, EPOLL.PRI, EPOLL.ERR, EPOLL.HUP, EPOLL.ET);
const EVENTS_PER_WAIT = 64;
/** Where in an epoller of the Node process's events memory #ctlHere writes its event: after the ones a wait fills. */
const CTL_AT = EVENTS_PER_WAIT * EpollEvent.sizeof;
/** The registration id of a blocking Epoller's wake-up eventfd; real ones start at 1. */
const WAKE_ID = 0;

/** What a blocking Epoller (see makeBlocking) keeps. */
interface Blocking {
  makeWaiter: () => Promise<SyscallInterface>;
  waiter?: SyscallInterface;
  /** An eventfd in the set, written to end a wait nobody needs. */
  wake: FileDescriptor;
  /** 8 bytes holding 1, in the process's memory, to write to `wake`. */
  count: WrittenPointer<Buffer>;
  /** 8 bytes to read `wake` into. */
  scratch: Pointer<Buffer>;
  running: boolean;
}

interface Waiter {
  mask: number;
  resolve: () => void;
  reject: (e: unknown) => void;
  keepAlive: boolean;
  /** Watches without keeping the registration: a dropped AFD gives it up all the same. */
  weak: boolean;
}

/** One fd's registration: which events are known ready, and who waits for which. */
export class EpolledFileDescriptor implements InvalidationListener {
  /** Events known ready (a bit mask of EPOLL). */
  status = EPOLL.IN | EPOLL.OUT;
  /** Counts edges from epoll, so that a stale EAGAIN does not clear a newer edge. */
  generation = 0;
  #waiters: Waiter[] = [];
  /**
   * Why this registration ended (removed, its fd closed, its process gone), once it has: the error,
   * or what makes it. An error is made only for someone to reject with: capturing its stack costs
   * more than the rest of a close, and most registrations end with nobody waiting.
   */
  #ended: Error | (() => Error) | undefined;
  /** AsyncFileDescriptors using this registration (withHandle makes more than one). */
  users = 0;

  /** @internal Registrations come from `Epoller.register` (and `thr.makeAfd`). */
  constructor(
    /** The epoller this fd is registered with. */
    readonly epoller: Epoller,
    /** The registration's number, in the epoll_event data the kernel hands back. */
    readonly id: number,
    /** The fd registered (through the task whose table holds it). */
    readonly fd: FileDescriptor,
  ) {}

  /**
   * Resolves once any of `mask`'s events is known ready. The wait keeps Node's event loop alive
   * unless `keepAlive` is false (for bookkeeping that should not hold a program open). Rejects
   * once the registration ends: the fd was closed or removed, or the process it belongs to went away.
   * A `weak` wait does not keep the registration of a dropped AFD (see droppedAfds).
   */
  waitFor(mask: number, keepAlive = true, weak = false): Promise<void> {
    if (this.#ended) return Promise.reject(this.#endError());
    if (this.status & mask) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ mask, resolve, reject, keepAlive, weak });
      this.epoller.waiterAdded(keepAlive);
    });
  }

  /**
   * Internal: the registered handle was closed: the registration ends.
   * @internal
   */
  handleInvalidated(fd: BaseFileDescriptor): void {
    this.end(() => new ClosedFileDescriptorError(`${fd} was closed while registered with an epoller`));
  }

  /**
   * The error this registration ended with, made now if it was not yet: with the stack of the call
   * that meets it, or with none for the waiters `end` rejects (it would show only our own frames).
   */
  #endError(stack = true): Error {
    const make = this.#ended;
    if (typeof make === "function") this.#ended = stack ? make() : withoutStack(make);
    return this.#ended as Error;
  }

  /** Whether the registration still delivers events (it has not ended). */
  get active(): boolean {
    return this.#ended === undefined;
  }

  /** Whether anyone waits on this registration (weak waits aside). */
  get waiting(): boolean {
    return this.#waiters.some((w) => !w.weak);
  }

  /**
   * Events arrived from epoll.
   * @internal
   */
  posedge(events: number): void {
    this.status |= events;
    this.generation++;
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.mask & events) {
        this.epoller.waiterRemoved(w.keepAlive);
        w.resolve();
      } else {
        still.push(w);
      }
    }
    this.#waiters = still;
  }

  /** A syscall said EAGAIN: forget `mask`, unless an edge arrived since `generation` was read. */
  negedge(mask: number, generation: number): void {
    if (generation === this.generation) this.status &= ~mask;
  }

  /**
   * Runs `attempt` once the events in `mask` are ready, and again after each time it reports
   * EAGAIN by resolving undefined (the cheap path of tryRead and tryWrite).
   */
  async retryUntilDefined<T>(mask: number, attempt: () => Promise<T | undefined>, keepAlive = true): Promise<T> {
    for (;;) {
      if (!(this.status & mask)) await this.waitFor(mask, keepAlive);
      const generation = this.generation;
      const result = await attempt();
      if (result !== undefined) return result;
      this.negedge(mask, generation);
    }
  }

  /**
   * One synchronous attempt now if an event in `mask` is known ready (none otherwise): what `attempt`
   * gives, undefined for EAGAIN (noted, as retryUntilDefined notes it). Spares a read or write that
   * need not wait the promises of a retry loop.
   */
  tryNow<T>(mask: number, attempt: () => T | undefined): T | undefined {
    if (!(this.status & mask) || this.#ended) return undefined;
    const generation = this.generation;
    const result = attempt();
    if (result === undefined) this.negedge(mask, generation);
    return result;
  }

  /**
   * retryUntilDefined for a synchronous `attempt` (a syscall of the Node process): tried at once if
   * `mask` is known ready, so a read or write that need not wait costs one promise, not a loop's.
   */
  retrySoon<T>(mask: number, attempt: () => T | undefined, keepAlive = true): Promise<T> {
    try {
      const now = this.tryNow(mask, attempt);
      if (now !== undefined) return Promise.resolve(now);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.retryUntilDefined(mask, async () => attempt(), keepAlive);
  }

  /** Runs `op` once the events in `mask` are ready, again after each EAGAIN it throws. */
  retry<T>(mask: number, op: () => Promise<T>): Promise<T> {
    return this.retryUntilDefined(mask, () =>
      op().catch((e: unknown) => {
        if (e instanceof SyscallError && e.code === "EAGAIN") return undefined;
        throw e;
      }),
    );
  }

  /**
   * Ends the registration without touching the kernel: waiters reject with `error`, and the
   * epoller forgets it. For when the fd or its process is gone; events still arriving for it (an
   * entry made through a process that is gone lasts until its file's last close) are ignored.
   */
  end(error: Error | (() => Error)): void {
    if (this.#ended) return;
    this.#ended = error;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      this.epoller.waiterRemoved(w.keepAlive);
      w.reject(this.#endError(false));
    }
    this.epoller.forget(this);
  }

  /** Removes the registration (EPOLL_CTL_DEL while the fd is open); waiters reject with ClosedFileDescriptorError. */
  async delete(): Promise<void> {
    if (this.#ended) return;
    this.end(() => new ClosedFileDescriptorError(`${this.fd} was removed from its epoller while waiting`));
    await this.epoller.unregister(this);
  }
}

/** Ends the registrations of AsyncFileDescriptors that were dropped without close (see AsyncFileDescriptor). */
const droppedAfds = new FinalizationRegistry<EpolledFileDescriptor>((reg) => {
  if (--reg.users > 0 || reg.waiting) return;
  reg.delete().catch(() => {});
});

/** An epoll instance whose waiting happens in Node's event loop. */
export class Epoller {
  readonly #registrations = new Map<number, EpolledFileDescriptor>();
  /**
   * The registration of each open file at each fd number: the kernel keys its entries so, and a
   * child registering its copy of one of our fds (or we, ours, after a child did) meets the same
   * entry.
   */
  readonly #byFile = new Map<string, EpolledFileDescriptor>();
  readonly #epfds = new WeakMap<Task, FileDescriptor>();
  readonly #events: Pointer<Buffer>;
  /** The events buffer as JavaScript sees it (our own memory), to parse without a copy. */
  readonly #eventsView: Buffer;
  #nextId = 1;
  /** Waits that hold Node open. */
  #waiting = 0;
  /** Waits of every kind: a blocking epoller waits while there are any. */
  #watching = 0;
  /** What holds Node open while a blocking epoller has waits that must. */
  #hold: NodeJS.Timeout | undefined;
  #watch: WatchHandle | undefined;
  /** For a process our event loop cannot watch: see makeBlocking. */
  #blocking: Blocking | undefined;
  /** Why this epoller stopped working, once it has. */
  #dead: Error | undefined;
  /** Some thread waits here (see asyncDispose). */
  #threads = false;

  private constructor(
    /** The epoll fd, in the process the epoller was made for. */
    readonly epfd: FileDescriptor,
    /** The memory epoll_wait's events are read from. */
    readonly ram: RAM,
    events: Pointer<Buffer>,
    local = true,
  ) {
    this.#events = events;
    this.#eventsView = local ? Buffer.from(native.view(events.near, events.size())) : Buffer.alloc(0);
  }

  /** Makes an Epoller for `task`, which must be our own process (its epfd is watched by libuv). */
  static async make(task: Task, ram: RAM): Promise<Epoller> {
    if (!(task.sysif instanceof LocalSyscall)) throw new TypeError("Epoller.make: the task must be our own process");
    const epfd = await task.epollCreate();
    // One event more than a wait takes: the slot #ctlHere writes its event in.
    const events = await ram.malloc(bytesSerializer, CTL_AT + EpollEvent.sizeof);
    const epoller = new Epoller(epfd, ram, events);
    epoller.#watch = native.watch(epfd.near, (status) => epoller.#collect(status));
    // Closing the epoll fd behind our back would leave every waiter waiting forever.
    epfd.onInvalidate({
      handleInvalidated: (fd) => epoller.#die(new ClosedFileDescriptorError(`the epoller's fd ${fd} was closed`)),
    });
    return epoller;
  }

  /**
   * Makes an Epoller for a process whose fds our event loop cannot watch (its fd table is not a copy
   * of ours: a bootstrapped, persistent or remote process). Its epoll instance lives in `task`, and a
   * blocking epoll_wait runs there through `waiter` (made at the first wait): a syscall interface to
   * a second process sharing `task`'s fd table and memory, so that the wait never holds up `task`'s
   * own calls. It waits whenever anything waits here (a child's death nobody asked about is seen,
   * and the child reaped, at once), on a link that never holds Node open; while a wait must
   * (`keepAlive`), a timer does. An eventfd in the set wakes a wait nobody needs any more.
   */
  static async makeBlocking(task: Task, ram: RAM, waiter: () => Promise<SyscallInterface>): Promise<Epoller> {
    const epfd = await task.epollCreate();
    const events = await ram.malloc(bytesSerializer, EVENTS_PER_WAIT * EpollEvent.sizeof);
    const wake = await task.eventfd(0);
    const event = await ram.ptr(EpollEvent.getSerializer(), new EpollEvent(WAKE_ID, EPOLL.IN));
    await epfd.epollCtl(EPOLL_CTL.ADD, wake, event);
    event.free();
    const epoller = new Epoller(epfd, ram, events, false);
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    epoller.#blocking = {
      makeWaiter: waiter,
      wake,
      count: await ram.ptr(bytesSerializer, one),
      scratch: await ram.malloc(bytesSerializer, 8),
      running: false,
    };
    epfd.onInvalidate({
      handleInvalidated: (fd) => epoller.#die(new ClosedFileDescriptorError(`the epoller's fd ${fd} was closed`)),
    });
    return epoller;
  }

  /**
   * Registers `fd` (which should be O_NONBLOCK) for every event, edge-triggered. The registration
   * ends, rejecting its waiters, when the handle is closed or the process it belongs to goes away.
   */
  async register(fd: FileDescriptor, ram: RAM = this.ram): Promise<EpolledFileDescriptor> {
    if (this.#dead) throw this.#dead;
    const reg = new EpolledFileDescriptor(this, this.#nextId++, fd);
    const key = fileKey(fd);
    // The same open file at the same number may be in this epoll instance already (EEXIST):
    // registered through a process that shared or copied our table (and may be gone: its entry
    // lasts as long as the file). This registration takes the entry over; one still using it ends.
    const takeOver = () => {
      const previous = key === undefined ? undefined : this.#byFile.get(key);
      previous?.end(() => new ClosedFileDescriptorError(`${previous.fd}: its entry was taken over by ${fd}`));
    };
    const epfd = this.#epfdFor(fd.task);
    if (this.#ctlsHere(epfd)) {
      let ret = this.#ctlHere(EPOLL_CTL.ADD, fd, reg.id);
      if (ret === -ERRNO.EEXIST) {
        takeOver();
        ret = this.#ctlHere(EPOLL_CTL.MOD, fd, reg.id);
      }
      if (isErrno(ret)) throw new SyscallError(-ret, "epoll_ctl", { fd: fd.near });
    } else {
      // epoll_ctl runs in the fd's process: the event must be in its memory (a fork's is not ours).
      const event = await ram.ptr(EpollEvent.getSerializer(), new EpollEvent(reg.id, ALL_EVENTS));
      try {
        await epfd.epollCtl(EPOLL_CTL.ADD, fd, event).catch(async (e: unknown) => {
          if (!(e instanceof SyscallError && e.code === "EEXIST")) throw e;
          takeOver();
          await epfd.epollCtl(EPOLL_CTL.MOD, fd, event);
        });
      } finally {
        event.free();
      }
    }
    this.#registrations.set(reg.id, reg);
    if (key !== undefined) this.#byFile.set(key, reg);
    fd.onInvalidate(reg);
    fd.task.sysif.hungUp?.then((reason) =>
      reg.end(
        () => new SyscallHangupError("epoll_wait", reason, `waiting for ${fd}: its process went away (${reason})`),
      ),
    );
    return reg;
  }

  /**
   * Internal: the epoll_ctl(DEL) of a registration, unless its fd or process is gone.
   * @internal
   */
  async unregister(reg: EpolledFileDescriptor): Promise<void> {
    this.forget(reg);
    if (!reg.fd.valid) return;
    if (this.#ctlsHere(this.#epfdFor(reg.fd.task))) {
      const ret = this.#ctlHere(EPOLL_CTL.DEL, reg.fd, 0);
      if (isErrno(ret)) throw new SyscallError(-ret, "epoll_ctl", { fd: reg.fd.near });
      return;
    }
    await this.#epfdFor(reg.fd.task)
      .epollCtl(EPOLL_CTL.DEL, reg.fd)
      .catch((e: unknown) => {
        // A process that went away cannot be asked; its entry goes with the file's last close.
        if (!(e instanceof SyscallSendError || e instanceof SyscallHangupError)) throw e;
      });
  }

  /** Whether epoll_ctl through `epfd` is made by #ctlHere: our own epoll fd, in an epoller with the slot. */
  #ctlsHere(epfd: FileDescriptor): boolean {
    return epfd === this.epfd && this.#eventsView.length > CTL_AT;
  }

  /**
   * `epoll_ctl(op)` of one of our own fds in our own epoll instance, now, for registration `id`: the
   * raw result. No allocation, serialization or promise, which cost more than the syscall.
   */
  #ctlHere(op: EPOLL_CTL, fd: FileDescriptor, id: number): number {
    const view = this.#eventsView;
    const f = layouts.epoll_event.fields;
    view.writeUInt32LE(ALL_EVENTS >>> 0, CTL_AT + f.events[0]);
    view.writeUInt32LE(id % 2 ** 32, CTL_AT + f.data[0]);
    view.writeUInt32LE(Math.floor(id / 2 ** 32), CTL_AT + f.data[0] + 4);
    const epfd = this.epfd;
    return rawSyscall(SYS.epoll_ctl, epfd.borrow(epfd.task), op, fd.borrow(fd.task), this.#events.near + CTL_AT);
  }

  /**
   * Internal: stops delivering events to `reg`. Its id is never given out again.
   * @internal
   */
  forget(reg: EpolledFileDescriptor): void {
    this.#registrations.delete(reg.id);
    const key = fileKey(reg.fd);
    if (key !== undefined && this.#byFile.get(key) === reg) this.#byFile.delete(key);
  }

  /**
   * The epoll fd as `task` names it: epoll_ctl must run in the process whose table holds the fd
   * being registered. A child cloned after this Epoller was made holds a copy of the epoll fd, so
   * its fds join this same epoll instance, which our event loop watches.
   */
  #epfdFor(task: Task): FileDescriptor {
    if (task === this.epfd.task) return this.epfd;
    let handle = this.#epfds.get(task);
    if (!handle?.valid) {
      handle = task.fdTable === this.epfd.task.fdTable ? this.epfd.forTask(task) : task.inheritFd(this.epfd);
      this.#epfds.set(task, handle);
    }
    return handle;
  }

  /** How many fds are registered. */
  get size(): number {
    return this.#registrations.size;
  }

  /**
   * Internal: someone started waiting; with `keepAlive`, keep the event loop alive meanwhile.
   * @internal
   */
  waiterAdded(keepAlive: boolean): void {
    this.#watching++;
    if (keepAlive && this.#waiting++ === 0) {
      if (this.#watch) native.setWatchRef(this.#watch, true);
      // A blocking epoller's wait runs on a link that never holds Node (see makeBlocking).
      else if (this.#blocking) this.#hold ??= setInterval(() => {}, 2 ** 30);
    }
    if (this.#blocking && !this.#blocking.running) void this.#pump(this.#blocking);
  }

  /**
   * Internal: someone stopped waiting.
   * @internal
   */
  waiterRemoved(keepAlive: boolean): void {
    this.#watching--;
    if (keepAlive && --this.#waiting === 0) {
      if (this.#watch) native.setWatchRef(this.#watch, false);
      clearInterval(this.#hold);
      this.#hold = undefined;
    }
    // A blocking wait nobody needs any more: end it.
    if (this.#watching === 0 && this.#blocking?.running) {
      const { wake, count } = this.#blocking;
      // Raw numbers: both are this epoller's own, for as long as it lives.
      void wake.task.sysif.syscall(SYS.write, wake.near, count.near, 8).catch(() => {});
    }
  }

  /** Waits in the other process while anyone waits here, delivering what comes. */
  async #pump(blocking: Blocking): Promise<void> {
    blocking.running = true;
    let lostWaiters = 0;
    try {
      while (this.#watching > 0 && !this.#dead) {
        blocking.waiter ??= await blocking.makeWaiter();
        // Raw numbers: the waiter shares the fd table and the memory these name.
        const n = await blocking.waiter
          .syscallRaw(SYS.epoll_wait, this.epfd.near, this.#events.near, EVENTS_PER_WAIT, -1)
          .catch((e: unknown) => {
            // The waiter went away (killed, or its link broke while the process's own was
            // remade): make another, unless that keeps happening.
            if (!(e instanceof SyscallHangupError || e instanceof SyscallSendError) || ++lostWaiters > 3) throw e;
            blocking.waiter = undefined;
            return -ERRNO.EINTR;
          });
        if (n === -ERRNO.EINTR) continue;
        if (isErrno(n)) throw new SyscallError(-n, "epoll_wait", { fd: this.epfd.near });
        if (n === 0) continue;
        const bytes = await this.#events.read();
        if (this.#deliver(bytes, n).woken) {
          // Drain the eventfd (it is level-triggered in the set).
          const { wake, scratch } = blocking;
          await wake.task.sysif.syscallRaw(SYS.read, wake.near, scratch.near, 8);
        }
      }
    } catch (e) {
      this.#die(e instanceof Error ? e : new Error(String(e)));
    } finally {
      blocking.running = false;
      // Someone started waiting again while the last wait was finishing.
      if (this.#watching > 0 && !this.#dead) void this.#pump(blocking);
    }
  }

  /** Hands `n` events in `bytes` to their registrations; says whether the wake-up event was among them. */
  #deliver(bytes: Buffer, n: number): { woken: boolean } {
    let woken = false;
    for (let i = 0; i < n; i++) {
      const off = i * EpollEvent.sizeof;
      const id = Number(bytes.readBigUInt64LE(off + layouts.epoll_event.fields.data[0]));
      if (id === WAKE_ID) woken = true;
      else this.#registrations.get(id)?.posedge(bytes.readUInt32LE(off + layouts.epoll_event.fields.events[0]));
    }
    return { woken };
  }

  /**
   * Called by libuv when the epoll fd is readable (status 0): takes every pending event, without
   * blocking. A negative status is libuv's error for the watch: the epoller is dead.
   */
  #collect(status: number): void {
    if (status < 0) {
      this.#die(new Error(`the epoller's watch failed: ${uvErrorName(status)}`));
      return;
    }
    const task = this.epfd.task;
    const address = this.#events.borrow(task);
    for (;;) {
      const n = rawSyscall(SYS.epoll_wait, this.epfd.near, address, EVENTS_PER_WAIT, 0);
      if (n <= 0) return; // 0: nothing pending; -EINTR: libuv calls again while the fd is readable
      this.#deliver(this.#eventsView, n);
      if (n < EVENTS_PER_WAIT) return;
    }
  }

  /** Stops watching; every registration ends with `error`, and so does every later wait. */
  #die(error: Error): void {
    if (this.#dead) return;
    this.#dead = error;
    if (this.#watch) native.unwatch(this.#watch);
    this.#watch = undefined;
    for (const reg of [...this.#registrations.values()]) reg.end(error);
  }

  /**
   * Stops watching and closes the epoll fd. Refuses while anything is registered: AsyncFileDescriptors
   * to close first, and children (their connections and pidfds wait here) to end first.
   */
  async close(): Promise<void> {
    if (this.#registrations.size > 0) {
      throw new Error(
        `Epoller.close: ${this.#registrations.size} registrations remain (AsyncFileDescriptors to close, children to end)`,
      );
    }
    await this.#closeNow(new ClosedFileDescriptorError("the epoller was closed"));
  }

  /**
   * For an epoller made with Epoller.make, as `await using` ends: every registration ends (its
   * waits reject; the fds stay open, the callers' to close) and the epoll fd is closed. An epoller
   * a thread waits in (`thr.epoller`) is left alone: that thread's AFDs and children need it.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#threads || !this.epfd.valid) return;
    await this.#closeNow(new ClosedFileDescriptorError("the epoller was disposed"));
  }

  async #closeNow(error: Error): Promise<void> {
    this.#die(error);
    this.#events.free();
    await this.epfd.invalidate();
  }

  /**
   * Internal: a thread waits in this epoller; disposing it is refused.
   * @internal
   */
  servesThread(): void {
    this.#threads = true;
  }
}

/** How the kernel tells epoll entries apart: the open file and the fd number. */
function fileKey(fd: FileDescriptor): string | undefined {
  const file = fd.task.fdTable.fileAt(fd.near);
  return file === undefined ? undefined : `${file}:${fd.near}`;
}

function uvErrorName(status: number): string {
  try {
    return util.getSystemErrorName(status);
  } catch {
    return `error ${status}`;
  }
}

/** The most scratch an AsyncFileDescriptor keeps for writeAllBytes and readSomeBytes (it is as big as the largest call). */
const SCRATCH_MAX = 1 << 20;

/**
 * A file descriptor whose IO waits for readiness in the event loop instead of blocking its
 * thread. Each method waits for the events it needs, then makes the non-blocking syscall, and
 * waits again after EAGAIN. The fd must be O_NONBLOCK (`thr.makeAfd(fd, true)` sets it).
 * @example
 * ```js
 * import { localThread as thr } from "rsyscall";
 * import { AF, SOCK } from "rsyscall/sys/socket";
 *
 * const { first, second } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
 * const [a, b] = [await thr.makeAfd(first, true), await thr.makeAfd(second, true)];
 * const answer = b.readSomeBytes(); // waits for data without blocking Node
 * await a.writeAllBytes(Buffer.from("ping"));
 * console.log((await answer).toString()); // "ping"
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class AsyncFileDescriptor {
  private constructor(
    /** The memory the byte-level methods (readSomeBytes, writeAllBytes) copy through. */
    readonly ram: RAM,
    /** The fd every syscall is made on. */
    readonly handle: FileDescriptor,
    /** The registration it waits on: which events are known ready. */
    readonly epolled: EpolledFileDescriptor,
  ) {
    // Dropped without close: the registration goes once no AFD uses it (the fd stays the handle's).
    epolled.users++;
    droppedAfds.register(this, epolled, this);
  }

  /** Registers `fd` with `epoller`; the fd should already be O_NONBLOCK. */
  static async make(epoller: Epoller, ram: RAM, fd: FileDescriptor): Promise<AsyncFileDescriptor> {
    return new AsyncFileDescriptor(ram, fd, await epoller.register(fd, ram));
  }

  /**
   * `ssize_t read(int fd, void *buf, size_t count)` without blocking: waits until readable. Returns
   * [filled, rest]; filled is empty at EOF.
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   */
  read<T>(buf: Pointer<T>): Promise<[ReadablePointer<T>, Pointer<T>]> {
    return this.epolled.retryUntilDefined(READ_EVENTS, () => this.handle.tryRead(buf));
  }

  /**
   * `ssize_t read(int fd, void *buf, size_t count)` into `buf` without consuming it: resolves with
   * the number of bytes read (0 at end of file), which sit at the start of `buf`. For loops that
   * reuse one buffer. With `drainedWhenShort`, a short read is taken to mean nothing is left, which
   * saves the read that would only say EAGAIN; since we wait for edges, that is only for a stream
   * whose writer you know: a pipe or unix stream socket written plainly (no fds or credentials
   * passed, no out-of-band bytes, no O_DIRECT writer), as the link to a syscall server is. Anywhere
   * else a wrong guess waits forever with bytes unread. Unless `keepAlive`, waiting does not keep
   * Node's event loop alive.
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   */
  readInto(buf: Pointer<unknown>, drainedWhenShort = false, keepAlive = true, length = buf.size()): Promise<number> {
    const fd = this.handle;
    const epolled = this.epolled;
    const got = (n: number, generation: number): number | undefined => {
      if (n === -ERRNO.EAGAIN) return undefined;
      if (isErrno(n)) throw new SyscallError(-n, "read", { fd: fd.near });
      if (drainedWhenShort && n > 0 && n < length) epolled.negedge(EPOLL.IN, generation);
      return n;
    };
    if (!(fd.task.sysif instanceof LocalSyscall)) {
      return epolled.retryUntilDefined(
        READ_EVENTS,
        async () => {
          const task = fd.task;
          const generation = epolled.generation;
          return got(await raw.readRaw(task.sysif, fd.borrow(task), buf.borrow(task), length), generation);
        },
        keepAlive,
      );
    }
    return epolled.retrySoon(
      READ_EVENTS,
      () => {
        const generation = epolled.generation;
        return got(rawSyscall(SYS.read, fd.borrow(fd.task), buf.borrow(fd.task), length), generation);
      },
      keepAlive,
    );
  }

  /**
   * `ssize_t write(int fd, const void *buf, size_t count)` without blocking: waits until writable.
   * Returns [written, rest]; may be partial.
   * @see https://man7.org/linux/man-pages/man2/write.2.html
   */
  write<T>(buf: Pointer<T>): Promise<[Pointer<T>, Pointer<T>]> {
    return this.epolled.retryUntilDefined(WRITE_EVENTS, () => this.handle.tryWrite(buf));
  }

  /** Writes all of `buf`, however many partial writes it takes. */
  async writeAll<T>(buf: Pointer<T>): Promise<void> {
    let rest = buf;
    while (rest.size() > 0) {
      const [written, unwritten] = await this.write(rest);
      written.free();
      rest = unwritten;
    }
    rest.free();
  }

  /**
   * Writes the first `length` bytes of `buf` without consuming it, however many partial writes it
   * takes: for loops that reuse one buffer (the counterpart of readInto).
   */
  writeAllFrom(buf: Pointer<unknown>, length: number): Promise<void> {
    const fd = this.handle;
    try {
      if (!Number.isSafeInteger(length) || length < 0 || length > buf.size()) {
        throw new RangeError(`writeAllFrom: length ${length} is not within ${buf}`);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    const task = fd.task;
    if (!(task.sysif instanceof LocalSyscall)) {
      return this.#writeAll(length, (done) =>
        raw.writeRaw(task.sysif, fd.borrow(task), asAddress(buf.borrow(task) + done), length - done),
      );
    }
    return this.#writeSoon(length, (done) =>
      rawSyscall(SYS.write, fd.borrow(task), buf.borrow(task) + done, length - done),
    );
  }

  /**
   * Writes `length` bytes, `write(done)` making one write(2) from offset `done` and giving its raw
   * result; waits for room after EAGAIN.
   */
  async #writeAll(length: number, write: (done: number) => number | Promise<number>, from = 0): Promise<void> {
    const epolled = this.epolled;
    for (let done = from; done < length; ) {
      const at = done;
      done += await epolled.retryUntilDefined(WRITE_EVENTS, async () => {
        const generation = epolled.generation;
        return this.#wrote(length, at, await write(at), generation);
      });
    }
  }

  /**
   * What one write(2) of the bytes from `done` to `length` returned, `generation` read before it:
   * how many, or undefined for EAGAIN.
   */
  #wrote(length: number, done: number, n: number, generation: number): number | undefined {
    if (n === -ERRNO.EAGAIN) return undefined;
    if (isErrno(n)) throw new SyscallError(-n, "write", { fd: this.handle.near });
    // A short write on a socket or pipe means it is full: the next try would only say EAGAIN.
    if (n < length - done) this.epolled.negedge(EPOLL.OUT, generation);
    return n;
  }

  /**
   * Reads at most `count` bytes (fewer on a partial read; none at EOF) into a new Buffer, the
   * caller's: on an fd of the Node process straight into it, elsewhere through memory this AFD
   * keeps between calls (one copy out of it).
   */
  readSomeBytes(count = 4096): Promise<Buffer> {
    try {
      checkChunkSize("count", count);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.handle.task.sysif instanceof LocalSyscall ? this.#readHere(count) : this.#readThere(count);
  }

  /** readSomeBytes on an fd of another process: through our scratch memory there. */
  async #readThere(count: number): Promise<Buffer> {
    const scratch = await this.#takeScratch(count);
    try {
      const n = await this.readInto(scratch.pointer, false, true, count);
      return await scratch.pointer.readBytes(n);
    } finally {
      scratch.done();
    }
  }

  /** Reads until end of file; returns everything read. */
  async readToEof(chunkSize = 65536): Promise<Buffer> {
    checkChunkSize("chunkSize", chunkSize);
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = await this.readSomeBytes(chunkSize);
      if (chunk.length === 0) return Buffer.concat(chunks);
      chunks.push(chunk);
    }
  }

  /**
   * Writes all of `data`: on an fd of the Node process straight from it (do not change it until
   * this settles), elsewhere copied into memory this AFD keeps between calls (up to 1 MiB at a time).
   * It may take several writes: two calls in flight at once on one fd can interleave their bytes
   * (unlike Node's streams, which queue), so await one before starting the next.
   */
  writeAllBytes(data: Buffer | Uint8Array): Promise<void> {
    return this.handle.task.sysif instanceof LocalSyscall ? this.#writeHere(data) : this.#writeThere(data);
  }

  /** writeAllBytes on an fd of another process: through our scratch memory there. */
  async #writeThere(data: Buffer | Uint8Array): Promise<void> {
    const scratch = await this.#takeScratch(Math.min(data.length, SCRATCH_MAX));
    try {
      const room = scratch.pointer.size();
      for (let done = 0; done < data.length; done += room) {
        const chunk = data.subarray(done, Math.min(data.length, done + room));
        await scratch.pointer.storeBytes(chunk);
        await this.writeAllFrom(scratch.pointer, chunk.length);
      }
    } finally {
      scratch.done();
    }
  }

  /**
   * readSomeBytes on an fd of the Node process: the kernel reads straight into the new Buffer. A
   * short read is not taken to mean the fd was drained: we wait for edges, and a short read proves
   * nothing on a unix stream socket (it stops at bytes that came with fds, at a change of sender
   * credentials, at an out-of-band byte's place even after someone took the byte), a pipe whose
   * writer is O_DIRECT, a terminal or a datagram socket. Taking it so saved nothing measurable.
   */
  #readHere(count: number): Promise<Buffer> {
    const fd = this.handle;
    const out = Buffer.allocUnsafe(count);
    return this.epolled.retrySoon(READ_EVENTS, () => {
      const n = native.readFd(fd.borrow(fd.task), out);
      if (n === -ERRNO.EAGAIN) return undefined;
      if (isErrno(n)) throw new SyscallError(-n, "read", { fd: fd.near });
      // A short read keeps only what it needs.
      return n < count / 2 ? Buffer.from(out.subarray(0, n)) : out.subarray(0, n);
    });
  }

  /** writeAllBytes on an fd of the Node process: the kernel copies straight from the caller's bytes. */
  #writeHere(bytes: Uint8Array): Promise<void> {
    const fd = this.handle;
    return this.#writeSoon(bytes.length, (done) =>
      native.writeFd(fd.borrow(fd.task), done === 0 ? bytes : bytes.subarray(done)),
    );
  }

  /**
   * #writeAll for a `write` that is synchronous (an fd of the Node process): written at once while
   * the fd is known writable, without a promise per write; the rest waits for room.
   */
  #writeSoon(length: number, write: (done: number) => number): Promise<void> {
    const epolled = this.epolled;
    let done = 0;
    try {
      while (done < length) {
        const at = done;
        const n = epolled.tryNow(WRITE_EVENTS, () => {
          const generation = epolled.generation;
          return this.#wrote(length, at, write(at), generation);
        });
        if (n === undefined) break;
        done += n;
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return done >= length ? Promise.resolve() : this.#writeAll(length, write, done);
  }

  /** Our memory that writeAllBytes and readSomeBytes copy through, kept between calls; one call at a time uses it. */
  #scratch: Pointer<Buffer> | undefined;
  #scratchBusy = false;

  /**
   * At least `size` bytes (up to SCRATCH_MAX) of our memory for one call: the kept scratch, or, while
   * another call has it, an allocation of its own. `done` gives it back.
   */
  async #takeScratch(size: number): Promise<{ pointer: Pointer<Buffer>; done: () => void }> {
    const want = Math.max(size, 1);
    if (this.#scratchBusy || want > SCRATCH_MAX) {
      const pointer = await this.ram.malloc(bytesSerializer, want);
      return { pointer, done: () => pointer.free() };
    }
    this.#scratchBusy = true;
    try {
      if (!this.#scratch?.valid || this.#scratch.size() < want) {
        this.#scratch?.free();
        this.#scratch = undefined;
        this.#scratch = await this.ram.malloc(bytesSerializer, want);
      }
    } catch (e) {
      this.#scratchBusy = false;
      throw e;
    }
    return {
      pointer: this.#scratch,
      done: () => {
        this.#scratchBusy = false;
      },
    };
  }

  /**
   * `int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags)` without
   * blocking: waits for a connection. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/accept.2.html
   */
  accept(flags: SOCK = 0 as SOCK): Promise<FileDescriptor> {
    return this.epolled.retry(READ_EVENTS, () => this.handle.accept(flags));
  }

  /** Like `accept`, also returning the peer's address. */
  async acceptAddr(flags: SOCK = 0 as SOCK): Promise<[FileDescriptor, Sockaddr]> {
    const room = await this.ram.malloc(SockaddrStorage.getSerializer(), SockaddrStorage.sizeof);
    const request = new Sockbuf(room);
    const sockbuf = await this.ram.ptr(request.getSelfSerializer(), request);
    const [fd, filled] = await this.epolled.retry(READ_EVENTS, () => this.handle.accept(flags, sockbuf));
    const addr = await (await filled.read()).buf.read();
    return [fd, Sockaddr.parse(addr.toBytes())];
  }

  /**
   * `int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen)` without blocking: a
   * connection in progress is waited for, then its outcome read with `getsockopt(SO_ERROR)`; a
   * failure rejects with SyscallError as connect would.
   * @see https://man7.org/linux/man-pages/man2/connect.2.html
   */
  async connect(addr: WrittenPointer<Sockaddr>): Promise<void> {
    const generation = this.epolled.generation;
    try {
      await this.handle.connect(addr);
      return;
    } catch (e) {
      if (!(e instanceof SyscallError && e.code === "EINPROGRESS")) throw e;
    }
    // An unconnected socket already reports EPOLLOUT; only an edge after connect counts.
    this.epolled.negedge(EPOLL.OUT, generation);
    await this.epolled.waitFor(EPOLL.OUT | EPOLL.ERR | EPOLL.HUP);
    const room = await this.ram.malloc(Int32.getSerializer(), Int32.sizeof);
    const request = new Sockbuf(room);
    const sockbuf = await this.ram.ptr(request.getSelfSerializer(), request);
    const result = await (await this.handle.getsockopt(SOL.SOCKET, SO.ERROR, sockbuf)).read();
    const errno = (await result.buf.read()).value;
    if (errno !== 0) {
      const path = (addr.value as { path?: unknown }).path;
      throw new SyscallError(errno, "connect", typeof path === "string" ? { path } : { fd: this.handle.near });
    }
  }

  /**
   * `int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen)`, which never blocks.
   * @see https://man7.org/linux/man-pages/man2/bind.2.html
   */
  bind(addr: WrittenPointer<Sockaddr>): Promise<void> {
    return this.handle.bind(addr);
  }

  /** Waits until the peer hangs up (EPOLLRDHUP or EPOLLHUP). */
  waitForRdhup(): Promise<void> {
    return this.epolled.waitFor(EPOLL.RDHUP | EPOLL.HUP);
  }

  /** An AsyncFileDescriptor for another fd on the same epoller (for example one from `accept`). */
  makeNewAfd(fd: FileDescriptor): Promise<AsyncFileDescriptor> {
    return AsyncFileDescriptor.make(this.epolled.epoller, this.ram, fd);
  }

  /** The same registration, making its syscalls through another handle to the fd (another task). */
  withHandle(fd: FileDescriptor): AsyncFileDescriptor {
    if (fd.near !== this.handle.near) throw new TypeError(`withHandle: ${fd} is not a handle to ${this.handle}`);
    return new AsyncFileDescriptor(this.ram, fd, this.epolled);
  }

  /** Removes the fd from its epoller (waiters reject) and closes this handle. */
  async close(): Promise<void> {
    droppedAfds.unregister(this);
    if (!this.#scratchBusy) this.#scratch?.free();
    await this.epolled.delete();
    if (this.handle.valid) await this.handle.invalidate();
  }

  /** For `await using`: `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** For messages: `AsyncFileDescriptor(FileDescriptor(5, pid 1234))`. */
  toString(): string {
    return `AsyncFileDescriptor(${this.handle})`;
  }
}

/** Sets O_NONBLOCK on `fd`, keeping its other status flags. */
export async function setNonblock(fd: FileDescriptor): Promise<void> {
  const flags = await fd.fcntl(F.GETFL);
  if (!(flags & O.NONBLOCK)) await fd.fcntl(F.SETFL, flags | O.NONBLOCK);
}
