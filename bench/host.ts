/** The machine a run measured on, for the results file and the report's header. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface HostDescription {
  cpuModel?: string;
  /** Logical CPUs the OS reports, and how many this process may use. */
  cpus: number;
  availableParallelism: number;
  memoryBytes: number;
  /** Memory the kernel says is available (page cache it can drop included), at the start. */
  availableMemoryBytes?: number;
  platform: string;
  kernel: string;
  kernelVersion: string;
  node: string;
  /** Filesystem type and device of the work folder. */
  workFilesystem?: string;
  /** 1-, 5- and 15-minute load averages at the start and at the end of the run. */
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
}

function memAvailable(): number | undefined {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function filesystemOf(dir: string): string | undefined {
  const r = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '-T', dir], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/\s+/g, ' ') : undefined;
}

const loads = () => os.loadavg().map((l) => Number(l.toFixed(2)));

export function describeHost(workDir: string): HostDescription {
  return {
    cpuModel: os.cpus()[0]?.model,
    cpus: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    availableMemoryBytes: memAvailable(),
    platform: `${os.type()} ${os.arch()}`,
    kernel: os.release(),
    kernelVersion: os.version(),
    node: process.version,
    workFilesystem: filesystemOf(workDir),
    loadAverageAtStart: loads(),
  };
}

export function finishHost(host: HostDescription): void {
  host.loadAverageAtEnd = loads();
}
