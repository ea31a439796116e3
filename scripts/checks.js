#!/usr/bin/env node
/**
 * `npm test`'s static checks — the type check (`npm run typecheck`), ESLint, the dependency rules
 * (`npm run deps`) and Prettier (together `npm run lint`) — run side by side, as many at once as
 * there are cores: each is single-threaded, and one after another they took 140 s of a fresh
 * clone's CI on two cores. Each check's output is printed whole once it ends; the exit code is 1
 * when any failed, naming them.
 */
'use strict';
const { Buffer } = require('node:buffer');
const { spawn } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const bin = (name) => path.join(ROOT, 'node_modules', '.bin', name);

/** Longest first, so that the short ones fill in beside it. */
const CHECKS = [
  { name: 'eslint', cmd: bin('eslint'), args: ['.'] },
  { name: 'typecheck', cmd: bin('tsc'), args: ['-p', '.'] },
  { name: 'prettier', cmd: bin('prettier'), args: ['--check', '.'] },
  { name: 'deps', cmd: 'npm', args: ['run', '--silent', 'deps'] },
];

function runCheck(check) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(check.cmd, check.args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = [];
    child.stdout.on('data', (d) => output.push(d));
    child.stderr.on('data', (d) => output.push(d));
    const done = (code, error) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      const ok = code === 0;
      process.stdout.write(`\n> ${check.name}: ${ok ? 'passed' : 'FAILED'} (${seconds} s)\n`);
      process.stdout.write(Buffer.concat(output));
      if (error) process.stdout.write(`${error.message}\n`);
      resolve(ok);
    };
    child.on('error', (err) => done(-1, err));
    child.on('close', (code) => done(code));
  });
}

async function main() {
  const queue = [...CHECKS];
  const failed = [];
  const lane = async () => {
    for (let check = queue.shift(); check; check = queue.shift())
      if (!(await runCheck(check))) failed.push(check.name);
  };
  const lanes = Math.max(1, Math.min(CHECKS.length, os.availableParallelism()));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failed.length) {
    console.error(`\nstatic checks failed: ${failed.join(', ')}`);
    process.exit(1);
  }
}

void main();
