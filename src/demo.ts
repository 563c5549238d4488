// `rsyscall demo` (and `npm run demo`): the core on this machine in a few seconds. A child in new
// user, pid, mount and network namespaces; an fd handed across at number 5; a program exec'd with
// it; its output read asynchronously.
import { Command } from "./command.js";
import { CLONE } from "./sched.js";
import type { MS } from "./sys/mount.js";
import { localThread as thr } from "./tasks/local.js";
import "./tasks/clone.js";

const say = (line: string) => console.log(`rsyscall demo: ${line}`);

export async function demo(): Promise<void> {
  const { read, write } = await thr.pipe();
  say(`made a pipe in this Node process (pid ${process.pid}): read end fd ${read.near}, write end fd ${write.near}`);

  const flags = CLONE.of(CLONE.NEWUSER, CLONE.NEWPID, CLONE.NEWNS, CLONE.NEWNET);
  const child = await thr.clone(flags);
  say(`cloned pid ${child.task.pid} into new ${CLONE.describe(flags)} namespaces`);
  say(`  inside it, getpid() = ${await child.task.getpid()} and getuid() = ${await child.task.getuid()}`);

  await child.mount("proc", "/proc", "proc", 0 as MS, "");
  await child.mount("sysfs", "/sys", "sysfs", 0 as MS, "");
  say("  mounted a fresh /proc and /sys in its mount namespace (ours are untouched)");

  const five = await child.inheritFd(write).dup2(child.task.fdAt(5));
  await write.close();
  say(`  handed the pipe's write end across at fd ${five.near}; our copy is closed`);

  const sh = new Command(
    "/bin/sh",
    ["sh", "-c", 'echo "pid $$, uid $(id -u), network: $(ls /sys/class/net | tr "\\n" " ")" >&5'],
    {},
  );
  const proc = await child.exec(sh);
  say(`exec'd: ${sh.inShellForm()}`);

  const afd = await thr.makeAfd(read, true);
  const out = (await afd.readToEof()).toString();
  await afd.close();
  say(`read from fd 5, asynchronously: ${out.trim()}`);
  say(`the program ${await proc.check()}`);
}
