import * as path from 'node:path';
import { JSON_OPTION, KEY_OPTIONS, type Command } from '../command';
import { load } from '../lazy';
import { humanBytes } from '../format';

export const command: Command = {
  name: 'archive list',
  summary:
    "list a backup archive's files with nothing but the key (no server, no catalog); every entry is checked",
  usage:
    '<file.lbk> (--key <private key file> | --passphrase-env <VARIABLE>) [--trusted-key <public key>]… [--json]',
  examples: [
    'lifeboat archive list /mnt/offsite/storage-20260101T020000Z-ab12-full.lbk --key keys/backup.sec.asc',
    'LIFEBOAT_PASSPHRASE=… lifeboat archive list x.lbk --passphrase-env LIFEBOAT_PASSPHRASE --trusted-key signing.pub.asc',
  ],
  options: { ...KEY_OPTIONS, ...JSON_OPTION },
  positionals: ['file'],
  server: false,
  async run(ctx) {
    const { checkSidecarOf, readWholeArchive } = load.archives();
    const { cliErrorOf, keysFromFlags } = load.breakGlass();
    const file = path.resolve(ctx.positionals[0]);
    const keys = await keysFromFlags(ctx.values);
    try {
      const sidecar = await checkSidecarOf(file, keys);
      const { manifest, entries } = await readWholeArchive(file, keys);
      if (ctx.values.json) {
        ctx.out(JSON.stringify({ file, signature: sidecar.signature, manifest, entries }, null, 2));
        return 0;
      }
      const stored = new Set(entries.map((e) => e.path));
      const scope = manifest.export;
      ctx.out(
        scope
          ? `export ${manifest.backupId} of ${scope.scope} '${scope.id}' (${scope.path}) of target '${manifest.target}', taken ${manifest.createdAt}`
          : `${manifest.kind} backup ${manifest.backupId} of target '${manifest.target}', taken ${manifest.createdAt}`,
      );
      if (manifest.parent)
        ctx.out(`  parent: ${manifest.parent} (files marked '<' are stored in an earlier backup)`);
      ctx.out(`  engine ${manifest.engineVersion}, modules: ${manifest.modules.join(', ') || '(none)'}`);
      ctx.out(`  signature: ${sidecar.signature}`);
      ctx.out(`  every entry's SHA-256 and the manifest checked: ok`);
      for (const f of manifest.files) {
        const mode = (f.mode & 0o7777).toString(8).padStart(4, '0');
        const when = new Date(f.mtimeMs).toISOString();
        ctx.out(
          `${stored.has(f.path) ? ' ' : '<'} ${mode} ${humanBytes(f.size).padStart(10)} ${when} ${f.kind === 'sqlite' ? 'db ' : '   '}${f.path}`,
        );
      }
      if (manifest.deleted.length) ctx.out(`  deleted since the parent: ${manifest.deleted.join(', ')}`);
      ctx.out(
        `${manifest.files.length} files, ${humanBytes(manifest.files.reduce((n, f) => n + f.size, 0))}`,
      );
      return 0;
    } catch (err) {
      throw cliErrorOf(err);
    }
  },
};
