// Runs one benchmark module in a process of its own (see run.mjs): `node bench/section.mjs children`.
const sections = {
  children: async () => (await import("./children.mjs")).benchChildren(),
  "address-spaces": async () => (await import("./address-spaces.mjs")).benchAddressSpaces(),
  ssh: async () => (await import("./ssh.mjs")).benchSsh(),
};
const run = sections[process.argv[2]];
if (!run) throw new Error(`bench/section.mjs: no section ${process.argv[2]} (${Object.keys(sections).join(", ")})`);
await run();
