// A three-stage pipeline, as a shell runs `printf ... | sort | uniq -c`: two pipes, three programs,
// each given its ends at fds 0 and 1; the last stage's output captured.
//
//   node examples/pipeline.mjs
import { localThread as thr } from "rsyscall";

const first = await thr.pipe();
const second = await thr.pipe();
const words = await thr.spawn("printf", ["pear\\napple\\npear\\nfig\\npear\\napple\\n"], {
  stdio: ["inherit", first.write, "inherit"],
});
const sort = await thr.spawn("sort", [], { stdio: [first.read, second.write, "inherit"] });
// Every end now belongs to the programs: ours must go, or the readers never see end of file.
await Promise.all([first.read.close(), first.write.close(), second.write.close()]);
const counted = await thr.run("uniq", ["-c"], { stdio: [second.read, "pipe", "inherit"] });
await second.read.close();
await Promise.all([words.check(), sort.check()]);
process.stdout.write(counted.stdout);
