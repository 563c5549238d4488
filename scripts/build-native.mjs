// The native core (native/): the N-API addon and the rsyscall-server program, a static freestanding
// executable. Run by `npm install`: a packed package (as published) carries both prebuilt in
// prebuilds/linux-x64/ (N-API is stable across Node versions), used when they work here; otherwise
// (a git clone, a prebuild missing or failing) both are built from source into build/Release.
// `--prebuild` (npm's prepack) builds from source and copies the result into prebuilds/.
// `npm install --build-from-source` skips the prebuilds.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const release = join(root, "build", "Release");
const prebuilds = join(root, "prebuilds");
const prebuildDir = join(prebuilds, `${process.platform}-${process.arch}`);
// Named as node-gyp-build expects: the napi tag says any Node with N-API loads it (src/native.ts).
const prebuiltAddon = join(prebuildDir, "rsyscall_native.napi.node");
const prebuiltProgram = join(prebuildDir, "rsyscall-server");
const toolchain =
  "make, a C and C++ compiler, python3, and the C library and kernel headers " +
  "(Debian: make gcc g++ python3 libc6-dev linux-libc-dev)";

if (process.argv.includes("--prebuild")) {
  buildFromSource();
  rmSync(prebuilds, { recursive: true, force: true });
  mkdirSync(prebuildDir, { recursive: true });
  copyFileSync(join(release, "rsyscall_native.node"), prebuiltAddon);
  copyFileSync(join(release, "rsyscall-server"), prebuiltProgram);
} else {
  const unfit =
    process.env.npm_config_build_from_source === "true" ? "--build-from-source was given" : whyPrebuildUnfit();
  if (unfit !== undefined) {
    console.error(`rsyscall: building the native core from source (${unfit}); this needs ${toolchain}`);
    buildFromSource();
  }
}

/** Why the prebuilt pair cannot be used here, or undefined when it can. */
function whyPrebuildUnfit() {
  if (!existsSync(prebuildDir)) return `no prebuild for ${process.platform}-${process.arch}`;
  const shown = (file) => relative(root, file);
  for (const file of [prebuiltAddon, prebuiltProgram]) if (!existsSync(file)) return `${shown(file)} is missing`;
  try {
    createRequire(import.meta.url)(prebuiltAddon);
  } catch (e) {
    return `${shown(prebuiltAddon)} does not load: ${e instanceof Error ? e.message : e}`;
  }
  // The program's --probe exits 0 at once: it runs here.
  const probe = spawnSync(prebuiltProgram, ["--probe"], { stdio: "ignore" });
  const failure = probe.error?.code ?? probe.status ?? probe.signal;
  if (probe.status !== 0) return `${shown(prebuiltProgram)} --probe failed: ${failure}`;
  return undefined;
}

function buildFromSource() {
  // The addon is built against the headers of the Node that runs this script, so nothing is downloaded.
  const nodePrefix = resolve(dirname(process.execPath), "..");
  if (!existsSync(join(nodePrefix, "include", "node", "node_api.h"))) {
    console.error(`rsyscall: no Node headers under ${nodePrefix}/include/node; install them first`);
    process.exit(1);
  }
  const nodeGyp =
    process.env.npm_config_node_gyp ??
    join(nodePrefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  run("node-gyp", process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodePrefix}`]);

  // node-gyp would link the program against libc, so it is built with the C compiler directly.
  // No libc, no loader, no TLS, no relocations to apply: -static-pie without a start file of libc's
  // would leave relocations nobody applies, so the code must need none (tested with readelf).
  mkdirSync(release, { recursive: true });
  const cc = process.env.CC ?? "cc";
  run(cc, cc, [
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
    join(release, "rsyscall-server"),
    "native/start.S",
    "native/program.c",
    "native/server.c",
    "native/syscall.S",
  ]);
}

function run(step, command, args) {
  const result = spawnSync(command, args, { stdio: "inherit", cwd: root });
  if (result.status !== 0) {
    const why = result.error?.message ?? `exit ${result.status ?? result.signal}`;
    console.error(`rsyscall: building the native core from source failed (${step}: ${why}); it needs ${toolchain}`);
    process.exit(result.status ?? 1);
  }
}
