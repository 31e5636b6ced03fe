/** Pages a list by name, as the contract's list_* methods do: items after `marker`, at most `limit`. */
export function pageByName<T extends { name: string }>(
  items: T[],
  limit: number | undefined,
  marker: string | undefined,
): { items: T[]; nextMarker: string | null } {
  const sorted = [...items].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const after = marker === undefined ? sorted : sorted.filter((item) => item.name > marker);
  if (limit === undefined || after.length <= limit) return { items: after, nextMarker: null };
  const page = after.slice(0, limit);
  return { items: page, nextMarker: page[page.length - 1]?.name ?? null };
}
