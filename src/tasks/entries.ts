// Where the native entry points (the server loop, the clone trampoline, the futex helper, the exec
// stub) are in each address space: in Node's, and in its copies made by fork, where the addon put
// them; in a process running the rsyscall-server program, where its hello said (ASLR).
import type { AddressSpace } from "../far.js";
import { native } from "../native.js";

export interface Entries {
  server: number;
  trampoline: number;
  futexHelper: number;
  execStub: number;
}

/** The addon's, in the Node process (and in every copy of its address space). */
export const localEntries: Entries = {
  server: native.serverAddress,
  trampoline: native.trampolineAddress,
  futexHelper: native.futexHelperAddress,
  execStub: native.execStubAddress,
};

const known = new WeakMap<AddressSpace, Entries>();

/** Records where the entry points of `space` are. */
export function setEntries(space: AddressSpace, entries: Entries): void {
  known.set(space, entries);
}

/** Where the entry points of `space` are; throws if nobody said. */
export function entriesOf(space: AddressSpace): Entries {
  const entries = known.get(space);
  if (!entries) throw new Error(`the native entry points of ${space} are unknown: it cannot clone`);
  return entries;
}
