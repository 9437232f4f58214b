import { MemoryLevel } from "memory-level";
import type { AbstractDb } from "../../src/storage/level-store";
import { LevelStore } from "../../src/storage/level-store";
import { LevelSharedStore } from "../../src/storage/level-shared-store";

/** A LevelStore over memory-level: the same adapter code as production, no disk. */
export async function memoryStore(): Promise<LevelStore> {
  return LevelStore.fromDb(new MemoryLevel<string, unknown>({ valueEncoding: "json" }) as unknown as AbstractDb);
}

/** The domain's store port over memory-level: the embedded adapter the daemon uses, no disk. */
export async function memorySharedStore(): Promise<LevelSharedStore> {
  return LevelSharedStore.fromDb(new MemoryLevel<string, unknown>({ valueEncoding: "json" }) as unknown as AbstractDb);
}
