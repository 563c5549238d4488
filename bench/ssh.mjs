// Benchmarks of a thread on another host over ssh, against ssh itself over the same harness (sshd
// -i behind a ProxyCommand, keys made here): connecting, a round trip, moving bytes. Root only:
// sshd runs in namespaces of its own.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, localThread } from "../dist/index.js";
import { SSHHost } from "../dist/tasks/ssh.js";
import { medianOf, perCall, row, us } from "./util.mjs";

function harness() {
  const dir = mkdtempSync(join(tmpdir(), "rsyscall-bench-ssh-"));
  for (const name of ["key", "hostkey"]) {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", join(dir, name)]);
  }
  execFileSync("cp", [join(dir, "key.pub"), join(dir, "authorized_keys")]);
  const sshd = `/usr/sbin/sshd -i -f /dev/null -h ${join(dir, "hostkey")} -o AuthorizedKeysFile=${join(dir, "authorized_keys")} -o StrictModes=no`;
  writeFileSync(
    join(dir, "config"),
    `Host bench
  HostName localhost
  User root
  IdentityFile ${join(dir, "key")}
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
  KexAlgorithms curve25519-sha256
  ProxyCommand unshare --mount --pid --fork --kill-child --mount-proc sh -c "mount -t tmpfs none /run && mkdir /run/sshd && exec ${sshd}"
`,
  );
  return { dir, ssh: ["-F", join(dir, "config"), "bench"] };
}

/** Runs `ssh host remoteCommand`, feeding `input`; resolves when it exits. */
async function sshRun(args, remoteCommand, input) {
  const p = spawn("/usr/bin/ssh", [...args, remoteCommand], { stdio: ["pipe", "ignore", "inherit"] });
  p.stdin.end(input);
  await once(p, "exit");
}

export async function benchSsh() {
  if (process.getuid?.() !== 0 || !existsSync("/usr/sbin/sshd")) {
    console.log("\nssh: skipped (needs root and openssh-server)");
    return;
  }
  const { dir, ssh } = harness();
  const host = new SSHHost(new Command("/usr/bin/ssh", ["ssh", ...ssh], {}));
  try {
    const connect = await medianOf(5, () =>
      perCall(1, async () => {
        const [proc, remote] = await host.ssh(localThread);
        await remote.exit(0);
        await proc.waitpid(4);
      }),
    );
    const sshTrue = await medianOf(5, () => perCall(1, () => sshRun(ssh, "true", "")));

    const [proc, remote] = await host.ssh(localThread);
    const getpid = async (n) => {
      for (let i = 0; i < n; i++) await remote.task.getpid();
    };
    await getpid(100);
    const trip = await medianOf(5, () => perCall(500, getpid));
    // 64 bytes through `ssh host cat`, one round trip at a time.
    const cat = spawn("/usr/bin/ssh", [...ssh, "cat"], { stdio: ["pipe", "pipe", "inherit"] });
    const echo = async (n) => {
      const msg = Buffer.alloc(64, 1);
      for (let i = 0; i < n; i++) {
        const got = once(cat.stdout, "data");
        cat.stdin.write(msg);
        let have = (await got)[0].length;
        while (have < 64) have += (await once(cat.stdout, "data"))[0].length;
      }
    };
    await echo(100);
    const catTrip = await medianOf(5, () => perCall(500, echo));
    cat.stdin.end();

    // Bytes into the host: through a channel, read there 1 MiB at a time, against `ssh host cat >/dev/null`.
    const TOTAL = 64 << 20;
    const [[ours, theirs]] = await remote.openAsyncChannels(1);
    const sink = await remote.malloc(Buffer, 1 << 20);
    const chunk = Buffer.alloc(1 << 20, 3);
    const channel = await medianOf(3, async () => {
      const start = process.hrtime.bigint();
      const writing = (async () => {
        for (let sent = 0; sent < TOTAL; sent += chunk.length) await ours.writeAllBytes(chunk);
      })();
      let got = 0;
      while (got < TOTAL) got += await remote.task.sysif.syscall(0 /* read */, theirs.near, sink.near, sink.size());
      await writing;
      return TOTAL / (Number(process.hrtime.bigint() - start) / 1e9);
    });
    const big = Buffer.alloc(TOTAL, 3);
    const sshCat = await medianOf(3, async () => {
      const start = process.hrtime.bigint();
      await sshRun(ssh, "cat >/dev/null", big);
      return TOTAL / (Number(process.hrtime.bigint() - start) / 1e9);
    });
    // 1 MiB into the remote thread's memory (through the syscall stream), and a call after it.
    let p = await remote.malloc(Buffer, 1 << 20);
    const intoMemory = await medianOf(5, () =>
      perCall(10, async (n) => {
        for (let i = 0; i < n; i++) p = await p.write(chunk);
        await remote.task.getpid();
      }),
    );
    await ours.close();
    await remote.exit(0);
    await proc.waitpid(4);

    const mbs = (x) => `${(x / 1e6).toFixed(0).padStart(7)} MB/s`;
    console.log("\nssh, over sshd -i behind a ProxyCommand on this host, medians");
    row("ssh host true", us(sshTrue));
    row("host.ssh(thr), remote.exit(0)", us(connect), `  ${(connect / sshTrue).toFixed(2)}x ssh host true`);
    row("64-byte echo through `ssh host cat`, one at a time", us(catTrip));
    row("await remote.task.getpid()", us(trip), `  ${(trip / catTrip).toFixed(2)}x the echo`);
    row("`ssh host 'cat >/dev/null'`, 64 MiB", mbs(sshCat));
    row("a channel, 64 MiB, read there 1 MiB a call", mbs(channel), `  ${(channel / sshCat).toFixed(2)}x ssh cat`);
    row("1 MiB into the remote thread's memory", us(intoMemory), `  ${mbs((1 << 20) / (intoMemory / 1e9))}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
