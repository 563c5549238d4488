// A sandbox: a program run in new user, pid, mount, network and UTS namespaces, on a tmpfs root
// that holds read-only binds of the host's system directories, with a hostname of its own, and
// its output captured. Works without root: we are uid 0 inside our own user namespace.
//
//   node examples/sandbox.mjs ['shell command']
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localThread as thr } from "rsyscall";
import { CLONE } from "rsyscall/sched";
import { MS } from "rsyscall/sys/mount";

const script =
  process.argv[2] ??
  'echo "uid $(id -u), pid $$, host $(cat /proc/sys/kernel/hostname)"; ls /; cat /proc/net/dev | tail -n +3 | cut -d: -f1; touch /usr/x 2>/dev/null || echo "/usr is read-only"';

const root = mkdtempSync(join(tmpdir(), "sandbox-"));
const box = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWPID, CLONE.NEWNS, CLONE.NEWNET, CLONE.NEWUTS), {
  inNamespaceUid: 0,
  inNamespaceGid: 0,
});
try {
  // Our mounts from here on stay in the new mount namespace.
  await box.mount("none", "/", "", MS.of(MS.REC, MS.PRIVATE), "");
  await box.mount("sandbox", root, "tmpfs", MS.NOSUID, "mode=0755");
  for (const name of ["usr", "bin", "sbin", "lib", "lib64", "etc"]) {
    const host = `/${name}`;
    if (!existsSync(host)) continue;
    const inside = join(root, name);
    if (lstatSync(host).isSymbolicLink()) {
      // /bin -> usr/bin on a merged-/usr system: the same link inside.
      await box.task.symlink(await box.ptr(readlinkSync(host)), await box.ptr(inside));
      continue;
    }
    await box.mkdir(inside);
    await box.mount(host, inside, "", MS.of(MS.BIND, MS.REC), "");
    // Read-only. A remount must keep the flags the host's mount is locked with (nosuid, nodev...).
    await box.mount("none", inside, "", MS.of(MS.REMOUNT, MS.BIND, MS.RDONLY) | lockedFlags(host), "");
  }
  await box.mkdir(join(root, "tmp"));
  // A few devices, bound from the host's /dev (a user namespace cannot make device nodes).
  await box.mkdir(join(root, "dev"));
  for (const device of ["null", "zero", "urandom"]) {
    await box.spit(join(root, "dev", device), "");
    await box.mount(`/dev/${device}`, join(root, "dev", device), "", MS.BIND, "");
  }
  // A proc of the new pid namespace. Before pivot_root: the kernel lets a user namespace mount proc
  // only where a proc it can see in full is mounted already (the host's, which then goes).
  await box.mkdir(join(root, "proc"));
  await box.mount("proc", join(root, "proc"), "proc", MS.of(MS.NOSUID, MS.NODEV, MS.NOEXEC), "");
  await box.sethostname("sandbox");
  await box.pivotRoot(root);
  const { stdout } = await box.run("sh", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] });
  process.stdout.write(stdout);
} finally {
  await box.exit(0);
  rmSync(root, { recursive: true, force: true });
}

/** The flags of the mount `path` is on that a user namespace may not clear, from /proc/self/mountinfo. */
function lockedFlags(path) {
  let best = { point: "", options: [] };
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const fields = line.split(" ");
    const point = fields[4];
    if (
      point &&
      (path === point || path.startsWith(point === "/" ? "/" : `${point}/`)) &&
      point.length >= best.point.length
    )
      best = { point, options: fields[5].split(",") };
  }
  const flags = {
    nosuid: MS.NOSUID,
    nodev: MS.NODEV,
    noexec: MS.NOEXEC,
    noatime: MS.NOATIME,
    nodiratime: MS.NODIRATIME,
    relatime: MS.RELATIME,
  };
  return best.options.reduce((all, option) => all | (flags[option] ?? 0), 0);
}
