// Builds the native core (native/) with node-gyp against the headers of the Node that runs
// this script, so nothing is downloaded. Run by `npm install`.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const nodePrefix = resolve(dirname(process.execPath), "..");
if (!existsSync(join(nodePrefix, "include", "node", "node_api.h"))) {
  console.error(`rsyscall: no Node headers under ${nodePrefix}/include/node; install them first`);
  process.exit(1);
}
const nodeGyp =
  process.env.npm_config_node_gyp ??
  join(nodePrefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
const result = spawnSync(process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodePrefix}`], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
