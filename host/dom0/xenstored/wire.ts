// The XenStore wire protocol (xs_wire.h): message types, the 16-byte header,
// error names, and a streaming decoder. Pure: no I/O, no store.
import { XENSTORE, xsd_sockmsg } from "../../xen/abi.js";

/** Message types (enum xsd_sockmsg_type of the newest xs_wire.h), declared with the rest of Xen's ABI. */
export { XS as XsType } from "../../xen/abi.js";

export const HEADER_SIZE = xsd_sockmsg.sizeof;
export const XENSTORE_PAYLOAD_MAX = XENSTORE.PAYLOAD_MAX;
export const XENSTORE_ABS_PATH_MAX = XENSTORE.ABS_PATH_MAX;
export const XENSTORE_REL_PATH_MAX = XENSTORE.REL_PATH_MAX;

/** Server feature bits (xenstore_domain_interface.server_features); Debian's headers predate the last two. */
export const XENSTORE_SERVER_FEATURE = {
  RECONNECTION: XENSTORE.SERVER_FEATURE_RECONNECTION,
  ERROR: XENSTORE.SERVER_FEATURE_ERROR,
  WATCHDEPTH: 4,
  DOMID_ANY: 8,
} as const;

/** xsd_errors: the error names sent in ERROR replies and their Linux errno values. */
export const XSD_ERRORS = {
  EINVAL: 22,
  EACCES: 13,
  EEXIST: 17,
  EISDIR: 21,
  ENOENT: 2,
  ENOMEM: 12,
  ENOSPC: 28,
  EIO: 5,
  ENOTEMPTY: 39,
  ENOSYS: 38,
  EROFS: 30,
  EBUSY: 16,
  EAGAIN: 11,
  EISCONN: 106,
  E2BIG: 7,
  EPERM: 1,
} as const;

export type XsErrorName = keyof typeof XSD_ERRORS;

/** The errno for an error name; names not in xsd_errors map to EINVAL, as clients do. */
export function errnoOfName(name: string): number {
  return Object.hasOwn(XSD_ERRORS, name) ? XSD_ERRORS[name as XsErrorName] : XSD_ERRORS.EINVAL;
}

/** The error name for an errno; an errno not in xsd_errors is reported as EINVAL. */
export function nameOfErrno(errno: number): XsErrorName {
  for (const [name, value] of Object.entries(XSD_ERRORS)) if (value === errno) return name as XsErrorName;
  return "EINVAL";
}

export interface XsMessage {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
}

/** `value` as a little-endian u32 at `offset`. */
function putUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value;
  bytes[offset + 1] = value >>> 8;
  bytes[offset + 2] = value >>> 16;
  bytes[offset + 3] = value >>> 24;
}

/** Header plus payload, little-endian u32 fields. Refuses payloads the peer must reject. */
export function encodeMessage(message: XsMessage): Uint8Array {
  const { payload } = message;
  if (payload.length > XENSTORE_PAYLOAD_MAX)
    throw new RangeError(`payload ${payload.length} > ${XENSTORE_PAYLOAD_MAX}`);
  // Written byte by byte: a DataView per message cost more than the rest of the encoding.
  const bytes = new Uint8Array(HEADER_SIZE + payload.length);
  putUint32(bytes, 0, message.type);
  putUint32(bytes, 4, message.reqId);
  putUint32(bytes, 8, message.txId);
  putUint32(bytes, 12, payload.length);
  bytes.set(payload, HEADER_SIZE);
  return bytes;
}

/** Payload bytes as a string, one char per byte, so tokens and values round-trip unchanged. */
export function bytesToText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
}

/** The inverse of bytesToText: each char's low byte. */
export function textToBytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let index = 0; index < text.length; index++) bytes[index] = text.charCodeAt(index);
  return bytes;
}

/** A payload of nul-terminated strings, the shape of most requests and replies. */
export function strings(...parts: string[]): Uint8Array {
  return textToBytes(parts.map((part) => `${part}\0`).join(""));
}

const EMPTY = new Uint8Array(0);

/**
 * Bytes in, whole messages out. A header announcing more than
 * XENSTORE_PAYLOAD_MAX is a protocol error: the stream cannot be resynchronised,
 * so the decoder stops for good and reports it.
 */
export class MessageDecoder {
  private buffered = EMPTY;
  private broken = false;

  get failed(): boolean {
    return this.broken;
  }

  /** Bytes received but not yet part of a whole message (a partial packet). */
  get pending(): number {
    return this.buffered.length;
  }

  /** Appends bytes; returns the messages they complete, or "protocol-error" once the stream is broken. */
  push(bytes: Uint8Array): XsMessage[] | "protocol-error" {
    if (this.broken) return "protocol-error";
    // Most pushes start on a message boundary: then the bytes are read where they are, not joined first.
    let joined = bytes;
    if (this.buffered.length > 0) {
      joined = new Uint8Array(this.buffered.length + bytes.length);
      joined.set(this.buffered);
      joined.set(bytes, this.buffered.length);
    }
    const view = new DataView(joined.buffer, joined.byteOffset, joined.length);
    const messages: XsMessage[] = [];
    let offset = 0;
    while (joined.length - offset >= HEADER_SIZE) {
      const length = view.getUint32(offset + 12, true);
      if (length > XENSTORE_PAYLOAD_MAX) {
        this.broken = true;
        this.buffered = EMPTY;
        return "protocol-error";
      }
      if (joined.length - offset < HEADER_SIZE + length) break;
      messages.push({
        type: view.getUint32(offset, true),
        reqId: view.getUint32(offset + 4, true),
        txId: view.getUint32(offset + 8, true),
        // A copy: the caller may reuse its buffer.
        payload: joined.slice(offset + HEADER_SIZE, offset + HEADER_SIZE + length),
      });
      offset += HEADER_SIZE + length;
    }
    this.buffered = offset === joined.length ? EMPTY : joined.slice(offset);
    return messages;
  }

  /** Drops a partial packet (the reconnection protocol's reset). */
  reset(): void {
    this.buffered = EMPTY;
    this.broken = false;
  }
}
