// Socket activation: we bind and listen, then hand the socket to a program at fd 3 with
// LISTEN_FDS=1 and LISTEN_PID set to the program's own pid, as systemd does. The program (here a
// tiny Node server) serves on the socket it was given; it never binds anything itself.
//
//   node examples/listen-fds.mjs
import { connect } from "node:net";
import { Command, localThread as thr } from "rsyscall";
import { SockaddrIn } from "rsyscall/netinet/in";
import { AF, SOCK } from "rsyscall/sys/socket";

const server = `
  const { createServer } = require("node:net");
  if (process.env.LISTEN_PID !== String(process.pid) || process.env.LISTEN_FDS !== "1") process.exit(2);
  const srv = createServer((c) => { c.end("hello from fd 3 of pid " + process.pid + "\\n"); srv.close(); });
  srv.listen({ fd: 3 });
`;

const sock = await thr.socket(AF.INET, SOCK.STREAM);
const { port } = await thr.bindGetsockname(sock, new SockaddrIn(0, "127.0.0.1"));
await sock.listen(16);

// LISTEN_PID must name the program itself, so: clone, learn the child's pid, then exec.
const child = await thr.clone();
await child.inheritFd(sock).dup2(child.task.fdAt(3));
await sock.close(); // the child holds it now
const env = { LISTEN_FDS: "1", LISTEN_PID: String(child.process.pid) };
const proc = await child.exec(new Command(process.execPath, ["node", "-e", server], env));

const reply = await new Promise((resolve, reject) => {
  const c = connect(port, "127.0.0.1");
  let text = "";
  c.on("data", (d) => (text += d))
    .on("end", () => resolve(text))
    .on("error", reject);
});
process.stdout.write(reply);
await proc.check();
