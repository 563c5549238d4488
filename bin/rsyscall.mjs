#!/usr/bin/env node
// The rsyscall command: `rsyscall demo` shows the library at work on this machine.
const [command] = process.argv.slice(2);
if (command === "demo") {
  const { demo } = await import("../dist/demo.js");
  await demo();
} else {
  console.error("usage: rsyscall demo");
  process.exit(2);
}
