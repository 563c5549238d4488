// A file system watcher on inotify: one inotify fd read asynchronously, its events sorted to
// per-path Watches.
//
//   const inotify = await Inotify.make(thr);
//   const watch = await inotify.add("/tmp/dir", IN.CREATE);
//   const event = await watch.waitUntilEvent(IN.CREATE, "new-file");
//   await watch.remove();  await inotify.close();
import { AsyncFileDescriptor, type Epoller } from "./epoller.js";
import type { RAM } from "./memory/ram.js";
import { stringSerializer } from "./struct.js";
import { IN, type InotifyEvent, InotifyEventList, type WatchDescriptor } from "./sys/inotify.js";
import type { Task } from "./task.js";

const READ_SIZE = 4096;

/** What Inotify needs of a thread. */
export interface InotifyThread {
  readonly task: Task;
  readonly ram: RAM;
  readonly epoller: Epoller;
}

/**
 * A file system watcher: one inotify fd, read through the event loop only while some Watch waits,
 * its events sorted to a Watch per watched path.
 * @example
 * ```js
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { Inotify, localThread as thr } from "rsyscall";
 * import { IN } from "rsyscall/sys/inotify";
 *
 * const dir = mkdtempSync(join(tmpdir(), "watched-"));
 * const inotify = await Inotify.make(thr);
 * const watch = await inotify.add(dir, IN.of(IN.CREATE, IN.DELETE));
 * const created = watch.waitUntilEvent(IN.CREATE, "new-file");
 * await thr.spit(join(dir, "new-file"), "");
 * console.log((await created).name); // "new-file"
 * await watch.remove();
 * await inotify.close();
 * ```
 */
export class Inotify {
  readonly #watches = new Map<number, Watch>();
  #reader: Promise<void> | undefined;

  private constructor(
    /** The inotify fd, read without blocking. */
    readonly afd: AsyncFileDescriptor,
    /** The memory paths and events pass through. */
    readonly ram: RAM,
  ) {}

  /** Makes an inotify instance in `thr`, read through its epoller. */
  static async make(thr: InotifyThread): Promise<Inotify> {
    const fd = await thr.task.inotifyInit(IN.NONBLOCK);
    return new Inotify(await AsyncFileDescriptor.make(thr.epoller, thr.ram, fd), thr.ram);
  }

  /** Watches `path` for the events in `mask`. Adding a path twice gives the same Watch. */
  async add(path: string, mask: IN): Promise<Watch> {
    const ptr = await this.ram.ptr(stringSerializer, path);
    try {
      const wd = await this.afd.handle.inotifyAddWatch(ptr, mask);
      let watch = this.#watches.get(wd);
      if (!watch) {
        watch = new Watch(this, wd, path);
        this.#watches.set(wd, watch);
      }
      return watch;
    } finally {
      ptr.free();
    }
  }

  /**
   * Internal: reads events while some watch waits for them.
   * @internal
   */
  pump(): void {
    if (this.#reader) return;
    this.#reader = this.#read().finally(() => {
      this.#reader = undefined;
      if ([...this.#watches.values()].some((w) => w.waiting)) this.pump();
    });
  }

  async #read(): Promise<void> {
    try {
      while ([...this.#watches.values()].some((w) => w.waiting)) {
        const buf = await this.ram.malloc(InotifyEventList.getSerializer(), READ_SIZE);
        const [valid, rest] = await this.afd.read(buf);
        const events = await valid.read();
        valid.merge(rest).free();
        for (const event of events) this.#deliver(event);
      }
    } catch (e) {
      for (const watch of this.#watches.values()) watch.fail(e);
    }
  }

  #deliver(event: InotifyEvent): void {
    if (event.mask & IN.Q_OVERFLOW) {
      for (const watch of this.#watches.values()) watch.deliver(event);
      return;
    }
    const watch = this.#watches.get(event.wd);
    if (!watch) return;
    watch.deliver(event);
    if (event.mask & IN.IGNORED) this.#watches.delete(event.wd);
  }

  /** Closes the inotify fd; waiting watches reject. */
  async close(): Promise<void> {
    await this.afd.close();
  }

  /** Closes the inotify fd, as `await using` ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.afd.handle.valid) await this.close();
  }
}

/** The events of one watched path. */
export class Watch {
  #queue: InotifyEvent[] = [];
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #removed = false;

  /** @internal Watches come from `inotify.add`. */
  constructor(
    /** The instance whose fd this watch's events come through. */
    readonly inotify: Inotify,
    /** The kernel's number for the watch, as events carry it. */
    readonly wd: WatchDescriptor,
    /** The path watched, as it was given to `add`. */
    readonly path: string,
  ) {}

  /** Whether someone waits for events. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /** The events that arrived since the last call; waits for at least one. */
  async wait(): Promise<InotifyEvent[]> {
    while (this.#queue.length === 0) {
      if (this.#removed) throw new Error(`watch of ${this.path} was removed`);
      await new Promise<void>((resolve, reject) => {
        this.#waiters.push({ resolve, reject });
        this.inotify.pump();
      });
    }
    const events = this.#queue;
    this.#queue = [];
    return events;
  }

  /** Waits for an event with any bit of `mask` (and, when given, this `name`), skipping others. */
  async waitUntilEvent(mask: IN, name?: string): Promise<InotifyEvent> {
    for (;;) {
      const events = await this.wait();
      const i = events.findIndex((e) => e.mask & mask && (name === undefined || e.name === name));
      if (i >= 0) {
        this.#queue = [...events.slice(i + 1), ...this.#queue];
        return events[i]!;
      }
    }
  }

  /** `inotify_rm_watch`, then waits for the IN_IGNORED that confirms it. */
  async remove(): Promise<void> {
    await this.inotify.afd.handle.inotifyRmWatch(this.wd);
    if (!this.#removed) await this.waitUntilEvent(IN.IGNORED);
  }

  /** Removes the watch, as `await using` ends; nothing to do once it is gone or its inotify closed. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#removed || !this.inotify.afd.handle.valid) return;
    await this.remove();
  }

  /**
   * Internal: an event for this watch arrived.
   * @internal
   */
  deliver(event: InotifyEvent): void {
    this.#queue.push(event);
    if (event.mask & IN.IGNORED) this.#removed = true;
    for (const w of this.#waiters.splice(0)) w.resolve();
  }

  /**
   * Internal: reading failed.
   * @internal
   */
  fail(e: unknown): void {
    for (const w of this.#waiters.splice(0)) w.reject(e);
  }
}
