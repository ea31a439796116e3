import * as path from 'node:path';
import { JSON_OPTION, KEY_OPTIONS, requireFlag, type Command } from '../command';
import { load } from '../lazy';
import { humanBytes } from '../format';

export const command: Command = {
  name: 'archive extract',
  summary:
    'extract the tree at a backup into a new, empty folder with nothing but the key (an incremental takes the parents beside it)',
  usage:
    '<file.lbk> --into <new empty folder> (--key <private key file> | --passphrase-env <VARIABLE>) [--trusted-key <public key>]… [--json]',
  examples: [
    'lifeboat archive extract /mnt/offsite/storage-20260101T020000Z-ab12-full.lbk --key keys/backup.sec.asc --into /srv/recovered',
    'lifeboat archive extract x-incr.lbk --key backup.sec.asc --trusted-key signing.pub.asc --into ./out',
  ],
  options: {
    into: {
      type: 'string',
      value: 'folder',
      description: 'where the files go: a folder that is new or empty',
    },
    ...KEY_OPTIONS,
    ...JSON_OPTION,
  },
  positionals: ['file'],
  server: false,
  async run(ctx) {
    const file = path.resolve(ctx.positionals[0]);
    const into = path.resolve(requireFlag(ctx, 'into', 'the new or empty folder to extract into'));
    const { extractArchive } = load.archives();
    const { cliErrorOf, keysFromFlags } = load.breakGlass();
    const keys = await keysFromFlags(ctx.values);
    let result;
    try {
      result = await extractArchive(file, into, keys);
    } catch (err) {
      throw cliErrorOf(err);
    }
    if (ctx.values.json) {
      ctx.out(JSON.stringify({ into, ...result }, null, 2));
      return 0;
    }
    ctx.out(
      `extracted ${result.files} files (${humanBytes(result.bytes)}) of ${result.kind} backup ${result.backupId} into ${into}`,
    );
    if (result.chain.length > 1) ctx.out(`  from the archives of ${result.chain.join(', ')}`);
    ctx.out(`  every file's SHA-256 checked against the manifest; modes and mtimes restored`);
    for (const s of result.sidecars) ctx.out(`  signature of ${path.basename(s.file)}: ${s.signature}`);
    if (result.setidDropped.length)
      ctx.out(
        `  setuid/setgid bits not restored (no signature checked; give --trusted-key): ${result.setidDropped.join(', ')}`,
      );
    return 0;
  },
};
