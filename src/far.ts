// Namespace identities. A near id (an fd number, an address, a pid) means something only
// inside one of these; handles carry the namespace they were made in, and every use through
// another task is checked against it before any syscall. Identities compare by object
// identity: two tables are the same only if they are the same object.

let nextId = 1;

abstract class Namespace {
  /** A serial number, for messages. */
  readonly id = nextId++;
  /** The pid (in our namespace) of the process that made this namespace, for messages. */
  constructor(readonly creatorPid: number) {}
  toString(): string {
    return `${this.constructor.name}#${this.id}(made by pid ${this.creatorPid})`;
  }
}

/** A file descriptor table (shared by CLONE_FILES, replaced at exec and unshare(CLONE_FILES)). */
export class FDTable extends Namespace {}
/** An address space (shared by CLONE_VM, replaced at exec). */
export class AddressSpace extends Namespace {}
/** A pid namespace (replaced for children by CLONE_NEWPID). */
export class PidNamespace extends Namespace {}
/** A mount namespace (replaced by CLONE_NEWNS). */
export class MountNamespace extends Namespace {}

/** A handle was used through a task in another namespace than the one it belongs to. */
export class NamespaceMismatchError extends Error {
  constructor(
    what: string,
    /** The namespace the handle belongs to. */
    readonly expected: Namespace,
    /** The namespace of the task it was used through. */
    readonly actual: Namespace,
  ) {
    super(`${what} belongs to ${expected} but was used through a task in ${actual}`);
    this.name = new.target.name;
  }
}
/** An fd handle was used through a task with another fd table: its number means another file there. */
export class FDTableMismatchError extends NamespaceMismatchError {}
/** A pointer was used through a task in another address space: its address is not that memory there. */
export class AddressSpaceMismatchError extends NamespaceMismatchError {}
/** A pid was used through a task in another pid namespace, where it names another process or none. */
export class PidNamespaceMismatchError extends NamespaceMismatchError {}
