#!/usr/bin/env node
// The rsyscall command: `rsyscall demo` shows the library at work on this machine (`demo net`: two
// network namespaces configured through rtnetlink); `rsyscall repl` is Node's REPL with a thread
// and every module of the library at hand.
const [command, ...args] = process.argv.slice(2);
if (command === "demo" && args.length === 0) {
  const { demo } = await import("../dist/demo.js");
  await demo();
} else if (command === "demo" && args[0] === "net" && args.length === 1) {
  const { demoNet } = await import("../dist/demo-net.js");
  await demoNet();
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
