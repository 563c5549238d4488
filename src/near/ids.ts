// Raw identifiers: plain numbers that mean something only inside a namespace they do not
// know (a file descriptor number in some fd table, an address in some address space). They
// are branded so that an fd number cannot be passed where an address is expected.

/** A file descriptor number. */
export type Fd = number & { readonly __near: "Fd" };
/** A process id, in some pid namespace. */
export type Pid = number & { readonly __near: "Pid" };
/** A virtual address, in some address space. */
export type Address = number & { readonly __near: "Address" };

/** An inotify watch descriptor, in some inotify instance. */
export type WatchDescriptor = number & {
  /** The brand; no such property exists at run time. */
  readonly __near: "WatchDescriptor";
};

export const asFd = (n: number): Fd => n as Fd;
export const asPid = (n: number): Pid => n as Pid;
export const asAddress = (n: number): Address => n as Address;
