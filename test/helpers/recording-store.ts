import { UnavailableError } from "../../src/domain/errors";
import type { SharedStore, StoreTx, TransactOptions } from "../../src/domain/shared-store";

/** One committed (or refused) transaction as {@link RecordingStore} saw it. */
export interface RecordedTransaction {
  lockKey: string;
  durable: boolean;
  ops: Array<{ type: "put" | "del"; collection: string; key: string }>;
}

/**
 * A real store with a recording, fault-injecting `transact`: it records each transaction's writes and
 * durability, and with `failNextDurable` makes the next durable transaction fail at commit like a
 * failing disk (UnavailableError, nothing committed). Everything else goes to the wrapped store.
 */
export class RecordingStore implements SharedStore {
  failNextDurable = false;
  readonly transactions: RecordedTransaction[] = [];
  /** `get <collection>` for each read in a transaction and `write` for each commit with writes. */
  readonly trace: string[] = [];

  constructor(private readonly inner: SharedStore) {}

  get tenant(): string {
    return this.inner.tenant;
  }
  get exclusive(): boolean {
    return this.inner.exclusive;
  }
  get: SharedStore["get"] = (c, k) => this.inner.get(c, k);
  getRecord: SharedStore["getRecord"] = (c, k) => this.inner.getRecord(c, k);
  entries: SharedStore["entries"] = (c, r) => this.inner.entries(c, r);
  take: SharedStore["take"] = (c, k, o) => this.inner.take(c, k, o);
  putIfAbsent: SharedStore["putIfAbsent"] = (c, k, v, o) => this.inner.putIfAbsent(c, k, v, o);
  sweep: SharedStore["sweep"] = (c, n, l, o) => this.inner.sweep(c, n, l, o);
  subscribe: SharedStore["subscribe"] = (t, l, o) => this.inner.subscribe(t, l, o);
  close: SharedStore["close"] = () => this.inner.close();

  transact<T>(lockKey: string, fn: (tx: StoreTx) => Promise<T>, options: TransactOptions = {}): Promise<T> {
    const durable = options.durable ?? true;
    return this.inner.transact(
      lockKey,
      async (tx) => {
        const record: RecordedTransaction = { lockKey, durable, ops: [] };
        const recording: StoreTx = {
          ...tx,
          get: (collection, key) => {
            this.trace.push(`get ${collection}`);
            return tx.get(collection, key);
          },
          put: (collection, key, value, o) => {
            record.ops.push({ type: "put", collection, key });
            tx.put(collection, key, value, o);
          },
          del: (collection, key) => {
            record.ops.push({ type: "del", collection, key });
            tx.del(collection, key);
          },
        };
        const result = await fn(recording);
        if (record.ops.length > 0) {
          this.transactions.push(record);
          this.trace.push("write");
        }
        if (durable && record.ops.length > 0 && this.failNextDurable) {
          this.failNextDurable = false;
          throw new UnavailableError("storage write failed", { cause: new Error("EIO (injected)") });
        }
        return result;
      },
      options,
    );
  }
}
