import { MemoryLevel } from "memory-level";
import type { AbstractDb } from "../../src/storage/level-store";
import { LevelStore } from "../../src/storage/level-store";

/** A LevelStore over memory-level: the same adapter code as production, no disk. */
export async function memoryStore(): Promise<LevelStore> {
  return LevelStore.fromDb(new MemoryLevel<string, unknown>({ valueEncoding: "json" }) as unknown as AbstractDb);
}
