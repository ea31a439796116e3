/**
 * Just enough of the INF format to name a driver package: the `[Version]` section's `Class`,
 * `Provider` and `DriverVer`, with `%token%` strings resolved from `[Strings]`.
 */

export interface InfVersion {
  className: string;
  provider: string;
  /** pnputil's form: `MM/DD/YYYY x.y.z.w` (INF: `DriverVer = MM/DD/YYYY,x.y.z.w`). */
  version: string;
}

function sections(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\uFEFF/, '').trim();
    if (line === '' || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1].trim().toLowerCase();
      current = out.get(name) ?? new Map<string, string>();
      out.set(name, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    // A value ends at a comment that is not inside quotes.
    let value = line.slice(eq + 1).trim();
    const m = /^("[^"]*"|[^;]*)/.exec(value);
    value = (m ? m[1] : value).trim();
    if (!current.has(key)) current.set(key, value);
  }
  return out;
}

/** Reads the identity of a driver package from its INF text. Missing fields are empty strings. */
export function parseInfVersion(text: string): InfVersion {
  const all = sections(text);
  const version = all.get('version') ?? new Map<string, string>();
  const strings = all.get('strings') ?? new Map<string, string>();
  const resolve = (value: string | undefined): string =>
    (value ?? '')
      .replace(/%([^%]+)%/g, (whole, token: string) => strings.get(token.toLowerCase()) ?? whole)
      .replace(/^"(.*)"$/, '$1')
      .trim();
  const driverVer = resolve(version.get('driverver'));
  const [date, ver] = driverVer.split(',').map((s) => s.trim());
  return {
    className: resolve(version.get('class')),
    provider: resolve(version.get('provider')),
    version: [date, ver].filter(Boolean).join(' '),
  };
}
