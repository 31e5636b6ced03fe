/**
 * A status vocabulary whose names and codes are unique by construction: the table is checked when the
 * module loads and a duplicate throws, so a collision like Trove's (UPGRADING and RESTARTING both 0x22)
 * cannot ship — the process would not start, and the unit tests would fail first.
 */

export interface StatusEntry {
  /** Stored and sent on the wire; never reused for another meaning. */
  readonly code: number;
}

export type StatusTable<N extends string, E extends StatusEntry> = { readonly [K in N]: E & { readonly name: K } };

export class DuplicateStatusCodeError extends Error {
  readonly code = 'DUPLICATE_STATUS_CODE';
}

/**
 * Freezes a table of statuses keyed by name, adding each entry's name, after checking that no two share a
 * code. Returns the table plus lookups by code.
 */
export function defineStatuses<N extends string, E extends StatusEntry>(
  vocabulary: string,
  entries: { readonly [K in N]: E },
): {
  table: StatusTable<N, E>;
  names: readonly [N, ...N[]];
  byCode(code: number): (E & { readonly name: N }) | undefined;
} {
  const seen = new Map<number, string>();
  const table = {} as Record<string, E & { name: string }>;
  for (const [name, entry] of Object.entries(entries) as [N, E][]) {
    if (!Number.isInteger(entry.code) || entry.code < 0) {
      throw new DuplicateStatusCodeError(`${vocabulary}: ${name} has code ${entry.code}, not a non-negative integer`);
    }
    const owner = seen.get(entry.code);
    if (owner !== undefined) {
      throw new DuplicateStatusCodeError(
        `${vocabulary}: ${name} and ${owner} share code 0x${entry.code.toString(16)}; every status needs its own`,
      );
    }
    seen.set(entry.code, name);
    table[name] = Object.freeze({ ...entry, name });
  }
  const names = Object.keys(table) as N[];
  if (names.length === 0) throw new DuplicateStatusCodeError(`${vocabulary}: no statuses`);
  const byCodeMap = new Map(Object.values(table).map((entry) => [entry.code, entry]));
  return {
    table: Object.freeze(table) as StatusTable<N, E>,
    names: names as [N, ...N[]],
    byCode: (code) => byCodeMap.get(code) as (E & { readonly name: N }) | undefined,
  };
}
