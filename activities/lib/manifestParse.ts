/**
 * Parses a manifest's JSON as its bytes arrive, without ever holding its whole text: for 100,000
 * files the text is 24 MB, and with JSON.parse of the whole its pieces, the joined string and the
 * parsed objects were all alive at once. Why not a streaming JSON library: they tokenise every value
 * in JavaScript, several times slower than JSON.parse; here JSON.parse still does all the parsing.
 *
 * How: a top-level object's `files` array is cut into its items by tracking strings and brackets
 * (in UTF-8 the bytes `"`, `\`, brackets and commas never occur inside a multi-byte character), and
 * the items a chunk completes are parsed together as one JSON array. The rest of the object (the
 * skeleton, with `[]` in place of each `files` array) is parsed at the end, and `files` set to the
 * items. The result equals JSON.parse of the whole text (key order; of duplicate keys the last
 * wins), and a text JSON.parse refuses is refused: every byte is either given to JSON.parse or is
 * framing checked here (the whitespace, commas and brackets of a `files` array). A text that is not
 * an object is kept and given to JSON.parse whole (the caller bounds its size).
 *
 * A small text (up to WHOLE_UP_TO, read without `onItems`) is kept and given to JSON.parse whole at
 * the end: the scan is JavaScript that V8 compiles only once it is hot, and in a new process a
 * 10,000 files' manifest (2 MB) took 27-38 ms through it, 5-9 ms through JSON.parse alone.
 */

/** The size up to which a text is parsed whole by JSON.parse (see the module comment). */
const WHOLE_UP_TO = 4 * 1024 * 1024;

/** A manifest's text that is not JSON; the caller says so in its own words. */
export class ManifestJsonError extends Error {}

/** JSON's structural bytes (in UTF-8 none occurs inside a multi-byte character). */
export const JSON_BYTES = {
  QUOTE: 0x22,
  BACKSLASH: 0x5c,
  COMMA: 0x2c,
  COLON: 0x3a,
  OPEN_OBJECT: 0x7b,
  CLOSE_OBJECT: 0x7d,
  OPEN_ARRAY: 0x5b,
  CLOSE_ARRAY: 0x5d,
} as const;
const { QUOTE, BACKSLASH, COMMA, COLON, OPEN_OBJECT, CLOSE_OBJECT, OPEN_ARRAY, CLOSE_ARRAY } = JSON_BYTES;
const UNKNOWN = -2;
/** The bytes that matter inside an item: quotes and brackets. */
const ITEM_BYTES = new Uint8Array(256);
for (const b of [QUOTE, OPEN_OBJECT, CLOSE_OBJECT, OPEN_ARRAY, CLOSE_ARRAY]) ITEM_BYTES[b] = 1;
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');

type Where =
  | 'before' // whitespace only so far
  | 'whole' // not an object: every byte kept for JSON.parse
  | 'skeleton' // inside the top-level object, outside a files array
  | 'items' // inside a files array
  | 'after'; // after the top-level object: whitespace only

export class ManifestParser {
  /**
   * `onItems`: the items of a `files` array are handed to it as they are parsed and not kept (the
   * result's `files` is then empty): what needs only counts and sums holds no 100,000 objects.
   */
  constructor(
    private readonly onItems?: (items: unknown[]) => void,
    /** Texts up to this size are parsed whole (none with `onItems`; 0: every text is scanned). */
    private readonly wholeUpTo = onItems ? 0 : WHOLE_UP_TO,
  ) {
    this.small = wholeUpTo > 0 && !onItems ? [] : undefined;
  }

  /** A small text's bytes so far, kept whole for JSON.parse; undefined once scanned instead. */
  private small: Buffer[] | undefined;
  private smallLength = 0;

  private where: Where = 'before';
  /** Open brackets, innermost last (the top-level object first). */
  private readonly stack: number[] = [];
  private inString = false;
  /** In a string, the byte after a backslash (maybe in the next chunk) is escaped. */
  private escapeNext = false;
  /** Where the next backslash is in the chunk being read (-1: none), UNKNOWN before a search. */
  private backslashAt = UNKNOWN;
  /** A string at depth 1: its bytes, to know the key (`files`?); whether it is a key. */
  private stringBytes: Buffer[] | undefined;
  private stringIsKey = false;
  private lastKey: string | undefined;
  /** At depth 1: a key was read, its colon not yet; after the colon, the value's first byte is next. */
  private afterKey = false;
  private valueNext = false;
  private readonly skeleton: Buffer[] = [];
  private readonly whole: Buffer[] = [];
  private items: unknown[] = [];
  /** Whether the last `files` member is an array read as items (else the skeleton's value stands). */
  private filesStreamed = false;
  /** The top-level `files` arrays read as items so far (JSON.parse keeps the last of duplicate keys). */
  filesArrays = 0;
  /** In a files array: bytes from the first item not yet parsed, and where the last whole item ends. */
  private held: Buffer[] = [];
  private heldLength = 0;
  private heldEnd = -1;
  /** In a files array: an item is being read; a comma was read and an item must follow. */
  private inItem = false;
  private needItem = false;

  /** What was wrong with the text so far: thrown by `end`, so the caller checks the entry's hash first. */
  private problem: ManifestJsonError | undefined;

  /** Takes the next bytes; never throws (a problem is kept for `end`). */
  write(chunk: Buffer): void {
    if (this.problem) return;
    if (this.small) {
      if (this.smallLength + chunk.length <= this.wholeUpTo) {
        this.small.push(Buffer.from(chunk));
        this.smallLength += chunk.length;
        return;
      }
      // Too large to hold whole: what was kept is scanned first.
      const kept = this.small;
      this.small = undefined;
      for (const piece of kept) this.write(piece);
      this.write(chunk);
      return;
    }
    try {
      this.take(chunk);
    } catch (err) {
      if (!(err instanceof ManifestJsonError)) throw err;
      this.problem = err;
    }
  }

  private take(chunk: Buffer): void {
    const n = chunk.length;
    this.backslashAt = UNKNOWN;
    let i = 0;
    // Where in `chunk` the current run of skeleton or held item bytes starts.
    let runStart = 0;
    while (i < n) {
      if (this.where === 'whole') {
        this.whole.push(Buffer.from(chunk.subarray(i)));
        return;
      }
      if (this.inString) {
        i = this.inStringUntil(chunk, i);
        continue;
      }
      const c = chunk[i];
      if (this.where === 'before' || this.where === 'after') {
        if (isSpace(c)) {
          i += 1;
          continue;
        }
        if (this.where === 'after') throw new ManifestJsonError('bytes after the manifest object');
        if (c !== OPEN_OBJECT) {
          this.where = 'whole';
          continue;
        }
        this.where = 'skeleton';
        runStart = i;
      }
      const depth = this.stack.length;
      if (depth > 2 && this.where === 'items') {
        // Inside an item only strings and brackets matter: the bytes between go by in a tight loop.
        while (i < n && !ITEM_BYTES[chunk[i]]) i += 1;
        if (i === n) break;
      }
      const b = chunk[i];
      if (b === QUOTE) {
        this.inString = true;
        if (depth === 1) {
          this.stringBytes = [];
          this.stringIsKey = !this.valueNext && !this.afterKey;
          this.valueNext = false;
        } else if (this.where === 'items' && depth === 2) this.startItem();
        i += 1;
        continue;
      }
      if (this.where === 'items' && depth === 2) {
        // The array's own framing: its items, the commas between them, its end.
        if (b === COMMA || b === CLOSE_ARRAY) {
          if (this.inItem) {
            this.inItem = false;
            this.heldEnd = this.heldLength + (i - runStart);
          } else if (b === COMMA || this.needItem)
            throw new ManifestJsonError('an item missing in the files array');
          this.needItem = b === COMMA;
          if (b === CLOSE_ARRAY) {
            this.hold(chunk, runStart, i);
            this.parseHeld();
            this.stack.pop();
            this.where = 'skeleton';
            runStart = i; // the skeleton gets this `]`
          }
          i += 1;
          continue;
        }
        if (b === CLOSE_OBJECT) throw new ManifestJsonError('a bracket that does not match');
        if (!isSpace(b)) this.startItem();
        if (b === OPEN_OBJECT || b === OPEN_ARRAY) this.stack.push(b);
        i += 1;
        continue;
      }
      if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
        const ofFiles = depth === 1 && this.valueNext && this.lastKey === 'files';
        this.valueNext = false;
        this.stack.push(b);
        if (ofFiles && b === OPEN_ARRAY) {
          // The skeleton gets `[` (and `]` at the end); the items go to `held`.
          this.skeleton.push(Buffer.from(chunk.subarray(runStart, i + 1)));
          this.where = 'items';
          this.items = [];
          this.filesStreamed = true;
          this.filesArrays += 1;
          this.inItem = false;
          this.needItem = false;
          runStart = i + 1;
        } else if (ofFiles) this.filesStreamed = false;
      } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
        if (this.stack.pop() !== (b === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY))
          throw new ManifestJsonError('a bracket that does not match');
        if (depth === 1) {
          this.skeleton.push(Buffer.from(chunk.subarray(runStart, i + 1)));
          this.where = 'after';
        }
      } else if (depth === 1) {
        if (b === COLON && this.afterKey) {
          this.afterKey = false;
          this.valueNext = true;
        } else if (!isSpace(b)) {
          // A number, true, false or null: `files` given one is not an array of items.
          if (this.valueNext && this.lastKey === 'files') this.filesStreamed = false;
          this.valueNext = false;
          this.afterKey = false;
        }
      }
      i += 1;
    }
    if (this.where === 'skeleton') this.skeleton.push(Buffer.from(chunk.subarray(runStart, n)));
    else if (this.where === 'items') {
      this.hold(chunk, runStart, n);
      this.parseHeld();
    }
  }

  /** The parsed manifest, as JSON.parse of the whole text; a ManifestJsonError when it is not JSON. */
  end(): unknown {
    if (this.problem) throw this.problem;
    if (this.small) return parse(Buffer.concat(this.small));
    if (this.where === 'whole') return parse(Buffer.concat(this.whole));
    if (this.where !== 'after') throw new ManifestJsonError('the manifest ends early');
    const value = parse(Buffer.concat(this.skeleton)) as Record<string, unknown>;
    if (this.filesStreamed) value.files = this.items;
    return value;
  }

  /** Reads a string's bytes from `i`; returns where to go on (after its closing quote, or the chunk's end). */
  private inStringUntil(chunk: Buffer, i: number): number {
    const n = chunk.length;
    let at = i;
    if (this.escapeNext) {
      this.escapeNext = false;
      at += 1;
    }
    for (;;) {
      const quote = chunk.indexOf(QUOTE, at);
      // The next backslash, searched again only once passed (a search per string went through
      // the rest of the chunk every time).
      if (this.backslashAt === UNKNOWN || (this.backslashAt !== -1 && this.backslashAt < at))
        this.backslashAt = chunk.indexOf(BACKSLASH, at);
      const backslash = this.backslashAt;
      if (backslash !== -1 && (quote === -1 || backslash < quote)) {
        // An escape: the next byte (a quote perhaps) belongs to the string.
        if (backslash + 1 >= n) this.escapeNext = true;
        at = backslash + 2;
        if (at >= n) return this.stringPart(chunk, i, n);
        continue;
      }
      if (quote === -1) return this.stringPart(chunk, i, n);
      this.stringPart(chunk, i, quote);
      this.inString = false;
      if (this.stringBytes) this.endDepthOneString();
      return quote + 1;
    }
  }

  private stringPart(chunk: Buffer, from: number, to: number): number {
    if (this.stringBytes && to > from) this.stringBytes.push(Buffer.from(chunk.subarray(from, to)));
    return chunk.length;
  }

  private endDepthOneString(): void {
    const text = Buffer.concat([Buffer.from('"'), ...this.stringBytes!, Buffer.from('"')]);
    this.stringBytes = undefined;
    if (this.stringIsKey) {
      const key = parse(text);
      this.lastKey = typeof key === 'string' ? key : undefined;
      this.afterKey = true;
    } else if (this.lastKey === 'files') this.filesStreamed = false;
  }

  private startItem(): void {
    this.inItem = true;
    this.needItem = false;
  }

  private hold(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.held.push(chunk.subarray(from, to));
    this.heldLength += to - from;
  }

  /**
   * Parses the whole items held, as one array, and keeps the bytes of an item not yet whole (copied:
   * the caller's chunk may be reused; each byte is copied once).
   */
  private parseHeld(): void {
    if (this.heldEnd < 0) {
      const last = this.held.length - 1;
      if (last >= 0) this.held[last] = Buffer.from(this.held[last]);
      return;
    }
    const all = Buffer.concat(this.held, this.heldLength);
    const text = Buffer.concat([OPEN, all.subarray(0, this.heldEnd), CLOSE]);
    const parsed = parse(text) as unknown[];
    if (this.onItems) this.onItems(parsed);
    else for (const item of parsed) this.items.push(item);
    // What follows the last whole item: its comma (dropped), then the start of the next (at the
    // array's end, `held` stops before its bracket: nothing follows).
    const rest = all.subarray(this.heldEnd + 1);
    this.heldEnd = -1;
    this.held = rest.length ? [Buffer.from(rest)] : [];
    this.heldLength = rest.length;
  }
}

function parse(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    throw new ManifestJsonError((err as Error).message);
  }
}
