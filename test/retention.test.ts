/** The retention planner (grandfather-father-son): pure, so every case is a table of backups and a plan. */
import {
  isoWeek,
  planRetention,
  validateRetention,
  type BackupRecord,
  type RetentionPlan,
} from '../common/retention';

const NOT_SELECTED = 'not selected by keep-last/daily/weekly/monthly';
const NOW = new Date('2027-01-10T12:00:00Z');

function full(backupId: string, createdAt: string, verified = false): BackupRecord {
  return { backupId, createdAt, kind: 'full', verified };
}

function incr(backupId: string, createdAt: string, parent: string, verified = false): BackupRecord {
  return { backupId, createdAt, kind: 'incremental', parent, verified };
}

/** The plan as `[id, reasons]` pairs, newest first, so a test shows ids and reasons together. */
function summary(plan: RetentionPlan): { keep: [string, string[]][]; remove: [string, string[]][] } {
  return {
    keep: plan.keep.map((i) => [i.backupId, i.reasons]),
    remove: plan.remove.map((i) => [i.backupId, i.reasons]),
  };
}

describe('keep-last', () => {
  test('keeps the N newest and removes the rest, newest first, whatever the input order', () => {
    const backups = [
      full('b3', '2027-01-03T00:00:00Z'),
      full('b1', '2027-01-01T00:00:00Z'),
      full('b5', '2027-01-05T00:00:00Z'),
      full('b2', '2027-01-02T00:00:00Z'),
      full('b4', '2027-01-04T00:00:00Z'),
    ];
    const plan = planRetention(backups, { keepLast: 3 }, NOW);
    expect(summary(plan)).toEqual({
      keep: [
        ['b5', ['keep-last 3']],
        ['b4', ['keep-last 3']],
        ['b3', ['keep-last 3']],
      ],
      remove: [
        ['b2', [NOT_SELECTED]],
        ['b1', [NOT_SELECTED]],
      ],
    });
    expect(plan.keep[0]).toEqual({
      backupId: 'b5',
      createdAt: '2027-01-05T00:00:00Z',
      reasons: ['keep-last 3'],
    });
    expect(planRetention([...backups].reverse(), { keepLast: 3 }, NOW)).toEqual(plan);
  });

  test('equal createdAt is ordered by backupId (the greater id counts as newer)', () => {
    const at = '2027-01-05T00:00:00Z';
    const plan = planRetention([full('b', at), full('c', at), full('a', at)], { keepLast: 2 }, NOW);
    expect(summary(plan)).toEqual({
      keep: [
        ['c', ['keep-last 2']],
        ['b', ['keep-last 2']],
      ],
      remove: [['a', [NOT_SELECTED]]],
    });
  });

  test('keep-last larger than the number of backups keeps them all', () => {
    const plan = planRetention([full('a', '2027-01-01'), full('b', '2027-01-02')], { keepLast: 10 }, NOW);
    expect(summary(plan)).toEqual({
      keep: [
        ['b', ['keep-last 10']],
        ['a', ['keep-last 10']],
      ],
      remove: [],
    });
  });
});

describe('grandfather-father-son levels', () => {
  test('daily keeps the newest backup of each UTC day, across the year boundary', () => {
    const backups = [
      full('d30', '2026-12-30T10:00:00Z'),
      full('d31-early', '2026-12-31T08:00:00Z'),
      // 01:00 at +02:00 is 23:00 UTC on the 31st: still 2026-12-31.
      full('d31-offset', '2027-01-01T01:00:00+02:00'),
      full('d31-late', '2026-12-31T23:59:59.999Z'),
      full('d01-midnight', '2027-01-01T00:00:00Z'),
      full('d01-noon', '2027-01-01T12:00:00Z'),
    ];
    expect(summary(planRetention(backups, { daily: 3 }, NOW))).toEqual({
      keep: [
        ['d01-noon', ['daily 2027-01-01']],
        ['d31-late', ['daily 2026-12-31']],
        ['d30', ['daily 2026-12-30']],
      ],
      remove: [
        ['d01-midnight', [NOT_SELECTED]],
        ['d31-offset', [NOT_SELECTED]],
        ['d31-early', [NOT_SELECTED]],
      ],
    });
  });

  test('daily counts the most recent days that have backups, not calendar days back from now', () => {
    const backups = [full('old', '2026-06-01T00:00:00Z'), full('older', '2026-03-01T00:00:00Z')];
    expect(summary(planRetention(backups, { daily: 2 }, NOW))).toEqual({
      keep: [
        ['old', ['daily 2026-06-01']],
        ['older', ['daily 2026-03-01']],
      ],
      remove: [],
    });
  });

  test('ISO weeks are Monday-based and named by the ISO week-year', () => {
    expect(isoWeek(new Date('2026-11-20T12:00:00Z'))).toBe('2026-W47');
    expect(isoWeek(new Date('2026-12-27T23:59:59Z'))).toBe('2026-W52'); // Sunday
    expect(isoWeek(new Date('2026-12-28T00:00:00Z'))).toBe('2026-W53'); // Monday
    expect(isoWeek(new Date('2026-12-31T00:00:00Z'))).toBe('2026-W53');
    expect(isoWeek(new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53');
    expect(isoWeek(new Date('2027-01-03T23:59:59Z'))).toBe('2026-W53');
    expect(isoWeek(new Date('2027-01-04T00:00:00Z'))).toBe('2027-W01');
    expect(isoWeek(new Date('2025-12-29T00:00:00Z'))).toBe('2026-W01');
    expect(isoWeek(new Date('2021-01-03T00:00:00Z'))).toBe('2020-W53');
  });

  test('weekly keeps the newest backup of each ISO week, through week 53 of 2026', () => {
    const backups = [
      full('w52-mon', '2026-12-21T00:00:00Z'),
      full('w52-sun', '2026-12-27T23:00:00Z'),
      full('w53-mon', '2026-12-28T00:00:00Z'),
      full('w53-thu', '2026-12-31T12:00:00Z'),
      full('w53-sun', '2027-01-03T23:59:59Z'),
      full('w01-mon', '2027-01-04T00:00:00Z'),
    ];
    expect(summary(planRetention(backups, { weekly: 3 }, NOW))).toEqual({
      keep: [
        ['w01-mon', ['weekly 2027-W01']],
        ['w53-sun', ['weekly 2026-W53']],
        ['w52-sun', ['weekly 2026-W52']],
      ],
      remove: [
        ['w53-thu', [NOT_SELECTED]],
        ['w53-mon', [NOT_SELECTED]],
        ['w52-mon', [NOT_SELECTED]],
      ],
    });
  });

  test('monthly keeps the newest backup of each calendar month, across the year boundary', () => {
    const backups = [
      full('nov-15', '2026-11-15T00:00:00Z'),
      full('nov-30', '2026-11-30T23:59:00Z'),
      full('dec-01', '2026-12-01T00:00:00Z'),
      full('dec-31', '2026-12-31T23:59:59.999Z'),
      full('jan-01', '2027-01-01T00:00:00.000Z'),
      full('jan-09', '2027-01-09T00:00:00Z'),
    ];
    expect(summary(planRetention(backups, { monthly: 3 }, NOW))).toEqual({
      keep: [
        ['jan-09', ['monthly 2027-01']],
        ['dec-31', ['monthly 2026-12']],
        ['nov-30', ['monthly 2026-11']],
      ],
      remove: [
        ['jan-01', [NOT_SELECTED]],
        ['dec-01', [NOT_SELECTED]],
        ['nov-15', [NOT_SELECTED]],
      ],
    });
  });

  test('levels combine: each selecting rule adds its reason', () => {
    const backups = [
      full('nov-30', '2026-11-30T10:00:00Z'),
      full('dec-30', '2026-12-30T10:00:00Z'),
      full('dec-31-a', '2026-12-31T10:00:00Z'),
      full('dec-31-b', '2026-12-31T20:00:00Z'),
      full('jan-01-a', '2027-01-01T10:00:00Z'),
      full('jan-01-b', '2027-01-01T20:00:00Z'),
    ];
    const plan = planRetention(backups, { keepLast: 2, daily: 3, weekly: 2, monthly: 3 }, NOW);
    expect(summary(plan)).toEqual({
      keep: [
        ['jan-01-b', ['keep-last 2', 'daily 2027-01-01', 'weekly 2026-W53', 'monthly 2027-01']],
        ['jan-01-a', ['keep-last 2']],
        ['dec-31-b', ['daily 2026-12-31', 'monthly 2026-12']],
        ['dec-30', ['daily 2026-12-30']],
        ['nov-30', ['weekly 2026-W49', 'monthly 2026-11']],
      ],
      remove: [['dec-31-a', [NOT_SELECTED]]],
    });
  });
});

describe('maxAgeDays', () => {
  const now = new Date('2026-11-20T12:00:00Z');
  test('alone: keeps what is not older than N days, removes the rest', () => {
    const backups = [
      full('fresh', '2026-10-22T12:00:00Z'), // 29 days
      full('exactly-30', '2026-10-21T12:00:00Z'), // exactly 30 days: not older
      full('just-over', '2026-10-21T11:59:59.999Z'),
      full('ancient', '2026-09-21T12:00:00Z'),
    ];
    expect(summary(planRetention(backups, { maxAgeDays: 30 }, now))).toEqual({
      keep: [
        ['fresh', ['younger than 30 days']],
        ['exactly-30', ['younger than 30 days']],
      ],
      remove: [
        ['just-over', ['older than 30 days']],
        ['ancient', ['older than 30 days']],
      ],
    });
  });

  test('with GFS: removes old backups even when a level selected them', () => {
    const backups = [
      full('nov-19', '2026-11-19T00:00:00Z'),
      full('nov-18', '2026-11-18T00:00:00Z'),
      full('oct-31', '2026-10-31T00:00:00Z'),
      full('sep-30', '2026-09-30T00:00:00Z'),
      full('sep-29', '2026-09-29T00:00:00Z'),
      full('aug-31', '2026-08-31T00:00:00Z'),
      full('aug-30', '2026-08-30T00:00:00Z'),
    ];
    expect(summary(planRetention(backups, { monthly: 12, maxAgeDays: 60 }, now))).toEqual({
      keep: [
        ['nov-19', ['monthly 2026-11']],
        ['oct-31', ['monthly 2026-10']],
        ['sep-30', ['monthly 2026-09']],
      ],
      remove: [
        ['nov-18', [NOT_SELECTED]],
        ['sep-29', [NOT_SELECTED]],
        ['aug-31', ['older than 60 days']],
        ['aug-30', [NOT_SELECTED, 'older than 60 days']],
      ],
    });
  });
});

describe('protections', () => {
  test('the newest verified backup is kept when the newest backups are unverified', () => {
    const backups = [
      full('b1', '2027-01-01T00:00:00Z', true),
      full('b2', '2027-01-02T00:00:00Z', true),
      full('b3', '2027-01-03T00:00:00Z'),
      full('b4', '2027-01-04T00:00:00Z'),
      full('b5', '2027-01-05T00:00:00Z'),
    ];
    expect(summary(planRetention(backups, { keepLast: 2 }, NOW))).toEqual({
      keep: [
        ['b5', ['keep-last 2']],
        ['b4', ['keep-last 2']],
        ['b2', ['newest verified backup']],
      ],
      remove: [
        ['b3', [NOT_SELECTED]],
        ['b1', [NOT_SELECTED]],
      ],
    });
  });

  test('the newest verified backup survives maxAgeDays; its level reason is dropped', () => {
    const backups = [
      full('v-old', '2026-11-01T00:00:00Z', true),
      full('u-old', '2026-11-02T00:00:00Z'),
      full('u-new', '2027-01-09T00:00:00Z'),
    ];
    expect(summary(planRetention(backups, { keepLast: 3, maxAgeDays: 7 }, NOW))).toEqual({
      keep: [
        ['u-new', ['keep-last 3']],
        ['v-old', ['newest verified backup']],
      ],
      remove: [['u-old', ['older than 7 days']]],
    });
  });

  test('the protection is recorded even when a rule keeps the backup anyway', () => {
    const backups = [full('a', '2027-01-01T00:00:00Z', true), full('b', '2027-01-02T00:00:00Z', true)];
    expect(summary(planRetention(backups, { keepLast: 1 }, NOW))).toEqual({
      keep: [['b', ['keep-last 1', 'newest verified backup']]],
      remove: [['a', [NOT_SELECTED]]],
    });
  });

  test('an incremental kept by keep-last 1 keeps its whole chain back to the full', () => {
    const backups = [
      full('f0', '2027-01-01T00:00:00Z'),
      full('f1', '2027-01-02T00:00:00Z'),
      incr('i1', '2027-01-03T00:00:00Z', 'f1'),
      incr('i2', '2027-01-04T00:00:00Z', 'i1'),
      incr('i3', '2027-01-05T00:00:00Z', 'i2'),
    ];
    expect(summary(planRetention(backups, { keepLast: 1 }, NOW))).toEqual({
      keep: [
        ['i3', ['keep-last 1']],
        ['i2', ['parent of i3']],
        ['i1', ['parent of i2']],
        ['f1', ['parent of i1']],
      ],
      remove: [['f0', [NOT_SELECTED]]],
    });
  });

  test('a removed incremental does not protect its parent', () => {
    const backups = [
      full('f1', '2027-01-01T00:00:00Z'),
      incr('i1', '2027-01-02T00:00:00Z', 'f1'),
      full('f2', '2027-01-03T00:00:00Z'),
      incr('i2', '2027-01-04T00:00:00Z', 'f2'),
    ];
    expect(summary(planRetention(backups, { keepLast: 1 }, NOW))).toEqual({
      keep: [
        ['i2', ['keep-last 1']],
        ['f2', ['parent of i2']],
      ],
      remove: [
        ['i1', [NOT_SELECTED]],
        ['f1', [NOT_SELECTED]],
      ],
    });
  });

  test('chains of protected backups are protected too, past maxAgeDays; a parent lists every kept child', () => {
    const backups = [
      full('f1', '2026-12-01T00:00:00Z'),
      incr('i1', '2026-12-02T00:00:00Z', 'f1', true),
      incr('i1b', '2026-12-03T00:00:00Z', 'f1'),
      full('f2', '2027-01-09T00:00:00Z'),
    ];
    // keep-last 3 selects f2, i1b and i1, but maxAgeDays removes the old ones: i1 is the newest
    // verified backup, and f1 is needed by it.
    expect(summary(planRetention(backups, { keepLast: 3, maxAgeDays: 7 }, NOW))).toEqual({
      keep: [
        ['f2', ['keep-last 3']],
        ['i1', ['newest verified backup']],
        ['f1', ['parent of i1']],
      ],
      remove: [['i1b', ['older than 7 days']]],
    });
    // With both incrementals kept, the full names each of them, newest first.
    expect(summary(planRetention(backups, { keepLast: 3 }, NOW)).keep).toEqual([
      ['f2', ['keep-last 3']],
      ['i1b', ['keep-last 3']],
      ['i1', ['keep-last 3', 'newest verified backup']],
      ['f1', ['parent of i1b', 'parent of i1']],
    ]);
  });

  test('a parent missing from the list is ignored', () => {
    const plan = planRetention([incr('i9', '2027-01-05T00:00:00Z', 'gone')], { keepLast: 1 }, NOW);
    expect(summary(plan)).toEqual({ keep: [['i9', ['keep-last 1']]], remove: [] });
  });
});

describe('no rule, and bad input', () => {
  test('a policy with no rule keeps everything', () => {
    const backups = [
      full('a', '2020-01-01T00:00:00Z', true),
      incr('b', '2020-01-02T00:00:00Z', 'a'),
      full('c', '2027-01-01T00:00:00Z'),
    ];
    expect(summary(planRetention(backups, {}, NOW))).toEqual({
      keep: [
        ['c', ['no retention rule']],
        ['b', ['no retention rule']],
        ['a', ['no retention rule', 'newest verified backup', 'parent of b']],
      ],
      remove: [],
    });
    expect(planRetention([], {}, NOW)).toEqual({ keep: [], remove: [] });
  });

  test('a duplicate backupId is an error naming the id', () => {
    const backups = [
      full('dup-7', '2027-01-01T00:00:00Z'),
      full('x', '2027-01-02T00:00:00Z'),
      full('dup-7', '2027-01-03T00:00:00Z'),
    ];
    expect(() => planRetention(backups, { keepLast: 1 }, NOW)).toThrow('duplicate backupId dup-7');
  });

  test('a timestamp without a zone, an invalid policy or an invalid now is an error', () => {
    expect(() => planRetention([full('local', '2027-01-01T00:00:00')], {}, NOW)).toThrow(
      'backup local: createdAt "2027-01-01T00:00:00" is not an ISO 8601 UTC timestamp',
    );
    expect(() => planRetention([full('junk', 'yesterday')], {}, NOW)).toThrow(/backup junk/);
    expect(() => planRetention([], { keepLast: 0 }, NOW)).toThrow(
      'policy.keepLast must be a positive integer',
    );
    expect(() => planRetention([], {}, new Date('nope'))).toThrow('now must be a valid Date');
  });
});

describe('validateRetention', () => {
  test('an empty object is valid and keeps everything', () => {
    expect(validateRetention({}, 'targets.db.retention')).toEqual({ policy: {}, problems: [] });
  });

  test('a full policy is returned as is', () => {
    const raw = { keepLast: 3, daily: 7, weekly: 4, monthly: 12, maxAgeDays: 400 };
    expect(validateRetention(raw, 'r')).toEqual({ policy: raw, problems: [] });
  });

  test('every problem is listed at once, each naming the field; valid fields are kept', () => {
    const raw = { keepLast: 0, daily: 1.5, weekly: '4', monthly: 6, maxAgeDays: null, foo: 1, keep_last: 2 };
    expect(validateRetention(raw, 'targets.db.retention')).toEqual({
      policy: { monthly: 6 },
      problems: [
        'targets.db.retention.foo is not a known setting; known: keepLast, daily, weekly, monthly, maxAgeDays',
        'targets.db.retention.keep_last is not a known setting; known: keepLast, daily, weekly, monthly, maxAgeDays',
        'targets.db.retention.keepLast must be a positive integer',
        'targets.db.retention.daily must be a positive integer',
        'targets.db.retention.weekly must be a positive integer',
        'targets.db.retention.maxAgeDays must be a positive integer',
      ],
    });
    expect(validateRetention({ maxAgeDays: -3 }, 'r').problems).toEqual([
      'r.maxAgeDays must be a positive integer',
    ]);
  });

  test('a value that is not an object is one problem', () => {
    for (const raw of [null, 7, 'daily', [1, 2]]) {
      expect(validateRetention(raw, 'r')).toEqual({
        policy: {},
        problems: ['r must be an object like {"keepLast": 3, "daily": 7, "maxAgeDays": 90}'],
      });
    }
  });
});
