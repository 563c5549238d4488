import { localThread as thr, Command } from "rsyscall";
const cmd = new Command("/bin/true", ["true"], {});
const t = { clone: 0n, exec: 0n, check: 0n };
for (let i = 0; i < 50; i++) await (await (await thr.clone()).exec(cmd)).check();
const N = 300;
for (let i = 0; i < N; i++) {
  let a = process.hrtime.bigint();
  const c = await thr.clone(); let b = process.hrtime.bigint(); t.clone += b - a; a = b;
  const p = await c.exec(cmd); b = process.hrtime.bigint(); t.exec += b - a; a = b;
  await p.check(); b = process.hrtime.bigint(); t.check += b - a;
}
for (const k in t) console.log(k, (Number(t[k]) / N / 1000).toFixed(1), "us");
console.log("execve wait", (Number(globalThis.__ex) / (N + 50) / 1000).toFixed(1), "us");
