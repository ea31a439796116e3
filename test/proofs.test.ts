/**
 * The proof files' Merkle-root chain (activities/lib/proofs.ts): the root computed by hand for
 * small trees, a chain built and verified, and each kind of break named at the right file.
 */
import { createHash } from 'node:crypto';
import {
  GENESIS_ROOT,
  buildProofChain,
  describeBreak,
  leafOf,
  merkleRoot,
  proofFileText,
  verifyProofChain,
  type ProofDay,
} from '../activities/lib/proofs';

const h = (...hex: string[]) =>
  createHash('sha256')
    .update(Buffer.concat(hex.map((x) => Buffer.from(x, 'hex'))))
    .digest('hex');

const a = leafOf('a');
const b = leafOf('b');
const c = leafOf('c');

describe('merkleRoot', () => {
  test('a single node is its own root', () => {
    expect(merkleRoot([a])).toBe(a);
  });

  test('two nodes: SHA-256 over the 64 bytes of both, decoded from hex', () => {
    expect(merkleRoot([a, b])).toBe(h(a, b));
  });

  test('an odd node is hashed with itself on its way up', () => {
    expect(merkleRoot([a, b, c])).toBe(h(h(a, b), h(c, c)));
    expect(merkleRoot([a, b, c, a, b])).toBe(h(h(h(a, b), h(c, a)), h(h(b, b), h(b, b))));
  });

  test('order matters', () => {
    expect(merkleRoot([a, b])).not.toBe(merkleRoot([b, a]));
  });

  test('refuses what is not a 32-byte hex value, and an empty list', () => {
    expect(() => merkleRoot([a, 'abc'])).toThrow(/not a 32-byte hex value: "abc"/);
    expect(() => merkleRoot([])).toThrow(/at least one node/);
  });
});

function chainFiles(days = 4): { name: string; text: string }[] {
  const chain = buildProofChain(
    Array.from({ length: days }, (_, i) => ({
      date: `2026-10-${String(i + 1).padStart(2, '0')}`,
      leaves: Array.from({ length: i + 1 }, (_, k) => leafOf(`day ${i} proof ${k}`)),
    })),
  );
  return chain.map((d) => ({ name: `${d.date}.json`, text: proofFileText(d) }));
}

function edit(
  files: { name: string; text: string }[],
  name: string,
  change: (d: ProofDay) => unknown,
): { name: string; text: string }[] {
  return files.map((f) =>
    f.name === name ? { name, text: JSON.stringify(change(JSON.parse(f.text) as ProofDay)) } : f,
  );
}

describe('buildProofChain and verifyProofChain', () => {
  test('each root commits to the previous one; the first starts from 64 zeros', () => {
    const chain = buildProofChain([
      { date: '2026-10-01', leaves: [a] },
      { date: '2026-10-02', leaves: [b, c] },
    ]);
    expect(chain[0]).toEqual({
      date: '2026-10-01',
      previousRoot: GENESIS_ROOT,
      leaves: [a],
      root: h(GENESIS_ROOT, a),
    });
    expect(chain[1].previousRoot).toBe(chain[0].root);
    expect(chain[1].root).toBe(merkleRoot([chain[0].root, b, c]));
  });

  test('a valid chain verifies, in any order given', () => {
    const files = chainFiles(4);
    const verdict = verifyProofChain([...files].reverse());
    expect(verdict).toEqual({
      ok: true,
      files: 4,
      first: '2026-10-01.json',
      last: '2026-10-04.json',
      lastRoot: JSON.parse(files[3].text).root,
      startsFrom: 'genesis',
    });
  });

  test('no proof files is a break: there is no chain to trust', () => {
    expect(verifyProofChain([])).toMatchObject({
      ok: false,
      checked: 0,
      break: { problem: 'no proof files' },
    });
  });

  test('a changed leaf: the root of that day no longer recomputes', () => {
    const files = edit(chainFiles(), '2026-10-03.json', (d) => ({ ...d, leaves: [...d.leaves.slice(1), a] }));
    const verdict = verifyProofChain(files);
    expect(verdict).toMatchObject({
      ok: false,
      checked: 2,
      break: {
        file: '2026-10-03.json',
        problem: 'the stored root does not recompute from previousRoot and the leaves',
      },
    });
    if (!verdict.ok) {
      expect(verdict.break.found).toBe(`${JSON.parse(files[2].text).root.slice(0, 16)}…`);
      expect(describeBreak(verdict.break)).toMatch(
        /^2026-10-03\.json: the stored root .* \(expected [0-9a-f]{16}…, found [0-9a-f]{16}…\)$/,
      );
    }
  });

  test('a day rewritten consistently (root recomputed) breaks the link of the next day', () => {
    const files = edit(chainFiles(), '2026-10-02.json', (d) => {
      const leaves = [a];
      return { ...d, leaves, root: merkleRoot([d.previousRoot, ...leaves]) };
    });
    const verdict = verifyProofChain(files);
    expect(verdict).toMatchObject({
      ok: false,
      checked: 2,
      break: {
        file: '2026-10-03.json',
        problem: expect.stringMatching(/previousRoot is not the root of 2026-10-02\.json/),
      },
    });
  });

  test('a missing day breaks the link of the day after it', () => {
    const files = chainFiles().filter((f) => f.name !== '2026-10-02.json');
    expect(verifyProofChain(files)).toMatchObject({ ok: false, break: { file: '2026-10-03.json' } });
  });

  test('after older days are rotated away, the oldest day left is where the chain starts, and the verdict says so', () => {
    const all = chainFiles();
    const files = all.slice(1);
    const first = JSON.parse(all[1].text) as { previousRoot: string };
    expect(first.previousRoot).not.toBe(GENESIS_ROOT);
    expect(verifyProofChain(files)).toMatchObject({
      ok: true,
      first: '2026-10-02.json',
      startsFrom: first.previousRoot,
    });
    expect(verifyProofChain(all)).toMatchObject({ ok: true, startsFrom: 'genesis' });
  });

  test.each([
    ['not JSON', (f: string) => f.slice(0, 20), /not valid JSON/],
    [
      'a date that differs from the file name',
      (f: string) => f.replace('"2026-10-02"', '"2026-10-09"'),
      /"date" does not match/,
    ],
    [
      'a root that is not a SHA-256',
      (f: string) => f.replace(/"root": "[0-9a-f]+"/, '"root": "xyz"'),
      /"root" is not a SHA-256/,
    ],
    [
      'a leaf that is not a SHA-256',
      (f: string) => f.replace(/"leaves": \[\s*"[0-9a-f]+"/, '"leaves": [1'),
      /leaf 0 is not a SHA-256/,
    ],
    ['leaves missing', (f: string) => f.replace('"leaves"', '"leafs"'), /"leaves" is not an array/],
  ])('%s is named at its file', (_what, damage, problem) => {
    const files = chainFiles().map((f) =>
      f.name === '2026-10-02.json' ? { ...f, text: damage(f.text) } : f,
    );
    const verdict = verifyProofChain(files);
    expect(verdict).toMatchObject({ ok: false, checked: 1, break: { file: '2026-10-02.json' } });
    if (!verdict.ok) expect(verdict.break.problem).toMatch(problem);
  });

  test('a name that is not a calendar date is refused', () => {
    const files = [...chainFiles(1), { name: '2026-13-45.json', text: '{}' }];
    expect(verifyProofChain(files)).toMatchObject({
      ok: false,
      break: { file: '2026-13-45.json', problem: 'not a proof file name' },
    });
  });
});
