import { GATEWAY_IDENTITY_KEY } from "../domain/gateway-identity";
import type { StoreAdmin } from "../domain/store-admin";
import { checkStoreIntegrity } from "../domain/store-integrity";
import { encodeBackup } from "./backup-file";
import type { LevelStore } from "./level-store";
import type { StoreMarker } from "./store-marker";

/** The StoreAdmin of a running daemon: state from the store and its marker, backups, verification. */
export function levelStoreAdmin(home: string, store: LevelStore, marker: StoreMarker, now: () => number): StoreAdmin {
  return {
    state: () => ({
      ...store.status(),
      home,
      storeId: marker.storeId,
      generation: marker.generation,
      createdAtMs: marker.createdAtMs,
      gatewayId: marker.gatewayId,
    }),
    backup: () => encodeBackup(store, { gatewayId: marker.gatewayId, nowMs: now() }),
    verify: async () => checkStoreIntegrity(store, await store.meta().get(GATEWAY_IDENTITY_KEY)),
  };
}
