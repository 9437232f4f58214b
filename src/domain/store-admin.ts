import type { StoreStatus } from "./store";
import type { IntegrityReport } from "./store-integrity";

/** The store as the operator sees it: its status plus the identity of the store in the state dir. */
export interface StoreState extends StoreStatus {
  /** The state directory. */
  home: string;
  /** Random id of this store (from `<home>/store.json`). */
  storeId: string;
  /** Bumped by every reset, repair and restore. */
  generation: number;
  createdAtMs: number;
  gatewayId: string;
}

/**
 * StoreAdmin is what the operator's AdminService needs from the daemon's store: its state, a
 * consistent snapshot as backup-file bytes, and an integrity check. The daemon composes it from the
 * storage adapter.
 */
export interface StoreAdmin {
  /** Current state; cheap. */
  state(): StoreState;
  /** The backup file of one consistent snapshot, in chunks. Throws UnavailableError on read failure. */
  backup(): AsyncIterable<Buffer>;
  /** Reads everything and checks every invariant. Throws UnavailableError on read failure. */
  verify(): Promise<IntegrityReport>;
}
