import { asciiTrim, DEFAULT_ACCOUNT, normalizeSenderId, resolveChannel, SUPPORTED_CHANNELS } from "./channels";
import { InvalidArgumentError } from "./errors";

/** What happens to direct messages from senders not on the allowlist. */
export type DmPolicyName = "pairing" | "allowlist" | "open" | "disabled";

/** Policy settings of one channel or account, as written in config (entries not yet normalized). */
export interface DmPolicyInput {
  dmPolicy?: DmPolicyName | undefined;
  allowFrom?: readonly string[] | undefined;
}

/** Policy settings of one channel with optional per-account overrides. */
export interface ChannelPolicyInput extends DmPolicyInput {
  accounts?: Readonly<Record<string, DmPolicyInput>> | undefined;
}

/** The effective policy of one channel account. */
export interface AccountPolicy {
  readonly policy: DmPolicyName;
  /** Normalized config allowFrom entries, in config order; may contain "*". */
  readonly allowFrom: readonly string[];
  /** Fast membership test over `allowFrom`. */
  readonly allowSet: ReadonlySet<string>;
  /** The config path this policy comes from, for messages (e.g. "channels.telegram.accounts.work"). */
  readonly configPath: string;
}

/**
 * DmPolicies resolves the effective policy of any channel account. An account inherits its channel's
 * `dmPolicy` and `allowFrom` unless it sets its own; a channel without config uses "pairing" with an
 * empty allowFrom.
 */
export class DmPolicies {
  readonly #byScope = new Map<string, AccountPolicy>();
  readonly #channelDefaults = new Map<string, AccountPolicy>();

  /**
   * Builds the policies from config input. Throws InvalidArgumentError whose `field` is the config path
   * of the offending entry (an unknown channel, a malformed allowFrom entry, "open" without "*", or "*"
   * under a policy other than "open").
   */
  constructor(channels: Readonly<Record<string, ChannelPolicyInput | undefined>> = {}) {
    for (const [name, input] of Object.entries(channels)) {
      if (input === undefined) continue;
      const path = `channels.${name}`;
      let spec;
      try {
        spec = resolveChannel(name);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message, path);
      }
      if (spec.id !== name) throw new InvalidArgumentError(`channel names are lower case: use "${spec.id}"`, path);
      const channelPolicy = build(name, input, undefined, path);
      this.#channelDefaults.set(name, channelPolicy);
      for (const [rawAccount, accountInput] of Object.entries(input.accounts ?? {})) {
        const accountPath = `${path}.accounts.${rawAccount}`;
        if (!/^[a-z0-9_-]{1,64}$/.test(rawAccount)) {
          throw new InvalidArgumentError("account ids must match [a-z0-9_-]{1,64}", accountPath);
        }
        this.#byScope.set(name + "/" + rawAccount, build(name, accountInput, channelPolicy, accountPath));
      }
    }
  }

  /** The effective policy of `channel` (already resolved) and `accountId` (already normalized). */
  resolve(channel: string, accountId: string): AccountPolicy {
    return this.#byScope.get(channel + "/" + accountId) ?? this.#channelDefaults.get(channel) ?? DEFAULT_POLICY;
  }

  /** Every channel account named in config plus each channel's default account. */
  configuredScopes(): Array<{ channel: string; accountId: string }> {
    const out = SUPPORTED_CHANNELS.map((channel) => ({ channel, accountId: DEFAULT_ACCOUNT }));
    for (const key of this.#byScope.keys()) {
      const [channel = "", accountId = ""] = key.split("/");
      if (accountId !== DEFAULT_ACCOUNT) out.push({ channel, accountId });
    }
    return out;
  }
}

const DEFAULT_POLICY: AccountPolicy = { policy: "pairing", allowFrom: [], allowSet: new Set(), configPath: "channels" };

function build(
  channel: string,
  input: DmPolicyInput,
  parent: AccountPolicy | undefined,
  path: string,
): AccountPolicy {
  const policy = input.dmPolicy ?? parent?.policy ?? "pairing";
  let allowFrom: string[];
  if (input.allowFrom === undefined) {
    allowFrom = [...(parent?.allowFrom ?? [])];
  } else {
    const spec = resolveChannel(channel);
    allowFrom = input.allowFrom.map((entry, i) => {
      if (asciiTrim(entry) === "*") return "*";
      try {
        return normalizeSenderId(spec, entry);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message, `${path}.allowFrom[${i}]`);
      }
    });
  }
  const hasWildcard = allowFrom.includes("*");
  if (policy === "open" && !hasWildcard) {
    throw new InvalidArgumentError(
      `dmPolicy "open" requires ${path}.allowFrom to include "*" (or use dmPolicy "pairing")`,
      `${path}.allowFrom`,
    );
  }
  if (policy !== "open" && hasWildcard) {
    throw new InvalidArgumentError(
      `"*" in ${path}.allowFrom would let everyone in; it is only allowed with dmPolicy "open"`,
      `${path}.allowFrom`,
    );
  }
  return { policy, allowFrom, allowSet: new Set(allowFrom), configPath: path };
}
