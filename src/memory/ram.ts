// RAM: allocation and access for one task: `malloc` for room, `ptr` for a value written there.
// Which serializer a value needs is decided above (struct.ts, thread.ts); this layer only moves
// bytes.
import {
  type MemoryGateway,
  makePointer,
  makeWrittenPointer,
  type Pointer,
  type Serializer,
  type WrittenPointer,
} from "../handle/pointer.js";
import type { Allocator, MappingTask } from "./allocator.js";

export class RAM {
  constructor(
    readonly task: MappingTask,
    readonly gateway: MemoryGateway,
    readonly allocator: Allocator,
  ) {}

  /** Allocates `size` bytes for values of `serializer`'s type; contents unspecified. */
  async malloc<T>(serializer: Serializer<T>, size: number): Promise<Pointer<T>> {
    checkSize(size);
    const allocation = this.allocator.allocateNow(size) ?? (await this.allocator.malloc(size));
    return makePointer({
      task: this.task,
      gateway: this.gateway,
      serializer,
      allocation,
      address: allocation.address,
      size,
    });
  }

  /** Allocates room for `value`, writes it there, and returns the pointer that knows it. */
  async ptr<T>(serializer: Serializer<T>, value: T): Promise<WrittenPointer<T>> {
    const placed = serializer.placed;
    const unplaced = placed ? undefined : serializer.toBytes(value);
    const size = placed ? placed.size(value) : (unplaced as Uint8Array).length;
    const allocation = this.allocator.allocateNow(size) ?? (await this.allocator.malloc(size));
    try {
      const bytes = placed ? placed.toBytesAt(value, allocation.address) : (unplaced as Uint8Array);
      await this.gateway.write(allocation.mapping, allocation.address, bytes);
    } catch (e) {
      allocation.release();
      throw e;
    }
    const parts = {
      task: this.task,
      gateway: this.gateway,
      serializer,
      allocation,
      address: allocation.address,
      size,
    };
    return makeWrittenPointer(parts, value);
  }
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TypeError(`malloc: size must be a non-negative integer, got ${String(size)}`);
  }
}
