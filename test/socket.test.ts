// Sockets: unix, TCP and UDP, with peers made independently of the library where it matters.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { localThread as thr } from "rsyscall";
import { F, O } from "rsyscall/fcntl";
import { SockaddrIn, SockaddrIn6 } from "rsyscall/netinet/in";
import { Int32 } from "rsyscall/struct";
import { AF, MSG, SHUT, SO, SOCK, SOL, Sockaddr, SockaddrStorage, Sockbuf } from "rsyscall/sys/socket";
import { SockaddrUn, SockaddrUnProcFd } from "rsyscall/sys/un";
import { fdTarget, isCloexec, scratchDir } from "./util.js";

const dir = scratchDir();

describe("socketpair", () => {
  test("two connected, close-on-exec ends", async () => {
    const { first, second } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
    assert.ok(isCloexec(first.near) && isCloexec(second.near));
    assert.match(fdTarget(first.near), /^socket:/);
    await first.send(await thr.ptr(Buffer.from("ping")));
    const [got] = await second.recv(await thr.malloc(Buffer, 10));
    assert.equal((await got.read()).toString(), "ping");
    await first.shutdown(SHUT.WR);
    const [eof] = await second.recv(await thr.malloc(Buffer, 10));
    assert.equal(eof.size(), 0);
    await first.close();
    await second.close();
  });
});

describe("unix sockets", () => {
  test("bind, listen, connect, accept, getsockname, getpeername", async () => {
    const path = join(dir, "server.sock");
    const server = await thr.socket(AF.UNIX, SOCK.STREAM);
    await server.bind(await thr.ptr(new SockaddrUn(path)));
    assert.ok(fs.statSync(path).isSocket());
    await server.listen(10);
    const client = await thr.socket(AF.UNIX, SOCK.STREAM);
    await client.connect(await thr.ptr(new SockaddrUn(path)));
    const conn = await server.accept();
    assert.ok(isCloexec(conn.near));
    const name = await (await server.getsockname(await thr.ptr(new Sockbuf(await thr.malloc(SockaddrUn, 110))))).read();
    assert.equal((await name.buf.read()).path, path);
    await server.fcntl(F.SETFL, O.NONBLOCK);
    const sockbuf = await thr.ptr(new Sockbuf(await thr.malloc(SockaddrStorage)));
    await assert.rejects(server.accept(SOCK.NONBLOCK, sockbuf), { code: "EAGAIN", syscall: "accept4" });
    await client.send(await thr.ptr(Buffer.from("hi")));
    const [got] = await conn.recv(await thr.malloc(Buffer, 10));
    assert.equal((await got.read()).toString(), "hi");
    for (const fd of [server, client, conn]) await fd.close();
  });

  test("a path longer than sun_path binds through /proc/self/fd", async () => {
    const deep = join(dir, "d".repeat(60), "e".repeat(60));
    fs.mkdirSync(deep, { recursive: true });
    const path = join(deep, "long.sock");
    assert.ok(Buffer.byteLength(path) > 108);
    assert.throws(() => new SockaddrUn(path), RangeError);
    const addr = await SockaddrUn.fromPath(thr, path);
    assert.ok(addr instanceof SockaddrUnProcFd);
    const server = await thr.socket(AF.UNIX, SOCK.STREAM);
    await server.bind(await thr.ptr(addr));
    await server.listen(1);
    await addr.close();
    assert.ok(fs.statSync(path).isSocket(), "the socket file is at the long path");
    // A peer made without the library, in another process, reaches it through its directory.
    const peer = spawn(process.execPath, ["-e", 'require("net").connect("long.sock").end("from node")'], { cwd: deep });
    const exited = once(peer, "exit");
    const conn = await server.accept();
    assert.equal((await thr.readToEof(conn)).toString(), "from node");
    await conn.close();
    assert.deepEqual(await exited, [0, null]);
    await server.close();
  });

  test("abstract and unnamed addresses parse back", async () => {
    const server = await thr.socket(AF.UNIX, SOCK.STREAM);
    const name = `\0rsyscall-test-${process.pid}`;
    const bound = await thr.bindGetsockname(server, new SockaddrUn(name));
    assert.ok(bound.abstract);
    assert.equal(bound.path, name);
    const { first } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
    const unnamed = await thr.bindGetsockname(first, new SockaddrUn("")).catch(() => undefined);
    assert.ok(unnamed === undefined || unnamed.path === "" || unnamed.abstract, "autobind gives an abstract name");
    await server.close();
    await first.close();
  });
});

describe("inet sockets", () => {
  test("bindGetsockname learns the port; a Node client connects; peer address via accept", async () => {
    const server = await thr.socket(AF.INET, SOCK.STREAM);
    await server.setsockopt(SOL.SOCKET, SO.REUSEADDR, await thr.ptr(new Int32(1)));
    const opt = await (
      await server.getsockopt(SOL.SOCKET, SO.REUSEADDR, await thr.ptr(new Sockbuf(await thr.malloc(Int32))))
    ).read();
    assert.equal((await opt.buf.read()).value, 1);
    const addr = await thr.bindGetsockname(server, new SockaddrIn(0, "127.0.0.1"));
    assert.ok(addr instanceof SockaddrIn);
    assert.ok(addr.port > 0);
    await server.listen(5);
    const client = net.connect(addr.port, "127.0.0.1");
    await once(client, "connect");
    const [conn, peerPtr] = await server.accept(
      0 as SOCK,
      await thr.ptr(new Sockbuf(await thr.malloc(SockaddrStorage))),
    );
    const peer = ((await (await peerPtr.read()).buf.read()) as SockaddrStorage).parse();
    assert.ok(peer instanceof SockaddrIn);
    assert.equal(peer.port, client.localPort);
    const peername = await (await conn.getpeername(await thr.ptr(new Sockbuf(await thr.malloc(SockaddrIn))))).read();
    assert.equal((await peername.buf.read()).port, client.localPort);
    client.end("tcp data");
    await once(client, "finish");
    assert.equal((await thr.readToEof(conn)).toString(), "tcp data");
    await conn.close();
    await server.close();
  });

  test("connect to a refused port is ECONNREFUSED", async () => {
    const probe = net.createServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const sock = await thr.socket(AF.INET, SOCK.STREAM);
    await assert.rejects(sock.connect(await thr.ptr(new SockaddrIn(port, "127.0.0.1"))), {
      code: "ECONNREFUSED",
      syscall: "connect",
    });
    await sock.close();
  });

  test("UDP sendto and recvfrom with addresses, over IPv6", async () => {
    const a = await thr.socket(AF.INET6, SOCK.DGRAM);
    const b = await thr.socket(AF.INET6, SOCK.DGRAM);
    const aAddr = await thr.bindGetsockname(a, new SockaddrIn6(0, "::1"));
    const bAddr = await thr.bindGetsockname(b, new SockaddrIn6(0, "::1"));
    assert.equal(aAddr.addr, "::1");
    await a.sendto(await thr.ptr(Buffer.from("datagram")), MSG.DONTWAIT, await thr.ptr(bAddr));
    const [data, , from] = await b.recvfrom(
      await thr.malloc(Buffer, 64),
      MSG.DONTWAIT,
      await thr.ptr(new Sockbuf(await thr.malloc(SockaddrStorage))),
    );
    assert.equal((await data.read()).toString(), "datagram");
    const sender = Sockaddr.parse((await (await from.read()).buf.read()).toBytes());
    assert.ok(sender instanceof SockaddrIn6);
    assert.equal(sender.port, aAddr.port);
    await a.close();
    await b.close();
  });

  test("address parsing and validation", () => {
    assert.equal(new SockaddrIn6(1, "0:0:0:0:0:0:0:1").addr, "::1");
    assert.equal(new SockaddrIn6(1, "::ffff:1.2.3.4").addr, "::ffff:102:304");
    assert.equal(new SockaddrIn6(1, "fe80::1:0:0:2").addr, "fe80::1:0:0:2");
    assert.deepEqual(SockaddrIn.fromBytes(new SockaddrIn(80, "10.1.2.3").toBytes()), new SockaddrIn(80, "10.1.2.3"));
    assert.throws(() => new SockaddrIn(70000), TypeError);
    assert.throws(() => new SockaddrIn(1, "1.2.3"), TypeError);
    assert.throws(() => new SockaddrIn6(1, "1.2.3.4"), TypeError);
  });
});
