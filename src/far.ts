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
    readonly expected: Namespace,
    readonly actual: Namespace,
  ) {
    super(`${what} belongs to ${expected} but was used through a task in ${actual}`);
    this.name = new.target.name;
  }
}
export class FDTableMismatchError extends NamespaceMismatchError {}
export class AddressSpaceMismatchError extends NamespaceMismatchError {}
export class PidNamespaceMismatchError extends NamespaceMismatchError {}
