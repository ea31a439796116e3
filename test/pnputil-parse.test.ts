/**
 * The pnputil adapter's parsers on reports in PnPUtil's documented format (CRLF line ends, the
 * "Microsoft PnP Utility" header, blank-line separated `Key:   value` blocks), and the INF reader.
 */
import {
  checkpointArgs,
  parseAddDriver,
  parseDeviceList,
  parseDriverList,
  parseExport,
  parsePnputilBlocks,
  parseProblemCode,
  sanitizeDescription,
  saysNoDevices,
} from '../activities/lib/drivers/pnputil';
import { parseInfVersion } from '../activities/lib/drivers/inf';
import { safeDeviceId } from '../activities/lib/drivers/backups';
import { describeProblem } from '../activities/lib/drivers/types';
import { infText, NETDRV_2_0_BROKEN } from '../scripts/demo-drivers';

const crlf = (lines: string[]) => lines.join('\r\n');

const ENUM_DRIVERS = crlf([
  'Microsoft PnP Utility',
  '',
  'Published Name:     oem3.inf',
  'Original Name:      netdrv.inf',
  'Provider Name:      Contoso Ltd.',
  'Class Name:         Network adapters',
  'Class GUID:         {4d36e972-e325-11ce-bfc1-08002be10318}',
  'Driver Version:     01/15/2025 1.0.0.0',
  'Signer Name:        Microsoft Windows Hardware Compatibility Publisher',
  '',
  'Published Name:     oem12.inf',
  'Original Name:      ctxaudio.inf',
  'Provider Name:      Contoso Audio',
  'Class Name:         Sound, video and game controllers',
  'Class GUID:         {4d36e96c-e325-11ce-bfc1-08002be10318}',
  'Extension ID:       {a6a4ea4f-5e7f-4f6b-8b8a-7c0f6f4c3e11}',
  'Driver Version:     03/11/2024 6.0.9000.1',
  'Signer Name:        Microsoft Windows Hardware Compatibility Publisher',
  '',
]);

const ENUM_DEVICES = crlf([
  'Microsoft PnP Utility',
  '',
  'Instance ID:                PCI\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10\\3&11583659&0&FE',
  'Device Description:         Intel(R) Ethernet Connection (7) I219-LM',
  'Class Name:                 Net',
  'Class GUID:                 {4d36e972-e325-11ce-bfc1-08002be10318}',
  'Manufacturer Name:          Intel',
  'Status:                     Started',
  'Driver Name:                oem23.inf',
  '',
  'Instance ID:                USB\\VID_0BDA&PID_8153\\000001000000',
  'Device Description:         USB 10/100/1000 LAN',
  'Class Name:                 Net',
  'Class GUID:                 {4d36e972-e325-11ce-bfc1-08002be10318}',
  'Manufacturer Name:          Realtek',
  'Status:                     Problem',
  'Problem Code:               28 (0x1C) [CM_PROB_FAILED_INSTALL]',
  'Problem Status:             0xC0000490 [STATUS_NOT_FOUND]',
  '',
  'Instance ID:                ACPI\\PNP0303\\4&1D401FB5&0',
  'Device Description:         Standard PS/2 Keyboard',
  'Class Name:                 Keyboard',
  'Status:                     Disabled',
  'Problem Code:               22 (0x16) [CM_PROB_DISABLED]',
  'Driver Name:                keyboard.inf',
  '',
]);

test('enum-drivers: every package with its published and original name, provider, class and version', () => {
  expect(parseDriverList(ENUM_DRIVERS)).toEqual([
    {
      publishedName: 'oem3.inf',
      originalName: 'netdrv.inf',
      provider: 'Contoso Ltd.',
      className: 'Network adapters',
      version: '01/15/2025 1.0.0.0',
    },
    {
      publishedName: 'oem12.inf',
      originalName: 'ctxaudio.inf',
      provider: 'Contoso Audio',
      className: 'Sound, video and game controllers',
      version: '03/11/2024 6.0.9000.1',
    },
  ]);
});

test('enum-drivers with the blank line missing between records still gives two records', () => {
  const squashed = ENUM_DRIVERS.replace(
    'Microsoft Windows Hardware Compatibility Publisher\r\n\r\n',
    'X\r\n',
  );
  expect(parseDriverList(squashed).map((d) => d.publishedName)).toEqual(['oem3.inf', 'oem12.inf']);
});

test('enum-devices: instance ids with backslashes and ampersands, status, problem code, driver', () => {
  const devices = parseDeviceList(ENUM_DEVICES);
  expect(devices).toEqual([
    {
      instanceId: 'PCI\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10\\3&11583659&0&FE',
      description: 'Intel(R) Ethernet Connection (7) I219-LM',
      className: 'Net',
      status: 'Started',
      problemCode: 0,
      driver: 'oem23.inf',
    },
    {
      instanceId: 'USB\\VID_0BDA&PID_8153\\000001000000',
      description: 'USB 10/100/1000 LAN',
      className: 'Net',
      status: 'Problem',
      problemCode: 28,
      problem: '28 (0x1C) [CM_PROB_FAILED_INSTALL]',
    },
    {
      instanceId: 'ACPI\\PNP0303\\4&1D401FB5&0',
      description: 'Standard PS/2 Keyboard',
      className: 'Keyboard',
      status: 'Disabled',
      problemCode: 22,
      problem: '22 (0x16) [CM_PROB_DISABLED]',
      driver: 'keyboard.inf',
    },
  ]);
});

test('"No devices were found" is an empty list, and is recognised', () => {
  const none = crlf(['Microsoft PnP Utility', '', 'No devices were found on the system.', '']);
  expect(parseDeviceList(none)).toEqual([]);
  expect(saysNoDevices(none)).toBe(true);
  expect(saysNoDevices(ENUM_DEVICES)).toBe(false);
});

test('problem codes in decimal-with-hex and in hex only', () => {
  expect(parseProblemCode('28 (0x1C) [CM_PROB_FAILED_INSTALL]')).toBe(28);
  expect(parseProblemCode('0x2B')).toBe(43);
  expect(parseProblemCode('unknown')).toBeUndefined();
  expect(describeProblem(28)).toBe('problem code 28 (the drivers are not installed)');
  expect(describeProblem(99)).toBe('problem code 99');
});

test('add-driver: a new package, one already in the store, and a reboot notice', () => {
  const report = parseAddDriver(
    crlf([
      'Microsoft PnP Utility',
      '',
      'Adding driver package:  netdrv.inf',
      'Driver package added successfully.',
      'Published Name:         oem9.inf',
      'Driver package installed on matching devices.',
      '',
      'Adding driver package:  ctxaudio.inf',
      'Driver package added successfully. (Already exists in the system)',
      'Published Name:         oem5.inf',
      '',
      'Total driver packages:  2',
      'Added driver packages:  2',
      '',
      'System reboot is needed to complete install operations!',
    ]),
  );
  expect(report).toEqual({
    publishedNames: ['oem9.inf', 'oem5.inf'],
    total: 2,
    added: 2,
    failures: [],
    rebootNeeded: true,
  });
});

test('add-driver that failed: the failure line, nothing added', () => {
  const report = parseAddDriver(
    crlf([
      'Microsoft PnP Utility',
      '',
      'Adding driver package:  netdrv.inf',
      'Failed to add driver package: The third-party INF does not contain digital signature information.',
      '',
      'Total driver packages:  1',
      'Added driver packages:  0',
    ]),
  );
  expect(report.publishedNames).toEqual([]);
  expect(report.added).toBe(0);
  expect(report.failures).toEqual([
    'Failed to add driver package: The third-party INF does not contain digital signature information.',
  ]);
  expect(report.rebootNeeded).toBe(false);
});

test('export-driver: exported packages, totals and failures', () => {
  expect(
    parseExport(
      crlf([
        'Microsoft PnP Utility',
        '',
        'Exporting driver package:   oem3.inf (netdrv.inf)',
        'Driver package exported successfully.',
        '',
        'Exporting driver package:   oem5.inf (ctxaudio.inf)',
        'Failed to export driver package: Access is denied.',
        '',
        'Total driver packages:  2',
        'Exported driver packages:  1',
      ]),
    ),
  ).toEqual({
    exported: ['oem3.inf'],
    total: 2,
    exportedCount: 1,
    failures: ['Failed to export driver package: Access is denied.'],
  });
});

test('the header alone and notes without a key give no blocks', () => {
  expect(
    parsePnputilBlocks('Microsoft PnP Utility\r\n\r\nDriver package exported successfully.\r\n'),
  ).toEqual([]);
});

test('a restore point description cannot break out of the PowerShell string', () => {
  expect(sanitizeDescription("Lifeboat: it's $(Remove-Item C:\\ -Recurse); `whoami`")).toBe(
    'Lifeboat: it s (Remove-Item C: -Recurse) whoami',
  );
  expect(checkpointArgs('before netdrv 2.0')).toEqual([
    '-NoProfile',
    '-NonInteractive',
    '-Command',
    "Checkpoint-Computer -Description 'before netdrv 2.0' -RestorePointType MODIFY_SETTINGS -ErrorAction Stop",
  ]);
  expect(sanitizeDescription('x'.repeat(300))).toHaveLength(200);
});

test('INF [Version]: class, provider from [Strings], DriverVer as pnputil shows it', () => {
  expect(parseInfVersion(infText(NETDRV_2_0_BROKEN))).toEqual({
    className: 'Net',
    provider: 'Contoso Ltd.',
    version: '09/30/2025 2.0.0.0',
  });
  expect(parseInfVersion('[Version]\nDriverVer=1/2/2020, 3.4 ; comment\n')).toEqual({
    className: '',
    provider: '',
    version: '1/2/2020 3.4',
  });
});

test('device ids become safe folder names; long ids keep a hash of the whole id', () => {
  expect(safeDeviceId('PCI\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10\\3&11583659&0&FE')).toBe(
    'PCI_VEN_8086_DEV_15BC_SUBSYS_08B21028_REV_10_3_11583659_0_FE',
  );
  const long = `USB\\${'A'.repeat(150)}\\1`;
  const other = `USB\\${'A'.repeat(150)}\\2`;
  expect(safeDeviceId(long)).toHaveLength(100);
  expect(safeDeviceId(long)).not.toBe(safeDeviceId(other));
  expect(safeDeviceId('..\\..\\etc')).toBe('etc');
});
