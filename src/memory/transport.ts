// Memory transports: how bytes reach a task's memory. For an address space we share (the Node
// process, and CLONE_VM children), a memcpy through the addon.
import type { MemoryGateway } from "../handle/pointer.js";
import { native } from "../native.js";
import type { Address } from "../near/ids.js";

export class LocalMemoryGateway implements MemoryGateway {
  read(address: Address, length: number): Promise<Buffer> {
    return Promise.resolve(native.memRead(address, length));
  }

  write(address: Address, bytes: Uint8Array): Promise<void> {
    native.memWrite(address, bytes);
    return Promise.resolve();
  }
}

/** The one gateway for our own address space. */
export const localMemory = new LocalMemoryGateway();
