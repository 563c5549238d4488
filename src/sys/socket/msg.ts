// <sys/socket.h>, messages: sendmsg and recvmsg, with control messages (SCM_RIGHTS passes fds).
//
//   const iov = await thr.ptr(new IovecList([await thr.ptr(Buffer.from("x"))]));
//   const control = await thr.ptr(new CmsgList([new CmsgSCMRights([fd])]));
//   await sock.sendmsg(await thr.ptr(new SendMsghdr(iov, control)));
//   // on the other end:
//   const msg = await thr.ptr(new RecvMsghdr(await thr.ptr(new IovecList([await thr.malloc(Buffer, 1)])), await thr.malloc(CmsgList, 64)));
//   const { control } = await other.recvmsg(msg);
//   const [rights] = await control!.read();   // CmsgSCMRights, with handles in the receiving task
import { checkInt, checkPointer, withContext } from "../../args.js";
import * as gen from "../../gen/constants.js";
import * as layouts from "../../gen/layouts.js";
import { BaseFileDescriptor } from "../../handle/fd.js";
import {
  type LinearPointer,
  linearize,
  type Pointer,
  type ReadablePointer,
  type WrittenPointer,
} from "../../handle/pointer.js";
import type { BaseTask } from "../../handle/task.js";
import { asFd } from "../../near/ids.js";
import * as raw from "../../near/syscalls.js";
import { type HasPointers, type HasSerializer, type Serializer, StructReader, StructWriter } from "../../struct.js";
import { type IovecList, splitAt } from "../uio.js";
import { MSG, type Sockaddr } from "./index.js";

const M = layouts.msghdr;
const C = layouts.cmsghdr;
const align = (n: number) => Math.ceil(n / 8) * 8;

/** A control message we do not interpret: its level, type and data. */
export class Cmsg {
  constructor(
    /** `cmsg_level`: the protocol it belongs to (`SOL.SOCKET`, `IPPROTO.IP`, ...). */
    readonly level: number,
    /** `cmsg_type`, which the level gives meaning to. */
    readonly type: number,
    /** The data after the header, unpadded. */
    readonly data: Buffer,
  ) {}
}

/** SCM_RIGHTS: file descriptors to pass. Received ones are handles in the receiving task. */
export class CmsgSCMRights<F extends BaseFileDescriptor = BaseFileDescriptor> {
  constructor(
    /** The fds to send, or the handles received (in the task that read the message). */
    readonly fds: readonly F[],
  ) {}
}

/** The control messages of one sendmsg or recvmsg. Allocate room with `malloc(CmsgList, size)`. */
export class CmsgList<F extends BaseFileDescriptor = BaseFileDescriptor> implements HasSerializer {
  constructor(
    /** The messages, in order. */
    readonly messages: readonly (Cmsg | CmsgSCMRights<F>)[],
  ) {}

  getSelfSerializer(task: BaseTask): Serializer<this> {
    return CmsgList.getSerializer(task) as Serializer<this>;
  }

  /** The serializer `malloc(CmsgList)` uses: how its bytes become a CmsgList and back. */
  static getSerializer<T extends BaseTask>(task: T): Serializer<CmsgList<T["_fd"]>> {
    return {
      toBytes(list) {
        const parts = list.messages.map((m) => {
          const data =
            m instanceof CmsgSCMRights
              ? Buffer.from(new Int32Array(m.fds.map((fd) => fd.borrow(task))).buffer)
              : m.data;
          const level = m instanceof CmsgSCMRights ? gen.SOL.SOCKET : m.level;
          const type = m instanceof CmsgSCMRights ? gen.SCM.RIGHTS : m.type;
          const header = new StructWriter(C, align(C.size + data.length));
          header
            .uint("cmsg_len", C.size + data.length)
            .int("cmsg_level", level)
            .int("cmsg_type", type);
          header.bytes.set(data, C.size);
          return header.bytes;
        });
        return Buffer.concat(parts);
      },
      fromBytes(bytes) {
        const messages: (Cmsg | CmsgSCMRights<T["_fd"]>)[] = [];
        for (let off = 0; off + C.size <= bytes.length; ) {
          const r = new StructReader(bytes.subarray(off), C);
          const len = r.uint("cmsg_len");
          if (len < C.size || off + len > bytes.length) break;
          const data = bytes.subarray(off + C.size, off + len);
          const level = r.int("cmsg_level");
          const type = r.int("cmsg_type");
          if (level === gen.SOL.SOCKET && type === gen.SCM.RIGHTS) {
            const fds = [];
            for (let i = 0; i + 4 <= data.length; i += 4) fds.push(task.makeFd(asFd(data.readInt32LE(i))));
            messages.push(new CmsgSCMRights(fds));
          } else {
            messages.push(new Cmsg(level, type, Buffer.from(data)));
          }
          off += align(len);
        }
        return new CmsgList(messages);
      },
    };
  }
}

/** `struct msghdr` for sendmsg: the data (an IovecList), control messages, and an address. */
export class SendMsghdr<T> implements HasSerializer, HasPointers {
  constructor(
    /** The buffers whose bytes are sent, in order. */
    readonly iov: WrittenPointer<IovecList<T>>,
    /** Control messages to send with the data (SCM_RIGHTS fds). */
    readonly control?: WrittenPointer<CmsgList>,
    /** Where to send, for an unconnected socket. */
    readonly name?: WrittenPointer<Sockaddr>,
  ) {}

  pointers(): Iterable<Pointer<unknown>> {
    return msghdrPointers(this.iov, this.control, this.name);
  }

  getSelfSerializer(task: BaseTask): Serializer<this> {
    return msghdrSerializer(task, this.iov, this.control, this.name);
  }
}

/** `struct msghdr` for recvmsg: buffers for the data, room for control messages and an address. */
export class RecvMsghdr<T, F extends BaseFileDescriptor = BaseFileDescriptor> implements HasSerializer, HasPointers {
  /** After recvmsg, read back from memory: the lengths the kernel used, and msg_flags. */
  received?: {
    /** How many bytes of `name` the sender's address took. */
    namelen: number;
    /** How many bytes of `control` the control messages took. */
    controllen: number;
    /** msg_flags: MSG.TRUNC, MSG.CTRUNC, ... */
    flags: number;
  };

  constructor(
    /** The buffers the data is received into, in order. */
    readonly iov: WrittenPointer<IovecList<T>>,
    /** Room for control messages (`malloc(CmsgList, size)`). */
    readonly control?: Pointer<CmsgList<F>>,
    /** Room for the sender's address. */
    readonly name?: Pointer<Sockaddr>,
  ) {}

  pointers(): Iterable<Pointer<unknown>> {
    return msghdrPointers(this.iov, this.control, this.name);
  }

  getSelfSerializer(task: BaseTask): Serializer<this> {
    const written = msghdrSerializer<this>(task, this.iov, this.control, this.name);
    return {
      toBytes: written.toBytes,
      fromBytes: (bytes) => {
        const r = new StructReader(bytes, M);
        const out = new RecvMsghdr(this.iov, this.control, this.name);
        out.received = {
          namelen: r.uint("msg_namelen"),
          controllen: r.uint("msg_controllen"),
          flags: r.int("msg_flags"),
        };
        return out as this;
      },
    };
  }
}

function msghdrPointers(...pointers: (Pointer<unknown> | undefined)[]): Pointer<unknown>[] {
  return pointers.filter((p): p is Pointer<unknown> => p !== undefined);
}

function msghdrSerializer<M>(
  task: BaseTask,
  iov: WrittenPointer<IovecList<unknown>>,
  control?: Pointer<unknown>,
  name?: Pointer<unknown>,
): Serializer<M> {
  return {
    toBytes: () =>
      new StructWriter(M)
        .uint("msg_name", name ? name.addressIn(task) : 0)
        .uint("msg_namelen", name ? name.size() : 0)
        .uint("msg_iov", iov.addressIn(task))
        .uint("msg_iovlen", iov.value.buffers.length)
        .uint("msg_control", control ? control.addressIn(task) : 0)
        .uint("msg_controllen", control ? control.size() : 0).bytes,
    fromBytes() {
      throw new TypeError("a msghdr is read back through recvmsg's result");
    },
  };
}

/** What `recvmsg` gives back: the filled buffers, the rest, control messages and flags. */
export interface Received<T, F extends BaseFileDescriptor = BaseFileDescriptor> {
  /** The buffers the data filled, and the rest (a buffer on the boundary split between them). */
  filled: ReadablePointer<T>[];
  /** The buffers (or the part of one) the data did not reach, to reuse or free. */
  rest: Pointer<T>[];
  /** The control messages received, to read once: reading makes the handles of passed fds. */
  control: LinearPointer<CmsgList<F>> | undefined;
  /** msg_flags: MSG.TRUNC, MSG.CTRUNC, ... */
  flags: number;
}

/**
 * The `<sys/socket.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.sendmsg(...)`.
 */
export class MsgFileDescriptor extends BaseFileDescriptor {
  /**
   * `ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags)`: send data and control
   * messages. Consumes the data buffers and returns them split into [sent, rest].
   * @see https://man7.org/linux/man-pages/man2/sendmsg.2.html
   */
  async sendmsg<T>(msg: WrittenPointer<SendMsghdr<T>>, flags: MSG = 0 as MSG): Promise<[Pointer<T>[], Pointer<T>[]]> {
    checkPointer("msg", msg, true);
    checkInt("flags", flags);
    const task = this.task;
    const n = await withContext(raw.sendmsg(task.sysif, this.borrow(task), msg.borrow(task), flags), { fd: this.near });
    return splitAt(
      msg.value.iov.value.buffers,
      n,
      (p) => p,
      (p, k) => p.split(k),
    );
  }

  /**
   * `ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags)`, as
   * `recvmsg(sockfd, msg, flags | MSG_CMSG_CLOEXEC)`: receive data and control messages; passed fds
   * arrive close-on-exec.
   * @see https://man7.org/linux/man-pages/man2/recvmsg.2.html
   */
  async recvmsg<T, F extends BaseFileDescriptor>(
    msg: WrittenPointer<RecvMsghdr<T, F>>,
    flags: MSG = 0 as MSG,
  ): Promise<Received<T, F>> {
    checkPointer("msg", msg, true);
    checkInt("flags", flags);
    const task = this.task;
    const n = await withContext(
      raw.recvmsg(task.sysif, this.borrow(task), msg.borrow(task), flags | MSG.CMSG_CLOEXEC),
      { fd: this.near },
    );
    // The kernel wrote the lengths it used back into the msghdr.
    const out = await msg.read();
    const controllen = out.received?.controllen ?? 0;
    const [filled, rest] = splitAt(
      msg.value.iov.value.buffers,
      n,
      (p) => p.filled(),
      (p, k) => p.readableSplit(k),
    );
    let control: LinearPointer<CmsgList<F>> | undefined;
    if (msg.value.control) {
      const [used, unused] = msg.value.control.split(Math.min(controllen, msg.value.control.size()));
      unused.free();
      control = linearize(used);
    }
    return { filled, rest, control, flags: out.received?.flags ?? 0 };
  }
}
