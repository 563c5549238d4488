// A real OpenSSH sshd for tests, started per connection: keys made per run, no daemon (ssh's
// ProxyCommand runs `sshd -i` in a mount namespace, and a pid namespace, of its own, with a tmpfs
// over this package's directory, so that nothing of ours installed here can be used there).
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "./util.js";

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const sshd = "/usr/sbin/sshd";

/** Why the ssh tests cannot run here, if they cannot. */
export const sshdSkip =
  process.getuid?.() !== 0
    ? "needs root: sshd in namespaces of its own (an unprivileged user namespace cannot run it)"
    : !existsSync(sshd)
      ? "openssh-server is not installed"
      : false;

/**
 * An ssh config with keys made now, whose hosts (`names`, and `refused`, which does not accept our
 * key) are served by `sshd -i` behind a ProxyCommand. With `pidns` false, sshd runs in our pid
 * namespace: nothing tears its processes down for it when it ends (as on a real host), and their
 * pids are ours to check.
 */
export function harness(pidns = true, names = ["testhost"]): { config: string; dir: string } {
  const dir = scratchDir("rsyscall-ssh-");
  const keygen = (name: string) =>
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", join(dir, name)]);
  for (const name of ["key", "hostkey", "other"]) keygen(name);
  execFileSync("cp", [join(dir, "key.pub"), join(dir, "authorized_keys")]);
  const inner = [
    "mount -t tmpfs none /run && mkdir /run/sshd",
    `mount -t tmpfs none ${packageRoot}`,
    `exec ${sshd} -i -f /dev/null -h ${join(dir, "hostkey")} -o AuthorizedKeysFile=${join(dir, "authorized_keys")} -o StrictModes=no -E ${join(dir, "log")}`,
  ].join(" && ");
  const host = (name: string, key: string) => `Host ${name}
  HostName localhost
  User root
  IdentityFile ${join(dir, key)}
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
  KexAlgorithms curve25519-sha256
  ProxyCommand unshare --mount ${pidns ? "--pid --fork --kill-child --mount-proc " : ""}sh -c "${inner}"
`;
  const config = join(dir, "config");
  writeFileSync(config, names.map((n) => host(n, "key")).join("") + host("refused", "other"));
  return { config, dir };
}
