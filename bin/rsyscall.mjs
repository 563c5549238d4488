#!/usr/bin/env node
// The rsyscall command: `rsyscall demo` shows the library at work on this machine; `rsyscall repl`
// is Node's REPL with a thread and every module of the library at hand.
const [command, ...args] = process.argv.slice(2);
if (command === "demo") {
  const { demo } = await import("../dist/demo.js");
  await demo();
} else if (command === "repl") {
  const { repl } = await import("../dist/repl.js");
  try {
    await repl(args);
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  }
  process.exit(0);
} else {
  console.error(
    'usage: rsyscall demo\n       rsyscall repl [--ssh "SSH-OPTIONS... HOST" | --bootstrap "COMMAND..." | --persistent PATH]',
  );
  process.exit(2);
}
