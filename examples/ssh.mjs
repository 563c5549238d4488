// A command on another host over ssh, with nothing installed there but sshd and sh: its output
// comes back through a channel (a forward on the same ssh), its exit status through the thread.
//
//   node examples/ssh.mjs ssh [options...] host
import { Command, localThread as thr } from "rsyscall";
import { SSHHost } from "rsyscall/tasks/ssh";

const argv = process.argv.slice(2);
if (argv.length === 0) {
  console.error("usage: node examples/ssh.mjs ssh [options...] host");
  process.exit(2);
}
const ssh = await thr.environ.which(argv[0]);
const host = new SSHHost(new Command(ssh.executablePath, argv, {}));
const [, remote] = await host.ssh(thr);
try {
  const [[ours, theirs]] = await remote.openAsyncChannels(1);
  const child = await remote.clone();
  await child.inheritFd(theirs).dup2(child.stdout);
  await theirs.close();
  const proc = await child.exec(
    new Command("/bin/sh", ["sh", "-c", 'echo "$(uname -s) $(id -un)@$(cat /proc/sys/kernel/hostname)"'], {}),
  );
  process.stdout.write(await ours.readToEof());
  await proc.check();
  // thr.run works there too: clone, then exec, on the remote host.
  const state = await remote.run("sh", ["-c", "exit 3"], { check: false });
  console.log(`remote exit status ${state.exitCode}`);
} finally {
  await remote.exit(0);
}
