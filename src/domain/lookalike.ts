/**
 * Lookalike detection for what the owner reads before approving: the UTS #39 mixed-script rule
 * (a string's letters must share one script, where Han may go with Hiragana/Katakana (Japanese),
 * Hangul (Korean) or Bopomofo), whole-script confusables (a string written only in Cyrillic or Greek
 * letters that look like Latin ones, "аре"), and compatibility characters NFKC folds onto plain
 * letters (fullwidth "Ａ", mathematical "𝐀", ligatures "ﬃ", the Kelvin sign, long s "ſ").
 */

/** Scripts told apart by name; letters of any other script count as one "other" script each. */
const SCRIPTS = [
  "Latin", "Greek", "Cyrillic", "Armenian", "Georgian", "Hebrew", "Arabic", "Syriac", "Thaana", "Devanagari",
  "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada", "Malayalam", "Sinhala", "Thai", "Lao",
  "Tibetan", "Myanmar", "Khmer", "Mongolian", "Ethiopic", "Cherokee", "Hangul", "Hiragana", "Katakana", "Bopomofo", "Han",
] as const;
const SCRIPT_RE = SCRIPTS.map((name) => [name, new RegExp(`^\\p{Script=${name}}$`, "u")] as const);
const NEUTRAL = /^[\p{Script=Common}\p{Script=Inherited}]$/u;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/** UTS #39 augmented script sets: Han, Hiragana, Katakana, Hangul and Bopomofo combine as Jpan, Kore, Hanb. */
const AUGMENTED: Record<string, readonly string[]> = {
  Han: ["Han", "Jpan", "Kore", "Hanb"],
  Hiragana: ["Hiragana", "Jpan"],
  Katakana: ["Katakana", "Jpan"],
  Hangul: ["Hangul", "Kore"],
  Bopomofo: ["Bopomofo", "Hanb"],
};

/** Cyrillic and Greek letters that look like Latin ones (from Unicode confusables.txt). */
const LATIN_LOOKALIKES = new Set(
  "аАвВсСеЕһҺіІјЈкКмМнНоОрРѕЅтТуУхХԁԛԜԝӏɡ" + "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧανικορτυχ",
);

function scriptOf(ch: string): string | undefined {
  if (!LETTER_OR_DIGIT.test(ch) || NEUTRAL.test(ch)) return undefined;
  for (const [name, re] of SCRIPT_RE) if (re.test(ch)) return name;
  return `other:${ch.codePointAt(0)!.toString(16)}`;
}

/** Why `text` could pass for another string, or undefined; `field` names it in the message. */
export function lookalikeReason(field: string, text: string): string | undefined {
  // Pure printable ASCII is one script with no compatibility forms: the common case costs one test.
  if (/^[\x20-\x7e]*$/.test(text)) return undefined;
  const scripts = new Set<string>();
  for (const ch of text) {
    const s = scriptOf(ch);
    if (s !== undefined) scripts.add(s);
  }
  if (scripts.size > 1) {
    let common: string[] | undefined;
    for (const s of scripts) {
      const set = AUGMENTED[s] ?? [s];
      common = common === undefined ? [...set] : common.filter((x) => set.includes(x));
    }
    if (common === undefined || common.length === 0) {
      const names = [...scripts].map((s) => (s.startsWith("other:") ? `U+${s.slice(6).toUpperCase()}` : s)).sort();
      return `${field} mixes ${names.join(" and ")}`;
    }
  }
  if (scripts.size === 1 && (scripts.has("Cyrillic") || scripts.has("Greek"))) {
    const letters = [...text].filter((c) => LETTER_OR_DIGIT.test(c) && !NEUTRAL.test(c));
    if (letters.length > 0 && letters.every((c) => LATIN_LOOKALIKES.has(c))) {
      return `${field} is written only in ${[...scripts][0]} letters that look like Latin ones`;
    }
  }
  if (text.normalize("NFKC") !== text) {
    return `${field} holds compatibility characters (fullwidth, ligature, letterlike or mathematical forms)`;
  }
  return undefined;
}

/**
 * The lookalike warning of a pending request: every reason found in its sender id and display
 * meta, joined by "; "; "" when there is none.
 */
export function lookalikeWarning(senderId: string, meta: Readonly<Record<string, string>>): string {
  const reasons: string[] = [];
  const id = lookalikeReason("sender_id", senderId);
  if (id !== undefined) reasons.push(id);
  for (const [key, value] of Object.entries(meta)) {
    const r = lookalikeReason(`sender_meta.${key}`, value) ?? lookalikeReason(`sender_meta key ${JSON.stringify(key)}`, key);
    if (r !== undefined) reasons.push(r);
  }
  return reasons.join("; ");
}
