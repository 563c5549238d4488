// Errors for handles used after they stopped being valid.

/** A pointer was used after it was freed, or after an operation consumed it (write, split, merge). */
export class UseAfterFreeError extends Error {
  /** The class's name, which Node shows before the message. */
  override name = "UseAfterFreeError";
}

/** A file descriptor handle was used after it was closed or invalidated. */
export class ClosedFileDescriptorError extends Error {
  /** The class's name, which Node shows before the message. */
  override name = "ClosedFileDescriptorError";
}
