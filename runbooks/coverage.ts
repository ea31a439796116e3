/**
 * Which runbook carries out each section of the five source procedures (../shared/procedures/) that
 * describes a backup or recovery task, so coverage can be checked against the documents section by
 * section. `npm run docs` draws it as a table in runbooks/README.md; a test checks that every runbook
 * named here exists and that every runbook is named. A section no runbook carries out says why in
 * `by` with an empty `runbooks`.
 */

export interface CoverageRow {
  /** The procedure's number (its file name's prefix). */
  procedure: '000' | '001' | '002' | '003' | '004';
  section: string;
  /** The task, in the document's words. */
  task: string;
  /** The runbooks that carry it out. */
  runbooks: string[];
  /** How (an option, a step, a gate), or why no runbook does. */
  by: string;
}

export const COVERAGE: CoverageRow[] = [
  {
    procedure: '000',
    section: '§2.1',
    task: 'driver backup (pnputil /export-driver), validated',
    runbooks: ['driverBackup'],
    by: 'a new validated set under sets/; the oldest beyond keepSets pruned',
  },
  {
    procedure: '000',
    section: '§2.2',
    task: 'pre-operation backup and restore point',
    runbooks: ['driverUpdate'],
    by: 'steps createRestorePoint and exportPreUpdateBackup before gate install',
  },
  {
    procedure: '000',
    section: '§2.3',
    task: 'backup validation (.inf present, sizes)',
    runbooks: ['driverBackup', 'failedDriverUpdate', 'driverSetRestore'],
    by: 'every set or pre-update backup is validated before it is used',
  },
  {
    procedure: '000',
    section: '§3.1',
    task: 'failed driver update: roll back, else System Restore',
    runbooks: ['failedDriverUpdate', 'driverUpdate'],
    by: 'gate rollback; hold systemRestore when no backup',
  },
  {
    procedure: '000',
    section: '§3.2, §4',
    task: 'OS reinstallation: full driver restore from an external-drive set, full scan (RTO < 10 min)',
    runbooks: ['driverSetRestore'],
    by: 'a set named in the target config, gate, /add-driver /subdirs /install, every device at problem code 0',
  },
  {
    procedure: '000',
    section: '§3.3',
    task: 'corrupted driver store: System Restore, else the last known good backup, then a full scan',
    runbooks: ['corruptedDriverStore'],
    by: 'several devices with code 31/39 (corruptDeviceThreshold); hold for System Restore; gate before the set restore; drDrill corruptedDriverStore drills the set restore',
  },
  {
    procedure: '000',
    section: '§5',
    task: 'retention (at least the last 2 full backups)',
    runbooks: ['driverBackup'],
    by: 'driverStore.keepSets (default 2)',
  },
  {
    procedure: '000',
    section: '§6.4',
    task: 'test on a non-production system before relying on it for fleet deployment',
    runbooks: ['fleet'],
    by: 'a fleet of driverUpdate (or drDrill) over the hosts: the canary first, then waves, halting at maxErrors',
  },
  {
    procedure: '001',
    section: '§3.1, §4.1',
    task: 'configuration backups and corrupted configuration (CFG-002)',
    runbooks: ['corruptedConfigRecovery'],
    by: 'newest parsable backup (gate restoreConfig, automatic), else the compiled-in default (gate useDefault); keeps the last 10',
  },
  {
    procedure: '001',
    section: '§3.2, §4.2',
    task: 'auth tokens written atomically; lost auth tokens (AUTH-003)',
    runbooks: ['lostAuthTokens'],
    by: 'quarantine, disconnect, hold reauthenticate, the new token checked',
  },
  {
    procedure: '001',
    section: '§3.3, §4.3',
    task: 'audit chain backups; corrupted audit chain',
    runbooks: ['auditChainRecovery'],
    by: 'newest verified backup in chain_backups/ (gate restoreChain), the gap recorded',
  },
  {
    procedure: '001',
    section: '§3.4',
    task: 'log rotation',
    runbooks: [],
    by: 'not a recovery task: the logger rotates its own files',
  },
  {
    procedure: '001',
    section: '§4.4',
    task: 'P2P network partition',
    runbooks: [],
    by: 'no data to recover: the application retries discovery itself',
  },
  {
    procedure: '001',
    section: '§6',
    task: 'quarterly DR tests (corrupt config, delete tokens, inject chain entries)',
    runbooks: ['drDrill'],
    by: 'drills of the config and chain targets in a sandbox',
  },
  {
    procedure: '002',
    section: 'Scenario 1',
    task: 'corrupted main graph file',
    runbooks: ['corruptedStoreRecovery'],
    by: 'the newest valid backup after gate restore; the corrupt file kept in quarantine',
  },
  {
    procedure: '002',
    section: 'Scenario 2',
    task: 'all backups corrupted',
    runbooks: ['corruptedStoreRecovery'],
    by: 'STOP naming every backup and why; place an external backup, then retry',
  },
  {
    procedure: '002',
    section: 'Scenario 3',
    task: 'automatic recovery',
    runbooks: ['corruptedStoreRecovery'],
    by: 'gate restore with "automatic": true in the target config',
  },
  {
    procedure: '002',
    section: 'Backup Maintenance (weekly)',
    task: 'verify backup integrity, check the backup folder size',
    runbooks: ['healthCheck'],
    by: 'on a schedule (lifeboat schedule preset)',
  },
  {
    procedure: '002',
    section: 'Backup Maintenance (monthly)',
    task: 'test the restore procedure',
    runbooks: ['drDrill'],
    by: 'restores into a sandbox and checks it',
  },
  {
    procedure: '003',
    section: '§3.1, §5',
    task: 'full backup (lock, quiesce, SQLite snapshots, manifest, atomic package)',
    runbooks: ['fullBackup'],
    by: 'encrypted, signed, read back and verified',
  },
  {
    procedure: '003',
    section: '§3.2',
    task: 'incremental backup',
    runbooks: ['incrementalBackup'],
    by: 'changed files and databases since the newest backup',
  },
  {
    procedure: '003',
    section: '§3.3, §3.4',
    task: 'project-level and module-level export',
    runbooks: ['exportScope'],
    by: 'a signed, encrypted archive of one project or module, to a destination named in the config',
  },
  {
    procedure: '003',
    section: '§6 (full, project)',
    task: 'full restore; project restore',
    runbooks: ['restore', 'importScope'],
    by: 'restore (or restore {"paths": [...]}); importScope for an export',
  },
  {
    procedure: '003',
    section: '§6 (merge)',
    task: 'merge restore (dangerous; 2-human approval)',
    runbooks: ['mergeRestore'],
    by: 'gate merge, quorum 2; policy keepLive or takeBackup',
  },
  {
    procedure: '003',
    section: '§7, §15',
    task: 'restore protocol and STOP conditions',
    runbooks: ['restore'],
    by: 'every check STOPs; staged, swapped in by rename, the previous root kept',
  },
  {
    procedure: '003',
    section: '§8',
    task: 'DR: restore drills, offsite replication',
    runbooks: ['drDrill', 'offsiteReplicate', 'fleet'],
    by: 'drills with proofs (a fleet of drDrill across every target, quarterly); copies to the offsite repository',
  },
  {
    procedure: '003',
    section: '§9',
    task: 'storage rules: encrypted, versioned, offsite, rotations',
    runbooks: ['fullBackup', 'applyRetention', 'offsiteReplicate'],
    by: 'OpenPGP archives; daily/weekly/monthly retention',
  },
  {
    procedure: '003',
    section: '§11',
    task: 'backup before a migration; rollback to it',
    runbooks: ['migration'],
    by: 'a verified full backup first; gate rollback on failure',
  },
  {
    procedure: '003',
    section: '§12',
    task: 'imports follow the restore protocol',
    runbooks: ['importScope'],
    by: 'verified, version-checked, approved, staged and swapped in; drDrill projectImport drills it',
  },
  {
    procedure: '003',
    section: '§14',
    task: 'integrity and verification',
    runbooks: ['verifyBackup'],
    by: 'every checksum and PRAGMA integrity_check, per backup or all',
  },
  {
    procedure: '003',
    section: 'a new host',
    task: 'backups of a host that is gone',
    runbooks: ['adoptRepository'],
    by: "adopts a repository's (or the offsite copy's) verified backups",
  },
  {
    procedure: '004',
    section: 'Backup Strategy',
    task: 'daily, weekly and hourly backups',
    runbooks: ['fullBackup', 'incrementalBackup'],
    by: 'on schedules (lifeboat schedule create / preset)',
  },
  {
    procedure: '004',
    section: 'Restore §1, Post-Recovery Checklist',
    task: 'full system restore',
    runbooks: ['fullSystemRestore'],
    by: 'stop, restore, integrity, start, health, recovery proof; drDrill fullSystemRestore drills it',
  },
  {
    procedure: '004',
    section: 'Restore §2',
    task: 'proof-only restore',
    runbooks: ['proofRestore'],
    by: "one day's proof file, the Merkle chain verified, the receipt index rebuilt",
  },
  {
    procedure: '004',
    section: 'Restore §3, §4',
    task: 'ledger restore; panic recovery',
    runbooks: ['panicRecovery'],
    by: 'gate restoreLedger; the nonce store rebuilt; a recovery proof',
  },
  {
    procedure: '004',
    section: 'Disaster Recovery Drill',
    task: 'quarterly simulated disaster and drill proof',
    runbooks: ['drDrill'],
    by: 'scenarios in a sandbox; a signed drill proof',
  },
  {
    procedure: '004',
    section: 'Backup Verification',
    task: 'daily archive verification; integrity checks',
    runbooks: ['verifyBackup', 'healthCheck'],
    by: 'on schedules',
  },
  {
    procedure: '004',
    section: 'Retention Policy',
    task: 'archives 90 days, databases 30 days',
    runbooks: ['applyRetention'],
    by: "the target's retention settings",
  },
];
