// Uses an installed rsyscall from plain JavaScript. .ci/run feeds this to node on stdin from the
// installing project, so "rsyscall" is the installed copy, not this repository. It touches each
// native part: the addon (a syscall, a clone, a spawn) and the rsyscall-server program, which a
// bootstrap reads from disk and sends over the command's stdin. Prints "ok"; anything wrong throws.
import assert from "node:assert/strict";
import { Command, localThread } from "rsyscall";
import { W } from "rsyscall/sys/wait";
import { stdinBootstrap } from "rsyscall/tasks/stdin-bootstrap";

assert.equal(await localThread.task.getpid(), process.pid);
const child = await localThread.clone();
await child.exit(0);
await localThread.run("true");

const execArgs = new Command("/bin/sh", ["sh", "-c", 'exec "$@"', "sh"], {});
const [proc, bootstrapped] = await stdinBootstrap(localThread, execArgs);
assert.equal(await bootstrapped.task.getpid(), proc.pid);
await bootstrapped.exit(0);
await proc.waitpid(W.EXITED);
console.log("ok");
