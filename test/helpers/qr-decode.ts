import jsQR from "jsqr";
import { PNG } from "pngjs";

/** Decodes a QR code from RGBA pixels with jsQR (a maintained decoder); undefined when none is found. */
function decodePixels(data: Uint8ClampedArray, width: number, height: number): string | undefined {
  return jsQR(data, width, height, { inversionAttempts: "attemptBoth" })?.data;
}

/** Decodes the QR code of a PNG file's bytes. */
export function decodePngQr(png: Buffer): string | undefined {
  const image = PNG.sync.read(png);
  return decodePixels(new Uint8ClampedArray(image.data), image.width, image.height);
}

/**
 * Decodes a QR code drawn with Unicode half blocks (two modules per character: "█" both filled,
 * "▀" top, "▄" bottom, " " none), as `pairgate nodes invite` prints it. Filled halves are drawn light,
 * as on a dark terminal; each module becomes `scale`×`scale` pixels.
 */
export function decodeTerminalQr(text: string, scale = 4): string | undefined {
  const lines = text.split("\n").filter((l) => l.length > 0 && /^[█▀▄ ]+$/.test(l));
  if (lines.length === 0) return undefined;
  const width = Math.max(...lines.map((l) => [...l].length));
  const rows: boolean[][] = [];
  for (const line of lines) {
    const chars = [...line.padEnd(width, " ")];
    rows.push(chars.map((c) => c === "█" || c === "▀"));
    rows.push(chars.map((c) => c === "█" || c === "▄"));
  }
  const w = width * scale;
  const h = rows.length * scale;
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const light = rows[Math.floor(y / scale)]![Math.floor(x / scale)]!;
      const i = (y * w + x) * 4;
      data[i] = data[i + 1] = data[i + 2] = light ? 255 : 0;
      data[i + 3] = 255;
    }
  }
  return decodePixels(data, w, h);
}
