// Memory transports: how bytes reach a task's memory. For an address space we share (the Node
// process, and CLONE_VM children), a memcpy through a view of the mapping: each mapping gets one
// ArrayBuffer over its memory (made by the addon, never freed by V8), and reads and writes copy
// through it.
import type { MemoryMapping } from "../handle/mapping.js";
import type { MemoryGateway } from "../handle/pointer.js";
import { native } from "../native.js";
import type { Address } from "../near/ids.js";

export class LocalMemoryGateway implements MemoryGateway {
  readonly #views = new WeakMap<MemoryMapping, Buffer>();

  read(mapping: MemoryMapping, address: Address, length: number): Promise<Buffer> {
    const view = this.#view(mapping);
    const start = address - mapping.address;
    const out = Buffer.allocUnsafe(length);
    view.copy(out, 0, start, start + length);
    return Promise.resolve(out);
  }

  write(mapping: MemoryMapping, address: Address, bytes: Uint8Array): Promise<void> {
    this.#view(mapping).set(bytes, address - mapping.address);
    return Promise.resolve();
  }

  #view(mapping: MemoryMapping): Buffer {
    if (!mapping.mapped) throw new Error(`${mapping} was unmapped`);
    let view = this.#views.get(mapping);
    if (!view) {
      view = Buffer.from(native.view(mapping.address, mapping.length));
      this.#views.set(mapping, view);
    }
    return view;
  }
}

/** The one gateway for our own address space. */
export const localMemory = new LocalMemoryGateway();
