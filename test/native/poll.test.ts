// The uv_poll binding (native/poll.c): misuse is refused instead of touching freed memory, a failed
// start cleans up after itself, and libuv's error status reaches JavaScript.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { localThread as thr } from "rsyscall";
import { native } from "../../dist/native.js";

describe("native watch", { timeout: 10_000 }, () => {
  test("unwatch twice, or setWatchRef after unwatch, throws instead of using freed memory", async () => {
    const { read, write } = await thr.pipe();
    const handle = native.watch(read.near, () => {});
    native.unwatch(handle);
    assert.throws(() => native.unwatch(handle), /closed/);
    assert.throws(() => native.setWatchRef(handle, true), /closed/);
    // Many watches made and closed: nothing piles up, nothing crashes once they are collected.
    for (let i = 0; i < 1000; i++) native.unwatch(native.watch(read.near, () => {}));
    global.gc?.();
    await new Promise((r) => setTimeout(r, 10));
    await read.close();
    await write.close();
  });

  test("a watch that cannot start throws libuv's error, and later watches work", async () => {
    assert.throws(() => native.watch(-1, () => {}), { code: "EBADF" });
    assert.throws(
      () => native.watch(1e9, () => {}),
      (e: Error & { code?: string }) => typeof e.code === "string",
    );
    assert.throws(() => native.watch("3" as never, () => {}), TypeError);
    const { read, write } = await thr.pipe();
    let calls = 0;
    const handle = native.watch(read.near, () => calls++);
    native.setWatchRef(handle, true);
    await thr.spit(write, "x");
    while (calls === 0) await new Promise((r) => setImmediate(r));
    native.unwatch(handle);
    await read.close();
  });

  test("libuv's error status reaches the callback (a pipe whose reader is gone reports POLLERR)", async () => {
    const { read, write } = await thr.pipe();
    await read.close();
    const statuses: number[] = [];
    const handle = native.watch(write.near, (status) => statuses.push(status));
    native.setWatchRef(handle, true);
    while (statuses.length === 0) await new Promise((r) => setImmediate(r));
    assert.ok(statuses[0]! < 0, `status ${statuses[0]}`);
    native.unwatch(handle);
    await write.close();
  });
});
