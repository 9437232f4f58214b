/** Minimal typings of snappyjs 0.7 (pure-JS Snappy), used to read compressed LevelDB index blocks. */
declare module "snappyjs" {
  /** Decompresses a raw Snappy block; throws on malformed input. */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(input: T, maxLength?: number): T;
}
