// Misuse that must not compile. `tsc -p test/types` (part of `npm test`) fails if a line under an
// expect-error directive compiles, so each of these stays a type error.
import {
  Command,
  type FileDescriptor,
  type Pointer,
  type ReadablePointer,
  localThread as thr,
  type WrittenPointer,
} from "rsyscall";
import { O } from "rsyscall/fcntl";
import { SIG } from "rsyscall/signal";
import { Int32 } from "rsyscall/struct";
import { AF, SHUT, SOCK } from "rsyscall/sys/socket";
import { SEEK } from "rsyscall/unistd";

declare const fd: FileDescriptor;
declare function needsBuffer(p: Pointer<Buffer>): void;
declare function needsWritten(p: WrittenPointer<string>): void;
declare function needsReadable(p: ReadablePointer<Buffer>): void;

export async function flags() {
  // @ts-expect-error an O flag where a SOCK flag is expected
  await thr.socket(AF.INET, O.CLOEXEC);
  // @ts-expect-error a SOCK flag where an AF is expected
  await thr.socket(SOCK.STREAM, SOCK.STREAM);
  // @ts-expect-error `|` gives a plain number: combine with O.of
  await thr.task.open(await thr.ptr("/x"), O.RDONLY | O.CLOEXEC);
  // @ts-expect-error a signal where a SHUT value is expected
  await fd.shutdown(SIG.TERM);
  // @ts-expect-error a plain number where SEEK is expected
  await fd.lseek(0, 0);
  // These compile:
  await thr.task.open(await thr.ptr("/x"), O.of(O.RDONLY, O.CLOEXEC));
  await thr.socket(AF.INET, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK));
  await fd.shutdown(SHUT.RD);
  await fd.lseek(0, SEEK.SET);
}

export async function pointers() {
  const int = await thr.malloc(Int32);
  // @ts-expect-error a Pointer<Int32> where a Pointer<Buffer> is needed
  needsBuffer(int);
  needsBuffer(await thr.malloc(Buffer, 8));

  const [filled] = await fd.read(await thr.malloc(Buffer, 8));
  // @ts-expect-error writing a string to a ReadablePointer<Buffer>
  await filled.write("text");
  await filled.write(Buffer.from("ok"));
  needsReadable(filled);
  // @ts-expect-error a plain Pointer where a ReadablePointer is needed
  needsReadable(await thr.malloc(Buffer, 8));

  // @ts-expect-error a plain Pointer where a WrittenPointer is required
  needsWritten(await thr.malloc(String, 10));
  // @ts-expect-error a plain Pointer as a path, which must be written
  await thr.task.open(await thr.malloc(String, 10), O.RDONLY);
  needsWritten(await thr.ptr("written"));

  // @ts-expect-error a WrittenPointer<Int32> as a path
  await thr.task.open(await thr.ptr(new Int32(1)), O.RDONLY);
}

export async function runOutput() {
  // Captured output is a string by default, a Buffer with encoding "buffer".
  const text: string | undefined = (await thr.run("ls", [], { stdio: "pipe" })).stdout;
  const bytes: Buffer | undefined = (await thr.run("ls", [], { stdio: "pipe", encoding: "buffer" })).stdout;
  // @ts-expect-error with encoding "buffer" the output is not a string
  const notText: string | undefined = (await thr.run("ls", [], { encoding: "buffer" })).stdout;
  // @ts-expect-error an fd number is not a stdio setting (a FileDescriptor is)
  await thr.run("ls", [], { stdio: ["inherit", 1] });
  // @ts-expect-error a Command takes no separate arguments
  await thr.spawn(new Command("/bin/ls", ["ls"]), ["-l"]);
  return [text, bytes, notText];
}
