/**
 * The operator-socket subset of the client (what the `pairgate` CLI needs): the same exports as
 * index.ts minus the node gateway client and signed payloads, so a CLI call loads fewer modules.
 */
export { PairgateClient } from "./pairgate-client";
export { PairgateError, InvalidArgumentError } from "./errors";
export { Decision } from "../../src/gen/pairgate/v1/dm_access_service";
export { CallerRole, DmPolicy, NotifyStatus, PairingEventType, SenderSource } from "../../src/gen/pairgate/v1/dm_pairing_service";
export { NodeEventType, NodeTokenState } from "../../src/gen/pairgate/v1/node_admin_service";
