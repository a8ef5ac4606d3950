// The byte rings of the xenstore and console pages (xenstore-ring.txt,
// io/console.h) as dom0's side uses them: data, size, and the two free-running
// u32 indices, all in the guest's page. The indices are the guest's to break,
// so a pair further apart than the ring is reported, never used.

/** Where one ring lives in its page. `size` is a power of two. */
export interface ByteRingLayout {
  data: number;
  size: number;
  cons: number;
  prod: number;
}

/** Takes every unread byte, moving `cons` up to `prod`: the bytes (maybe none), or null for impossible indices. */
export function takeBytes(view: DataView, ring: ByteRingLayout): Uint8Array | null {
  const cons = view.getUint32(ring.cons, true);
  const prod = view.getUint32(ring.prod, true);
  const count = (prod - cons) >>> 0;
  if (count > ring.size) return null;
  const bytes = new Uint8Array(count);
  for (let i = 0; i < count; i++) bytes[i] = view.getUint8(ring.data + ((cons + i) & (ring.size - 1)));
  if (count > 0) view.setUint32(ring.cons, prod, true);
  return bytes;
}

/** Puts as many of `bytes` as there is room for, moving `prod`: the count put, or -1 for impossible indices. */
export function putBytes(view: DataView, ring: ByteRingLayout, bytes: Uint8Array): number {
  const cons = view.getUint32(ring.cons, true);
  const prod = view.getUint32(ring.prod, true);
  const used = (prod - cons) >>> 0;
  if (used > ring.size) return -1;
  const count = Math.min(bytes.length, ring.size - used);
  for (let i = 0; i < count; i++) view.setUint8(ring.data + ((prod + i) & (ring.size - 1)), bytes[i]!);
  if (count > 0) view.setUint32(ring.prod, (prod + count) >>> 0, true);
  return count;
}
