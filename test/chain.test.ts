/** The hash chain format (activities/lib/chain.ts): canonical hashing, verification, gaps. Pure. */
import { createHash } from 'node:crypto';
import {
  GENESIS_HASH,
  buildChain,
  canonicalJson,
  entryTime,
  hashEntry,
  jsonSyntaxError,
  measureGap,
  readChainDocument,
  splitJsonLines,
  toJsonLines,
  verifyChain,
  verifyEntries,
} from '../activities/lib/chain';
import { configParseProblem } from '../activities/lib/configParse';
import { chainRecords, damagedLines } from '../scripts/demo-chain';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('canonical JSON and entry hashes', () => {
  test('keys are sorted recursively, with no spaces; undefined members are left out', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: true, y: null }], c: 'x' }, u: undefined })).toBe(
      '{"a":{"c":"x","d":[1,{"y":null,"z":true}]},"b":1}',
    );
  });

  test('the hash is SHA-256 of the canonical JSON without the hash field', () => {
    const entry = { prevHash: GENESIS_HASH, at: '2026-01-01T00:00:00Z', event: 'login', hash: 'ignored' };
    expect(hashEntry(entry)).toBe(
      sha(`{"at":"2026-01-01T00:00:00Z","event":"login","prevHash":"${GENESIS_HASH}"}`),
    );
  });

  test('buildChain links each entry to the previous hash, from 64 zeros', () => {
    const chain = buildChain(chainRecords(3));
    expect(chain[0].prevHash).toBe('0'.repeat(64));
    expect(chain[1].prevHash).toBe(chain[0].hash);
    expect(chain[2].prevHash).toBe(chain[1].hash);
    expect(chain.every((e) => /^[0-9a-f]{64}$/.test(e.hash))).toBe(true);
  });
});

describe('verifyChain', () => {
  const chain = buildChain(chainRecords(6));
  const text = toJsonLines(chain);

  test('a valid chain verifies; its head is the last hash; trailing blank lines and CRLF are fine', () => {
    expect(verifyChain(text)).toEqual({ valid: true, entries: 6, head: chain[5].hash });
    expect(verifyChain(`${text.replace(/\n/g, '\r\n')}\n  \n`)).toMatchObject({ valid: true, entries: 6 });
    expect(verifyChain('')).toEqual({ valid: true, entries: 0, head: GENESIS_HASH });
  });

  test('an edited entry: hash mismatch at its index, expected = recomputed, actual = stored', () => {
    const verdict = verifyChain(damagedLines(chain, { kind: 'tamper', index: 3 }));
    const edited = { ...chain[3], actor: 'mallory' };
    expect(verdict).toEqual({
      valid: false,
      entries: 6,
      head: chain[2].hash,
      brokenAt: {
        index: 3,
        line: 4,
        reason: 'entry 3 (line 4): hash does not match its content',
        expected: hashEntry(edited),
        actual: chain[3].hash,
      },
    });
  });

  test('an edited and re-hashed entry: the next entry is broken, expected = the new hash, actual = its prevHash', () => {
    const verdict = verifyChain(damagedLines(chain, { kind: 'relink', index: 2 }));
    const rehashed = buildChain([{ ...chain[2], actor: 'mallory' }], chain[2].prevHash)[0];
    expect(verdict.brokenAt).toEqual({
      index: 3,
      line: 4,
      reason: 'entry 3 (line 4): prevHash is not the hash of entry 2',
      expected: rehashed.hash,
      actual: chain[2].hash,
    });
  });

  test('a first entry that does not start from the genesis hash', () => {
    const [first] = buildChain(chainRecords(1), 'f'.repeat(64));
    expect(verifyChain(toJsonLines([first])).brokenAt).toMatchObject({
      index: 0,
      reason: 'entry 0 (line 1): prevHash is not the genesis hash (64 zeros)',
      expected: GENESIS_HASH,
      actual: 'f'.repeat(64),
    });
  });

  test('a line that is not JSON is named with the parser message, without quoting the line', () => {
    const lines = text.split('\n');
    lines[4] = '{"seq": 4, "secret": "sk-live-123" oops}';
    const verdict = verifyChain(lines.join('\n'));
    expect(verdict).toMatchObject({ valid: false, entries: 6, head: chain[3].hash });
    expect(verdict.brokenAt).toEqual({
      index: 4,
      line: 5,
      reason: "line 5 is not JSON: expected ',' or '}' but found 'o' at column 36",
    });
    expect(verdict.brokenAt!.reason).not.toContain('sk-live');
  });

  test('an empty line inside, an entry that is not an object, an entry without hash fields', () => {
    const lines = text.trimEnd().split('\n');
    expect(verifyChain([lines[0], '', lines[1]].join('\n')).brokenAt).toMatchObject({
      index: 1,
      line: 2,
      reason: 'line 2 is empty',
    });
    expect(verifyChain([lines[0], '[1,2]'].join('\n')).brokenAt?.reason).toBe('line 2 is not a JSON object');
    expect(verifyChain('{"at": "x", "prevHash": "0"}').brokenAt?.reason).toBe(
      'entry 0 (line 1) has no "hash" string',
    );
  });
});

describe('readChainDocument accepts JSON lines and a JSON array', () => {
  const chain = buildChain(chainRecords(4));

  test('an array verifies like lines (entries without line numbers)', () => {
    const doc = readChainDocument(JSON.stringify(chain, null, 2));
    expect(doc.format).toBe('array');
    expect(verifyEntries(doc.lines)).toEqual({ valid: true, entries: 4, head: chain[3].hash });
    const tampered = chain.map((e, i) => (i === 2 ? { ...e, seq: 99 } : e));
    expect(verifyEntries(readChainDocument(JSON.stringify(tampered)).lines).brokenAt).toMatchObject({
      index: 2,
      reason: 'entry 2: hash does not match its content',
    });
    expect(readChainDocument(toJsonLines(chain)).format).toBe('lines');
  });

  test('a torn array is broken at entry 0 with where the parser stopped', () => {
    const torn = JSON.stringify(chain, null, 2).slice(0, 200);
    const { lines } = readChainDocument(torn);
    expect(verifyEntries(lines).brokenAt?.reason).toMatch(
      /^the file starts with '\[' but is not a JSON array: expected .* at line \d+, column \d+$/,
    );
  });
});

describe('jsonSyntaxError', () => {
  test.each([
    ['{"a":1}', undefined],
    ['{"a":1,\n "b": }', { line: 2, column: 7, message: "expected a value but found '}'" }],
    ['{"a" 1}', { line: 1, column: 6, message: "expected ':' after the property name but found '1'" }],
    ['{"a":', { line: 1, column: 6, message: 'expected a value but found the end of the input' }],
    ['[1,2,]', { line: 1, column: 6, message: "expected a value but found ']'" }],
    ['{"a":1}}', { line: 1, column: 8, message: "expected the end of the input but found '}'" }],
    [
      '"tab\there"',
      {
        line: 1,
        column: 5,
        message: 'expected no control character inside a string but found control character U+0009',
      },
    ],
    ['{"a":"\\x"}', { line: 1, column: 8, message: "expected a valid escape sequence but found 'x'" }],
    ['-', { line: 1, column: 1, message: "expected a value but found '-'" }],
  ])('%j', (text, want) => {
    const got = jsonSyntaxError(text);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject(want);
  });
});

describe('a broken line is located by jsonc-parser and never quoted', () => {
  const SECRET = 'Zq9-XxK7wPv2';
  /** Every run of three characters of the secret: none may reach a message. */
  const pieces = [...SECRET].map((_, i) => SECRET.slice(i, i + 3)).filter((p) => p.length === 3);

  test.each([
    [
      'text after a value',
      `{"user": "ops", "password": "${SECRET}" oops}`,
      { line: 1, column: 44, message: "expected ',' or '}' but found 'o'", code: 'InvalidSymbol' },
    ],
    [
      'a bad escape inside the secret',
      `{"password": "${SECRET.slice(0, 6)}\\x${SECRET.slice(6)}"}`,
      {
        line: 1,
        column: 22,
        message: "expected a valid escape sequence but found 'x'",
        code: 'InvalidEscapeCharacter',
      },
    ],
    [
      'a secret cut off at the end of its line',
      `{"a": 1,\n "token": "${SECRET}\n}`,
      { line: 2, column: 24, message: 'expected a closing quote but found the end of the line' },
    ],
    [
      'a comment (JSON has none) holding the secret',
      `{"a": 1 /* password=${SECRET} */}`,
      { line: 1, column: 9, message: "expected ',' or '}' but found '/'", code: 'InvalidCommentToken' },
    ],
    [
      'a line comment',
      `{"a": 1, // ${SECRET}\n "b": 2}`,
      { line: 1, column: 10, message: "expected a property name in double quotes but found '/'" },
    ],
    [
      'a trailing comma (JSON allows none)',
      `{"key": "${SECRET}",}`,
      { line: 1, column: 24, message: "expected a property name in double quotes but found '}'" },
    ],
    [
      'a trailing comma in an array',
      `["${SECRET}",]`,
      { line: 1, column: 17, message: "expected a value but found ']'" },
    ],
    [
      'a secret without quotes',
      `{"pin": ${SECRET}}`,
      { line: 1, column: 9, message: "expected a value but found 'Z'", code: 'InvalidSymbol' },
    ],
    [
      'a character outside ASCII, named by its code point',
      `{"pin": "${SECRET}", "x": é}`,
      { line: 1, column: 30, message: 'expected a value but found character U+00e9' },
    ],
    [
      'null run into a word',
      `[null${SECRET}]`,
      { line: 1, column: 6, message: "expected ',' or ']' but found 'Z'" },
    ],
  ])('%s', (_what, text, want) => {
    const got = jsonSyntaxError(text);
    expect(got).toMatchObject(want);
    for (const piece of pieces) expect(got!.message).not.toContain(piece);
  });

  test('the reasons a chain, an array and a config give hold no text of the broken line either', () => {
    const chain = buildChain(chainRecords(2));
    const lines = toJsonLines(chain).trimEnd().split('\n');
    lines[1] = `{"seq": 1, "secret": "${SECRET}" /* kept */}`;
    const reason = verifyChain(lines.join('\n')).brokenAt!.reason;
    expect(reason).toBe(
      `line 2 is not JSON: expected ',' or '}' but found '/' at column ${lines[1].indexOf('/*') + 1}`,
    );
    const array = readChainDocument(`[{"secret": "${SECRET}"},\n ]`).lines[0].error!;
    expect(array).toBe(
      "the file starts with '[' but is not a JSON array: expected a value but found ']' at line 2, column 2",
    );
    const config = configParseProblem(Buffer.from(`{"db": {"password": "${SECRET}",}}`), 'json')!;
    expect(config).toMatchObject({ line: 1, column: 36 });
    for (const text of [reason, array, config.problem])
      for (const piece of pieces) expect(text).not.toContain(piece);
  });
});

test('entryTime reads timestamp, time, at, ts in that order; numbers as epoch seconds or ms', () => {
  expect(entryTime({ at: 'b', time: 'a' })).toBe('a');
  expect(entryTime({ ts: 1767225600 })).toBe('2026-01-01T00:00:00.000Z');
  expect(entryTime({ ts: 1767225600000 })).toBe('2026-01-01T00:00:00.000Z');
  expect(entryTime({ event: 'x' })).toBeUndefined();
  expect(entryTime('not an object')).toBeUndefined();
});

describe('measureGap', () => {
  const live = buildChain(chainRecords(10));
  const brokenText = damagedLines(live, { kind: 'tamper', index: 7 });
  const broken = splitJsonLines(brokenText);
  const brokenAt = verifyEntries(broken).brokenAt;

  test('entries at or past the backup length are lost; those before the break verified', () => {
    const backup = splitJsonLines(toJsonLines(live.slice(0, 5)));
    expect(measureGap(broken, brokenAt, backup)).toEqual({
      lost: 5,
      firstIndex: 5,
      lastIndex: 9,
      firstTime: '2026-01-10T08:05:00.000Z',
      lastTime: '2026-01-10T08:09:00.000Z',
      verifiedLost: 2,
      brokenChainEntries: 10,
      restoredEntries: 5,
    });
  });

  test('a backup that reaches past the break loses only the rest; an unreadable lost line has no time', () => {
    const torn = splitJsonLines(damagedLines(live, { kind: 'notJson', index: 9 }));
    const backup = splitJsonLines(toJsonLines(live.slice(0, 8)));
    expect(measureGap(torn, verifyEntries(torn).brokenAt, backup)).toMatchObject({
      lost: 2,
      firstIndex: 8,
      lastIndex: 9,
      firstTime: '2026-01-10T08:08:00.000Z',
      lastTime: '2026-01-10T08:08:00.000Z',
      verifiedLost: 1,
    });
  });

  test('a backup from another history is flagged where it diverges', () => {
    const other = buildChain([...chainRecords(3), ...chainRecords(6, '-other').slice(3)]);
    const gap = measureGap(broken, brokenAt, splitJsonLines(toJsonLines(other)));
    expect(gap).toMatchObject({ lost: 4, divergesAt: 3 });
    expect(
      measureGap(broken, brokenAt, splitJsonLines(toJsonLines(live.slice(0, 6)))).divergesAt,
    ).toBeUndefined();
  });
});
