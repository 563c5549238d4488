// A real OpenSSH sshd for tests, started per connection: keys made per run, no daemon (ssh's
// ProxyCommand runs `sshd -i`; as root, in a mount namespace, and a pid namespace, of its own, with
// a tmpfs over this package's directory, so that nothing of ours installed here can be used there).
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "./util.js";

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const sshd = "/usr/sbin/sshd";

/** Root runs sshd in namespaces of its own; any other user runs it plainly, as itself. */
export const asRoot = process.getuid?.() === 0;

/**
 * Why the ssh tests cannot run here, if they cannot: sshd is missing, or (for a user other than
 * root) the user has no login shell, which sshd needs to run the command.
 */
export const sshdSkip = !existsSync(sshd)
  ? "openssh-server is not installed"
  : !asRoot && /nologin|false$/.test(userInfo().shell ?? "")
    ? `${userInfo().username} has no login shell (${userInfo().shell}), which sshd needs to run a command`
    : false;

/**
 * An ssh config with keys made now, whose hosts (`names`, and `refused`, which does not accept our
 * key) are served by `sshd -i` behind a ProxyCommand. As root, sshd runs in a mount namespace with
 * a tmpfs over this package, and a pid namespace unless `pidns` is false (then nothing tears its
 * processes down for it when it ends, as on a real host, and their pids are ours to check). As
 * anyone else, it runs as that user in our namespaces, with the package in sight.
 */
export function harness(pidns = true, names = ["testhost"]): { config: string; dir: string } {
  const dir = scratchDir("rsyscall-ssh-");
  const keygen = (name: string) =>
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", join(dir, name)]);
  for (const name of ["key", "hostkey", "other"]) keygen(name);
  execFileSync("cp", [join(dir, "key.pub"), join(dir, "authorized_keys")]);
  const serve = `${sshd} -i -f /dev/null -h ${join(dir, "hostkey")} -o AuthorizedKeysFile=${join(dir, "authorized_keys")} -o StrictModes=no -E ${join(dir, "log")}`;
  const inner = ["mount -t tmpfs none /run && mkdir /run/sshd", `mount -t tmpfs none ${packageRoot}`, `exec ${serve}`];
  const proxy = asRoot
    ? `unshare --mount ${pidns ? "--pid --fork --kill-child --mount-proc " : ""}sh -c "${inner.join(" && ")}"`
    : serve;
  const host = (name: string, key: string) => `Host ${name}
  HostName localhost
  User ${userInfo().username}
  IdentityFile ${join(dir, key)}
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
  KexAlgorithms curve25519-sha256
  ProxyCommand ${proxy}
`;
  const config = join(dir, "config");
  writeFileSync(config, names.map((n) => host(n, "key")).join("") + host("refused", "other"));
  return { config, dir };
}
