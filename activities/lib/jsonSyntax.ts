/**
 * Where and why a text is not JSON, in words that never quote the text around the error: a log or
 * config line may hold a secret, and the reason goes into the status, the audit ledger and webhooks.
 * The message says what the grammar expected there and names the one character found.
 *
 * jsonc-parser finds the error, held to strict JSON: comments and trailing commas are errors, as
 * `JSON.parse` has them. Why not V8's own message: it quotes the text (`Unexpected token 'o',
 * "{"secret": …" is not valid JSON`), and what was expected is said in one way here for both.
 */
import { ParseErrorCode, printParseErrorCode, visit } from 'jsonc-parser';

export interface JsonSyntaxError {
  message: string;
  offset: number;
  line: number;
  column: number;
  /** jsonc-parser's name for the error (`CommaExpected`, `InvalidSymbol`, …). */
  code: string;
}

/** An object or array the parser is inside, and what it expects next there. */
interface Frame {
  kind: 'object' | 'array';
  next: 'property' | 'colon' | 'value' | 'commaOrEnd';
}

function expectedIn(frame: Frame | undefined, topLevelDone: boolean): string {
  if (!frame) return topLevelDone ? 'the end of the input' : 'a value';
  switch (frame.next) {
    case 'property':
      return 'a property name in double quotes';
    case 'colon':
      return "':' after the property name";
    case 'value':
      return 'a value';
    case 'commaOrEnd':
      return frame.kind === 'object' ? "',' or '}'" : "',' or ']'";
  }
}

/**
 * jsonc-parser places an error in a string at the string's start: the first bad character of the
 * string token at `start` (`end` is where the token stops: a closing quote, a line end or the end).
 */
function stringProblem(text: string, start: number, end: number): { offset: number; expected: string } {
  for (let i = start + 1; i < end; i += 1) {
    const c = text[i];
    if (c === '"') break;
    if (c === '\\') {
      const next = text[i + 1] ?? '';
      if (next !== '' && '"\\/bfnrt'.includes(next)) i += 1;
      else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 5;
      else return { offset: i + 1, expected: 'a valid escape sequence' };
    } else if (c.charCodeAt(0) < 0x20) {
      return { offset: i, expected: 'no control character inside a string' };
    }
  }
  return { offset: end, expected: 'a closing quote' };
}

/** The one character at `offset`, named without quoting any more of the text. */
function describeAt(text: string, offset: number): string {
  if (offset >= text.length) return 'the end of the input';
  const c = text[offset];
  if (c === '\n' || c === '\r') return 'the end of the line';
  const code = c.charCodeAt(0);
  const hex = `U+${code.toString(16).padStart(4, '0')}`;
  if (code < 0x20) return `control character ${hex}`;
  return code < 0x7f ? `'${c}'` : `character ${hex}`;
}

/** The first error jsonc-parser reports in `text`, and what it expected there. */
function firstError(text: string): { code: ParseErrorCode; offset: number; expected: string } | undefined {
  const stack: Frame[] = [];
  let topLevelDone = false;
  let found: { code: ParseErrorCode; offset: number; expected: string } | undefined;
  const valueDone = () => {
    const top = stack[stack.length - 1];
    if (top) top.next = 'commaOrEnd';
    else topLevelDone = true;
  };
  // After the first error the parser recovers and goes on; what it sees then is not looked at.
  const until = (step: () => void) => () => {
    if (!found) step();
  };
  const closed = (length: number) => {
    if (found || length === 0) return;
    stack.pop();
    valueDone();
  };
  visit(
    text,
    {
      onObjectBegin: until(() => stack.push({ kind: 'object', next: 'property' })),
      onArrayBegin: until(() => stack.push({ kind: 'array', next: 'value' })),
      onObjectProperty: until(() => {
        stack[stack.length - 1].next = 'colon';
      }),
      onSeparator: (separator: string) => {
        const top = stack[stack.length - 1];
        if (found || !top) return;
        top.next = separator === ':' || top.kind === 'array' ? 'value' : 'property';
      },
      onLiteralValue: until(valueDone),
      // Called at the end of the input too (length 0), before the error saying it is not closed.
      onObjectEnd: (_offset: number, length: number) => closed(length),
      onArrayEnd: (_offset: number, length: number) => closed(length),
      onError: (code: ParseErrorCode, offset: number, length: number) => {
        if (found) return;
        const top = stack[stack.length - 1];
        const expected = expectedIn(top, topLevelDone);
        // The scanner reads a whole token before the parser looks at it: a string or number where
        // none may stand is out of place at its start, whatever is wrong inside it.
        const wants = top ? top.next : topLevelDone ? 'end' : 'value';
        switch (code) {
          case ParseErrorCode.InvalidCharacter:
          case ParseErrorCode.InvalidEscapeCharacter:
          case ParseErrorCode.InvalidUnicode:
          case ParseErrorCode.UnexpectedEndOfString:
            found =
              wants === 'value' || wants === 'property'
                ? { code, ...stringProblem(text, offset, offset + length) }
                : { code, offset, expected };
            return;
          case ParseErrorCode.UnexpectedEndOfNumber:
            found =
              wants === 'value'
                ? { code, offset: offset + length, expected: 'a digit' }
                : { code, offset, expected };
            return;
          case ParseErrorCode.InvalidSymbol: {
            // `nullx` is one unknown word to jsonc-parser; JSON reads `null`, then finds the `x`.
            const literal = /^(?:true|false|null)/.exec(text.slice(offset, offset + length));
            if (literal && wants === 'value') {
              valueDone();
              found = { code, offset: offset + literal[0].length, expected: expectedIn(top, topLevelDone) };
              return;
            }
            found = { code, offset, expected };
            return;
          }
          default:
            // A comment is judged like any other token out of place.
            found = { code, offset, expected };
        }
      },
    },
    { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
  );
  return found;
}

/**
 * Where and why `text` is not JSON (undefined when it is). The message names what was expected and
 * the one character found, never the text around it.
 */
export function jsonSyntaxError(text: string): JsonSyntaxError | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch {
    let found: ReturnType<typeof firstError>;
    try {
      found = firstError(text);
    } catch {
      // jsonc-parser recurses: some thousands of nested arrays exhaust the stack.
    }
    const offset = found?.offset ?? 0;
    // Not found: V8's words would quote the text.
    const message = found
      ? `expected ${found.expected} but found ${describeAt(text, offset)}`
      : 'nested too deep for the parser to say where';
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - (before.lastIndexOf('\n') + 1) + 1;
    return { message, offset, line, column, code: found ? printParseErrorCode(found.code) : 'Unknown' };
  }
}
