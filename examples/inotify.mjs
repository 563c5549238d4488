// Watching a directory with inotify: events arrive through the event loop (an
// AsyncFileDescriptor), while a child process makes and removes files there.
//
//   node examples/inotify.mjs
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Inotify, localThread as thr } from "rsyscall";
import { IN } from "rsyscall/sys/inotify";

const dir = mkdtempSync(join(tmpdir(), "watched-"));
const inotify = await Inotify.make(thr);
try {
  const watch = await inotify.add(dir, IN.of(IN.CREATE, IN.DELETE, IN.CLOSE_WRITE));
  const writer = await thr.spawn("sh", ["-c", "echo a > one; echo b > two; rm one"], { cwd: dir });
  const seen = [];
  while (seen.length < 5) {
    for (const event of await watch.wait()) seen.push(`${IN.describe(event.mask & ~IN.ISDIR)} ${event.name}`);
  }
  await writer.check();
  console.log(seen.join("\n"));
  await watch[Symbol.asyncDispose](); // `await using watch = ...` where the syntax is supported
} finally {
  await inotify[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
}
