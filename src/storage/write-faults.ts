/** The kinds of disk failure {@link WriteFaults} can imitate. */
export type WriteFaultCode = "ENOSPC" | "EIO";

const MESSAGES: Record<WriteFaultCode, string> = {
  ENOSPC: "IO error: 000005.log: No space left on device",
  EIO: "IO error: 000005.log: Input/output error",
};

/**
 * A test seam for LevelStore: makes the next N writes fail the way classic-level reports a full or
 * failing disk (`LEVEL_IO_ERROR` with the OS error text) before they reach LevelDB. Pass it as
 * `LevelStore.open(location, { faults })` or `startDaemon({ storeFaults })`.
 */
export class WriteFaults {
  #remaining = 0;
  #code: WriteFaultCode = "ENOSPC";
  /** Writes that failed because of this seam. */
  failed = 0;

  /** Makes the next `count` writes fail with `code`. */
  failNextWrites(count: number, code: WriteFaultCode = "ENOSPC"): void {
    this.#remaining = count;
    this.#code = code;
  }

  /** Called by LevelStore before each write; throws when a failure is due. */
  beforeWrite(): void {
    if (this.#remaining <= 0) return;
    this.#remaining--;
    this.failed++;
    const err = new Error(MESSAGES[this.#code]) as Error & { code: string };
    err.code = "LEVEL_IO_ERROR";
    throw err;
  }
}
