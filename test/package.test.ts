// The package as it ships: `npm pack` takes what an install needs (with the native parts prebuilt),
// a `prepare` script builds dist/ for installs from git, and source maps point at files that ship.
// (.ci/run installs the packed tarball with no compiler, and a git+file clone, into empty projects
// and runs them.)
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = join(dirname(process.execPath), "npm");

test("npm pack ships the built code, the native sources and what source maps point at", () => {
  const [pack] = JSON.parse(
    execFileSync(npm, ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" }),
  );
  const shipped = new Set<string>(pack.files.map((f: { path: string }) => f.path));
  for (const needed of [
    "dist/index.js",
    "dist/index.d.ts",
    "binding.gyp",
    "native/server.c",
    "scripts/build-native.mjs",
  ]) {
    assert.ok(shipped.has(needed), `${needed} is not in the package`);
  }
  const maps = [...shipped].filter((p) => p.endsWith(".map"));
  assert.ok(maps.length > 0, "no source maps");
  for (const map of maps) {
    const { sources } = JSON.parse(readFileSync(join(root, map), "utf8")) as { sources: string[] };
    for (const source of sources) {
      const target = posix.normalize(posix.join(posix.dirname(map), source));
      assert.ok(shipped.has(target), `${map} points at ${target}, which does not ship`);
    }
  }
});

test("the API reference has a page for every subpath the package exports, named as it is imported", () => {
  const { exports } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    exports: Record<string, { default: string }>;
  };
  // typedoc.json may have whole-line comments.
  const config = JSON.parse(readFileSync(join(root, "typedoc.json"), "utf8").replace(/^\s*\/\/.*$/gm, "")) as {
    entryPoints: string[];
  };
  const source = (built: string) => built.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts");
  assert.deepEqual(
    [...config.entryPoints].sort(),
    Object.values(exports)
      .map((e) => source(e.default))
      .sort(),
  );
  for (const [subpath, e] of Object.entries(exports)) {
    const name = `rsyscall${subpath.slice(1)}`;
    const text = readFileSync(join(root, source(e.default)), "utf8");
    assert.ok(text.startsWith("/**") && text.includes(` * @module ${name}\n`), `${source(e.default)}: @module ${name}`);
  }
});

test("installs from git build dist/ (prepare); packing prebuilds the native core, which installing uses or builds", () => {
  const { scripts, files, dependencies } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  assert.match(scripts.prepare, /npm run build/);
  assert.match(scripts.install, /build-native/);
  assert.match(scripts.prepack, /build-native\.mjs --prebuild/);
  assert.ok(files.includes("prebuilds"), "prebuilds/ does not ship");
  assert.ok(dependencies["node-gyp-build"], "src/native.ts loads the addon through node-gyp-build");
});
