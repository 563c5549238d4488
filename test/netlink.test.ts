// rtnetlink against the real kernel: two network namespaces joined by a veth pair, with addresses
// and a route set through netlink, then TCP between them. Checked through /proc/PID/net (the
// namespace of that process, read by node:fs) and by the connection itself.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, test } from "node:test";
import { localThread as thr } from "rsyscall";
import { decodeAttrs, encodeAttrs, NETLINK, NetlinkSocket } from "rsyscall/linux/netlink";
import { RTM, Rtnetlink } from "rsyscall/linux/rtnetlink";
import { IFF } from "rsyscall/net/if";
import { SockaddrIn } from "rsyscall/netinet/in";
import { CLONE } from "rsyscall/sched";
import { AF, SOCK } from "rsyscall/sys/socket";
import { openFds } from "./util.js";

const limit = { timeout: 30_000 };

/** Two threads in network namespaces of their own (the second's inside the first's user namespace). */
async function twoNamespaces() {
  const a = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNET), { inNamespaceUid: 0, inNamespaceGid: 0 });
  const b = await a.clone(CLONE.NEWNET);
  return { a, b, done: async () => Promise.all([b.exit(0), a.exit(0)]) };
}

/** The interface names /proc/PID/net/dev lists: the network namespace of PID, as the kernel sees it. */
function devices(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/net/dev`, "utf8")
    .split("\n")
    .slice(2)
    .map((l) => l.split(":")[0]!.trim())
    .filter(Boolean)
    .sort();
}

describe("rtnetlink", limit, () => {
  test("a veth pair across two namespaces, addresses and a route, and TCP through them", async () => {
    const { a, b, done } = await twoNamespaces();
    await using ra = await Rtnetlink.open(a);
    await using rb = await Rtnetlink.open(b);
    assert.deepEqual(devices(b.process.pid), ["lo"]);
    await ra.createVeth("veth0", "veth1", { peerNetnsPid: b.process.pid });
    assert.deepEqual(devices(a.process.pid), ["lo", "veth0"]);
    assert.deepEqual(devices(b.process.pid), ["lo", "veth1"]);

    await ra.addAddress("veth0", "10.99.0.1", 24);
    await ra.addAddress("lo", "10.99.1.1", 32); // reached only through the route below
    await Promise.all([ra.setUp("veth0"), ra.setUp("lo")]);
    await rb.addAddress("veth1", "10.99.0.2", 24);
    await Promise.all([rb.setUp("veth1"), rb.setUp("lo")]);
    await rb.addRoute({ destination: "10.99.1.0", prefixlen: 24, gateway: "10.99.0.1" });

    // /proc/PID/net/route: destination, gateway and mask in little-endian hex.
    const route = fs
      .readFileSync(`/proc/${b.process.pid}/net/route`, "utf8")
      .split("\n")
      .map((l) => l.split("\t"))
      .find((f) => f[1] === "0001630A");
    assert.ok(route, "the route to 10.99.1.0 is in B's table");
    assert.deepEqual([route[0], route[2], route[7]], ["veth1", "0100630A", "00FFFFFF"]);

    const links = await rb.links();
    const veth1 = links.find((l) => l.name === "veth1");
    assert.equal(veth1?.kind, "veth");
    assert.ok(veth1 && veth1.flags & IFF.UP, "up");
    assert.match(veth1?.address ?? "", /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const addresses = await rb.addresses(AF.INET);
    assert.ok(addresses.some((x) => x.local === "10.99.0.2" && x.prefixlen === 24 && x.index === veth1.index));

    // TCP: a listener in A on the address behind the route, a client in B.
    const listening = await a.makeAfd(await a.socket(AF.INET, SOCK.STREAM), true);
    await listening.handle.bind(await a.ptr(new SockaddrIn(7777, "10.99.1.1")));
    await listening.handle.listen(1);
    const client = await b.makeAfd(await b.socket(AF.INET, SOCK.STREAM), true);
    const [accepted] = await Promise.all([
      listening.accept(SOCK.NONBLOCK),
      client.connect(await b.ptr(new SockaddrIn(7777, "10.99.1.1"))),
    ]);
    const server = await a.makeAfd(accepted);
    await client.writeAllBytes(Buffer.from("across the veth"));
    assert.equal((await server.readSomeBytes()).toString(), "across the veth");
    await Promise.all([server.close(), client.close(), listening.close()]);
    await done();
  });

  test("the kernel's errors are SyscallErrors named after the request; bad input is refused first", async () => {
    const { a, done } = await twoNamespaces();
    const rt = await Rtnetlink.open(a);
    await rt.createVeth("x0", "x1");
    await assert.rejects(rt.createVeth("x0", "x2"), { code: "EEXIST", syscall: "RTM_NEWLINK" });
    await assert.rejects(rt.setUp("nosuch0"), { code: "ENODEV", syscall: "RTM_GETLINK" });
    await assert.rejects(
      rt.addAddress("x0", "10.0.0.1", 24).then(() => rt.addAddress("x0", "10.0.0.1", 24)),
      {
        code: "EEXIST",
        syscall: "RTM_NEWADDR",
      },
    );
    await rt.deleteLink("x0");
    assert.deepEqual(
      (await rt.links()).map((l) => l.name),
      ["lo"],
      "deleting one end of a veth deletes both",
    );
    const before = openFds();
    for (const bad of [
      () => rt.createVeth("a-name-longer-than-15", "y"),
      () => rt.createVeth("has/slash", "y"),
      () => rt.createVeth("ok0", "y", { peerNetnsPid: 1, peerNetnsFd: 3 }),
      () => rt.addAddress("lo", "10.0.0.300", 24),
      () => rt.addAddress("lo", "10.0.0.1", 33),
      () => rt.addRoute({ destination: "10.0.0.0", prefixlen: 8 }),
      () => rt.moveToNamespace("lo", {}),
    ])
      await assert.rejects(bad(), TypeError);
    assert.deepEqual(
      openFds().filter((n) => !before.includes(n)),
      [],
    );
    await rt.close();
    await done();
  });

  test("a request to a protocol that does not know it: EOPNOTSUPP or EINVAL from the kernel, not a hang", async () => {
    const nl = await NetlinkSocket.open(thr, NETLINK.ROUTE);
    // A message type rtnetlink has no handler for.
    await assert.rejects(nl.request(RTM.NEWROUTE + 1000, 0, Buffer.alloc(16)), (e: unknown) =>
      ["EOPNOTSUPP", "EINVAL"].includes((e as { code?: string }).code ?? ""),
    );
    await nl.close();
  });

  test("attributes: padded to 4 bytes, nested, read back by type", () => {
    const bytes = encodeAttrs([
      { type: 3, value: "eth0" },
      { type: 4, value: 1500 },
      { type: 18, value: [{ type: 1, value: "veth" }] },
      { type: 5, value: Buffer.from([1, 2, 3, 4, 5]) },
    ]);
    assert.equal(bytes.length, 12 + 8 + 16 + 12);
    const attrs = decodeAttrs(bytes);
    assert.equal(attrs.get(3)?.toString(), "eth0\0");
    assert.equal(attrs.get(4)?.readUInt32LE(0), 1500);
    assert.equal(decodeAttrs(attrs.get(18)!).get(1)?.toString(), "veth\0");
    assert.deepEqual([...(attrs.get(5) ?? [])], [1, 2, 3, 4, 5]);
  });
});
