// `rsyscall demo net`: two network namespaces joined by a veth pair, configured through rtnetlink
// (no `ip` command), and a TCP message sent across. Works without root: both namespaces belong to a
// user namespace of our own, in which we are uid 0.
import { Rtnetlink } from "./linux/rtnetlink.js";
import { SockaddrIn } from "./netinet/in.js";
import { CLONE } from "./sched.js";
import { AF, SOCK } from "./sys/socket/index.js";
import { localThread as thr } from "./tasks/local.js";
import "./tasks/clone.js";

const say = (line: string) => console.log(`rsyscall demo net: ${line}`);

export async function demoNet(): Promise<void> {
  const left = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNET), { inNamespaceUid: 0, inNamespaceGid: 0 });
  const right = await left.clone(CLONE.NEWNET);
  say(`two network namespaces: pids ${left.process.pid} and ${right.process.pid}`);
  const [rl, rr] = [await Rtnetlink.open(left), await Rtnetlink.open(right)];
  try {
    await rl.createVeth("left0", "right0", { peerNetnsPid: right.process.pid });
    say("created a veth pair: left0 in the first, right0 in the second (RTM_NEWLINK)");
    await rl.addAddress("left0", "10.200.0.1", 24);
    await rr.addAddress("right0", "10.200.0.2", 24);
    await rr.addAddress("lo", "10.201.0.1", 32);
    await Promise.all([rl.setUp("left0"), rr.setUp("right0"), rr.setUp("lo")]);
    await rl.addRoute({ destination: "10.201.0.0", prefixlen: 24, gateway: "10.200.0.2" });
    say("addresses 10.200.0.1/24 and 10.200.0.2/24, links up, and a route to 10.201.0.0/24 via the second");
    for (const [name, rt] of [
      ["first", rl],
      ["second", rr],
    ] as const) {
      const links = await rt.links();
      const addresses = await rt.addresses(AF.INET);
      const text = links.map((l) => {
        const own = addresses.filter((a) => a.index === l.index).map((a) => `${a.local}/${a.prefixlen}`);
        return `${l.name}${l.kind ? ` (${l.kind})` : ""} ${own.join(" ")}`.trim();
      });
      say(`  the ${name} namespace: ${text.join(", ")}`);
    }
    const listening = await right.makeAfd(await right.socket(AF.INET, SOCK.STREAM), true);
    await listening.handle.bind(await right.ptr(new SockaddrIn(9000, "10.201.0.1")));
    await listening.handle.listen(1);
    const client = await left.makeAfd(await left.socket(AF.INET, SOCK.STREAM), true);
    const [accepted] = await Promise.all([
      listening.accept(SOCK.NONBLOCK),
      client.connect(await left.ptr(new SockaddrIn(9000, "10.201.0.1"))),
    ]);
    const server = await right.makeAfd(accepted);
    await client.writeAllBytes(Buffer.from("hello over the veth"));
    say(
      `sent over TCP from the first to 10.201.0.1:9000 in the second, which read: ${(await server.readSomeBytes()).toString()}`,
    );
    await Promise.all([server.close(), client.close(), listening.close()]);
  } finally {
    await Promise.all([rl.close(), rr.close()]);
    await right.exit(0);
    await left.exit(0);
  }
}
