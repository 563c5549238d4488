// Builds the native core (native/): the N-API addon with node-gyp, against the headers of the Node
// that runs this script (so nothing is downloaded), and the rsyscall-server program, a static
// freestanding executable, with the C compiler directly (node-gyp would link it against libc).
// Run by `npm install`.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const nodePrefix = resolve(dirname(process.execPath), "..");
if (!existsSync(join(nodePrefix, "include", "node", "node_api.h"))) {
  console.error(`rsyscall: no Node headers under ${nodePrefix}/include/node; install them first`);
  process.exit(1);
}
const nodeGyp =
  process.env.npm_config_node_gyp ??
  join(nodePrefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");

function run(command, args) {
  const result = spawnSync(command, args, { stdio: "inherit", cwd: root });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run(process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodePrefix}`]);

// No libc, no loader, no TLS, no relocations to apply: -static-pie without a start file of libc's
// would leave relocations nobody applies, so the code must need none (tested with readelf).
const out = join(root, "build", "Release");
mkdirSync(out, { recursive: true });
run(process.env.CC ?? "cc", [
  "-std=gnu11",
  "-O2",
  "-Wall",
  "-Wextra",
  "-ffreestanding",
  "-fno-builtin",
  "-fno-stack-protector",
  "-fcf-protection=none",
  "-fno-asynchronous-unwind-tables",
  "-fPIE",
  "-nostdlib",
  "-static-pie",
  "-Wl,-z,now",
  "-Wl,-z,noexecstack",
  "-Wl,--build-id=none",
  "-o",
  join(out, "rsyscall-server"),
  "native/start.S",
  "native/program.c",
  "native/server.c",
  "native/syscall.S",
]);
