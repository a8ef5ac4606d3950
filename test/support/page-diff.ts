// Which 4 KiB pages of a linear memory changed since a copy was taken: the
// engine traces' guest memory against its previous crossing.

export const PAGE = 4096;
/** Compared a chunk at a time; only a differing chunk is compared page by page. */
const CHUNK = 16 * PAGE;

/** The numbers of the pages where `bytes` differs from `shadow` (as long or longer); those pages are copied into `shadow`, which then equals `bytes`. */
export function syncChangedPages(bytes: Uint8Array, shadow: Uint8Array): number[] {
  const changed: number[] = [];
  for (let chunk = 0; chunk < bytes.byteLength; chunk += CHUNK) {
    const end = Math.min(chunk + CHUNK, bytes.byteLength);
    if (Buffer.compare(bytes.subarray(chunk, end), shadow.subarray(chunk, end)) === 0) continue;
    for (let address = chunk; address < end; address += PAGE) {
      const page = bytes.subarray(address, address + PAGE);
      if (Buffer.compare(page, shadow.subarray(address, address + PAGE)) !== 0) {
        shadow.set(page, address);
        changed.push(address / PAGE);
      }
    }
  }
  return changed;
}
