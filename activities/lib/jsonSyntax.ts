/**
 * Where and why a text is not JSON, in words that never quote the text around the error: a log or
 * config line may hold a secret, and the reason goes into the status, the audit ledger and webhooks.
 */

export interface JsonSyntaxError {
  message: string;
  offset: number;
  line: number;
  column: number;
}

class JsonScanError extends Error {
  constructor(
    readonly offset: number,
    readonly expected: string,
  ) {
    super(expected);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Finds the first syntax error in `text` by the JSON grammar (RFC 8259). */
function scanJson(text: string): void {
  let i = 0;
  const fail = (expected: string): never => {
    throw new JsonScanError(i, expected);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i += 1;
  };
  const string = () => {
    i += 1;
    for (;;) {
      if (i >= text.length) fail('a closing quote');
      const c = text[i];
      if (c === '"') {
        i += 1;
        return;
      }
      if (c === '\\') {
        const next = text[i + 1];
        if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2;
        else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else {
          i += 1;
          fail('a valid escape sequence');
        }
        continue;
      }
      if (c.charCodeAt(0) < 0x20) fail('no control character inside a string');
      i += 1;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i += 1;
      ws();
      if (text[i] === '}') {
        i += 1;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a property name in double quotes');
        string();
        ws();
        if (text[i] !== ':') fail("':' after the property name");
        i += 1;
        value();
        ws();
        if (text[i] === ',') {
          i += 1;
          continue;
        }
        if (text[i] === '}') {
          i += 1;
          return;
        }
        fail("',' or '}'");
      }
    }
    if (c === '[') {
      i += 1;
      ws();
      if (text[i] === ']') {
        i += 1;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i += 1;
          continue;
        }
        if (text[i] === ']') {
          i += 1;
          return;
        }
        fail("',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (c !== undefined && NUMBER.test(text)) {
      i = NUMBER.lastIndex;
      return;
    }
    fail('a value');
  };
  value();
  ws();
  if (i < text.length) fail('the end of the input');
}

function describeAt(text: string, offset: number): string {
  if (offset >= text.length) return 'the end of the input';
  const c = text[offset];
  if (c === '\n' || c === '\r') return 'the end of the line';
  const code = c.charCodeAt(0);
  return code < 0x20 ? `control character U+${code.toString(16).padStart(4, '0')}` : `'${c}'`;
}

/**
 * Where and why `text` is not JSON (undefined when it is). The message names what was expected and
 * the one character found, never the text around it.
 */
export function jsonSyntaxError(text: string): JsonSyntaxError | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    let offset = 0;
    let message: string;
    try {
      scanJson(text);
      // The grammar scan found nothing (should not happen): keep V8's words, without its quote.
      message = (err as Error).message.replace(/, ".*" is not valid JSON$/s, ' (not valid JSON)');
    } catch (scan) {
      if (!(scan instanceof JsonScanError)) throw scan;
      offset = scan.offset;
      message = `expected ${scan.expected} but found ${describeAt(text, offset)}`;
    }
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - (before.lastIndexOf('\n') + 1) + 1;
    return { message, offset, line, column };
  }
}
