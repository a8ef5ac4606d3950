// Ethernet frames for the network tests and the demo's checks: a header
// (destination, source, EtherType) and a payload, and the MACs as text.

/** "aa:bb:cc:dd:ee:ff" as 6 bytes. */
export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(":").map((byte) => Number.parseInt(byte, 16)));
}

export const BROADCAST = "ff:ff:ff:ff:ff:ff";

/** A frame to `destination` from `source` of EtherType `type` (an experimental one by default) carrying `payload`. */
export function frame(destination: string, source: string, payload: Uint8Array | number, type = 0x88b5): Uint8Array {
  const body =
    typeof payload === "number" ? Uint8Array.from({ length: payload }, (_, i) => (i * 7 + 3) & 0xff) : payload;
  const bytes = new Uint8Array(14 + body.length);
  bytes.set(macBytes(destination), 0);
  bytes.set(macBytes(source), 6);
  bytes[12] = type >> 8;
  bytes[13] = type & 0xff;
  bytes.set(body, 14);
  return bytes;
}
