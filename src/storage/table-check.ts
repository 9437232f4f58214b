import { crc32c } from "@node-rs/crc32";
import { uncompress } from "snappyjs";

/** LevelDB's table magic number, the last 8 bytes of every `.ldb`/`.sst` file (little-endian). */
const TABLE_MAGIC = Buffer.from([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
/** Footer: two block handles padded to 40 bytes, then the magic. */
const FOOTER_SIZE = 48;
/** Every block is followed by a type byte and a masked CRC-32C. */
const TRAILER_SIZE = 5;

/** One block of a table file: where it is and how long its contents are (without the trailer). */
interface BlockHandle {
  offset: number;
  size: number;
}

/**
 * Checks one LevelDB table file completely: footer magic, and the CRC-32C of every block (data,
 * filter, meta index and index blocks), which must tile the file without gaps. LevelDB itself only
 * checks these when `paranoid_checks`/`verify_checksums` are on, which classic-level does not expose,
 * so a flipped byte would otherwise be served (or silently hide keys). Returns a problem description,
 * or undefined when the file is intact.
 */
export function checkTable(bytes: Buffer): string | undefined {
  if (bytes.length < FOOTER_SIZE) return `file is ${bytes.length} bytes, shorter than a table footer`;
  const footerAt = bytes.length - FOOTER_SIZE;
  if (!bytes.subarray(bytes.length - 8).equals(TABLE_MAGIC)) return "bad table magic number (truncated or overwritten footer)";
  const footer = new Cursor(bytes, footerAt, bytes.length - 8);
  const metaindex = footer.handle();
  const index = footer.handle();
  if (metaindex === undefined || index === undefined) return "malformed footer";

  const blocks: BlockHandle[] = [metaindex, index];
  for (const h of [metaindex, index]) {
    const problem = checkBlock(bytes, h, footerAt);
    if (problem !== undefined) return problem;
    const contents = blockContents(bytes, h);
    if (typeof contents === "string") return contents;
    const handles = blockValues(contents);
    if (typeof handles === "string") return `${h === index ? "index" : "meta index"} block: ${handles}`;
    blocks.push(...handles);
  }
  blocks.sort((a, b) => a.offset - b.offset);
  let expected = 0;
  for (const h of blocks) {
    if (h.offset !== expected) return `blocks do not tile the file (gap or overlap at byte ${expected})`;
    const problem = checkBlock(bytes, h, footerAt);
    if (problem !== undefined) return problem;
    expected = h.offset + h.size + TRAILER_SIZE;
  }
  if (expected !== footerAt) return `blocks end at byte ${expected}, footer starts at ${footerAt}`;
  return undefined;
}

function checkBlock(bytes: Buffer, h: BlockHandle, limit: number): string | undefined {
  const end = h.offset + h.size;
  if (end + TRAILER_SIZE > limit) return `block at byte ${h.offset} runs past the end of the file`;
  const expected = unmaskCrc(bytes.readUInt32LE(end + 1));
  if (crc32c(bytes.subarray(h.offset, end + 1)) !== expected) return `checksum mismatch in block at byte ${h.offset}`;
  return undefined;
}

/** The (decompressed) contents of a block whose checksum was checked. */
function blockContents(bytes: Buffer, h: BlockHandle): Buffer | string {
  const raw = bytes.subarray(h.offset, h.offset + h.size);
  const type = bytes[h.offset + h.size];
  if (type === 0) return raw;
  if (type === 1) {
    try {
      return Buffer.from(uncompress(new Uint8Array(raw)));
    } catch {
      return `undecodable compressed block at byte ${h.offset}`;
    }
  }
  return `unknown block type ${String(type)} at byte ${h.offset}`;
}

/** Decodes the values of a block (index and meta index values are block handles). */
function blockValues(block: Buffer): BlockHandle[] | string {
  if (block.length < 4) return "block too short";
  const restarts = block.readUInt32LE(block.length - 4);
  const dataEnd = block.length - 4 - restarts * 4;
  if (restarts === 0 || dataEnd < 0) return "bad restart array";
  const c = new Cursor(block, 0, dataEnd);
  const out: BlockHandle[] = [];
  while (c.pos < dataEnd) {
    const shared = c.varint();
    const unshared = c.varint();
    const valueLength = c.varint();
    if (shared === undefined || unshared === undefined || valueLength === undefined) return "malformed entry";
    c.pos += unshared;
    const value = new Cursor(block, c.pos, c.pos + valueLength);
    const h = value.handle();
    if (h === undefined) return "malformed block handle";
    out.push(h);
    c.pos += valueLength;
  }
  return c.pos === dataEnd ? out : "entries overrun the restart array";
}

class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}
  varint(): number | undefined {
    let result = 0;
    for (let shift = 0; shift <= 49 && this.pos < this.end; shift += 7) {
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    return undefined;
  }
  handle(): BlockHandle | undefined {
    const offset = this.varint();
    const size = this.varint();
    return offset === undefined || size === undefined ? undefined : { offset, size };
  }
}

/** LevelDB's unmasking of a stored CRC (it masks CRCs so that CRCs of CRCs stay strong). */
function unmaskCrc(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

/** The live table files of an open database: number and size, from LevelDB's `leveldb.sstables` property. */
export function liveTables(sstablesProperty: string): { number: number; size: number }[] {
  const out: { number: number; size: number }[] = [];
  for (const m of sstablesProperty.matchAll(/^\s*(\d+):(\d+)\[/gm)) out.push({ number: Number(m[1]), size: Number(m[2]) });
  return out;
}
