// The XenStore wire protocol (io/xs_wire.h, docs/misc/xenstore.txt), pure:
// message types, the 16-byte xsd_sockmsg header, error strings, and the
// payloads of requests and replies. Nothing here does I/O.
//
// Every parser takes the payload's address and length and reads only inside
// [payload, payload + length): a reply comes from xenstored, which this guest
// does not trust, so a missing terminator or a bad number is -EINVAL, never a
// read past the end.
import {
  E2BIG,
  EACCES,
  EAGAIN,
  EBUSY,
  EEXIST,
  EINVAL,
  EIO,
  EISCONN,
  EISDIR,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOSYS,
  ENOTEMPTY,
  EPERM,
  EROFS,
  XENSTORE_PAYLOAD_MAX,
} from "../xen/abi";
import { xsd_sockmsg } from "../xen/layout";

// The message types (enum xsd_sockmsg_type), declared with the rest of Xen's ABI.
export {
  XS_CONTROL,
  XS_DIRECTORY,
  XS_DIRECTORY_PART,
  XS_ERROR,
  XS_GET_DOMAIN_PATH,
  XS_GET_FEATURE,
  XS_GET_PERMS,
  XS_GET_QUOTA,
  XS_INTRODUCE,
  XS_INVALID,
  XS_IS_DOMAIN_INTRODUCED,
  XS_MKDIR,
  XS_READ,
  XS_RELEASE,
  XS_RESET_WATCHES,
  XS_RESUME,
  XS_RM,
  XS_SET_FEATURE,
  XS_SET_PERMS,
  XS_SET_QUOTA,
  XS_SET_TARGET,
  XS_TRANSACTION_END,
  XS_TRANSACTION_START,
  XS_TYPE_COUNT,
  XS_UNWATCH,
  XS_WATCH,
  XS_WATCH_EVENT,
  XS_WRITE,
} from "../xen/abi";

/** Bytes of an xsd_sockmsg header. */
export const XS_HEADER_SIZE: u32 = xsd_sockmsg.SIZE;
/** Header and largest payload: the buffer one whole message needs. */
export const XS_MESSAGE_MAX: u32 = XS_HEADER_SIZE + XENSTORE_PAYLOAD_MAX;

/** Transaction id of a request outside any transaction. */
export const XS_NO_TRANSACTION: u32 = 0;

// Header fields are little-endian u32s, as Wasm stores them.

export function encodeHeader(at: usize, type: u32, reqId: u32, txId: u32, length: u32): void {
  store<u32>(at + xsd_sockmsg.type, type);
  store<u32>(at + xsd_sockmsg.req_id, reqId);
  store<u32>(at + xsd_sockmsg.tx_id, txId);
  store<u32>(at + xsd_sockmsg.len, length);
}

export function headerType(at: usize): u32 {
  return load<u32>(at + xsd_sockmsg.type);
}

export function headerReqId(at: usize): u32 {
  return load<u32>(at + xsd_sockmsg.req_id);
}

export function headerTxId(at: usize): u32 {
  return load<u32>(at + xsd_sockmsg.tx_id);
}

export function headerLength(at: usize): u32 {
  return load<u32>(at + xsd_sockmsg.len);
}

/** 0, or -E2BIG when the header announces more than XENSTORE_PAYLOAD_MAX bytes (either direction). */
export function checkHeader(at: usize): i32 {
  return headerLength(at) > u32(XENSTORE_PAYLOAD_MAX) ? -E2BIG : 0;
}

// Errors travel as their names (xsd_errors, in xs_wire.h's order).

const ERROR_NAMES: StaticArray<string> = [
  "EINVAL",
  "EACCES",
  "EEXIST",
  "EISDIR",
  "ENOENT",
  "ENOMEM",
  "ENOSPC",
  "EIO",
  "ENOTEMPTY",
  "ENOSYS",
  "EROFS",
  "EBUSY",
  "EAGAIN",
  "EISCONN",
  "E2BIG",
  "EPERM",
];
/** The errnos of ERROR_NAMES, in the same order. */
export const ERROR_NUMBERS: StaticArray<i32> = [
  EINVAL,
  EACCES,
  EEXIST,
  EISDIR,
  ENOENT,
  ENOMEM,
  ENOSPC,
  EIO,
  ENOTEMPTY,
  ENOSYS,
  EROFS,
  EBUSY,
  EAGAIN,
  EISCONN,
  E2BIG,
  EPERM,
];

/** The name xenstored sends for `errno`, or null for one xs_wire.h does not list. */
export function errorName(errno: i32): string | null {
  for (let i = 0; i < ERROR_NUMBERS.length; i++) if (ERROR_NUMBERS[i] == errno) return ERROR_NAMES[i];
  return null;
}

/**
 * The errno (positive) of an XS_ERROR payload: its first string, NUL-terminated
 * or running to the payload's end. Names xs_wire.h does not list are EINVAL.
 */
export function errnoOfError(payload: usize, length: u32): i32 {
  const end = stringEnd(payload, length, 0);
  const nameLength = end < 0 ? length : u32(end);
  for (let i = 0; i < ERROR_NAMES.length; i++) {
    if (asciiEquals(ERROR_NAMES[i], payload, nameLength)) return ERROR_NUMBERS[i];
  }
  return EINVAL;
}

/** Whether the `length` bytes at `at` are exactly the ASCII string `text`. */
function asciiEquals(text: string, at: usize, length: u32): bool {
  if (u32(text.length) != length) return false;
  for (let i: u32 = 0; i < length; i++) if (u32(text.charCodeAt(i)) != u32(load<u8>(at + i))) return false;
  return true;
}

// Strings in a payload.

/** Offset of the NUL ending the string that starts at `from`, or -EINVAL if none before `length`. */
export function stringEnd(payload: usize, length: u32, from: u32): i32 {
  for (let i = from; i < length; i++) if (load<u8>(payload + i) == 0) return i32(i);
  return -EINVAL;
}

/** How many NUL-terminated strings fill the payload exactly, or -EINVAL when the last is unterminated. */
export function countStrings(payload: usize, length: u32): i32 {
  if (length != 0 && load<u8>(payload + length - 1) != 0) return -EINVAL;
  let count = 0;
  for (let i: u32 = 0; i < length; i++) if (load<u8>(payload + i) == 0) count++;
  return count;
}

/**
 * The NUL-terminated strings of a reply (a directory listing), decoded as
 * UTF-8; null when the payload is not exactly such strings.
 */
export function splitStrings(payload: usize, length: u32): string[] | null {
  const count = countStrings(payload, length);
  if (count < 0) return null;
  const strings = new Array<string>(count);
  let start: u32 = 0;
  for (let n = 0; n < count; n++) {
    const end = u32(stringEnd(payload, length, start));
    strings[n] = String.UTF8.decodeUnsafe(payload + start, end - start);
    start = end + 1;
  }
  return strings;
}

/**
 * Whether the bytes are well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF). Names from xenstored are decoded into strings
 * and handed on as UTF-8, so anything else would come out mangled.
 */
export function isUtf8(at: usize, length: u32): bool {
  let i: u32 = 0;
  while (i < length) {
    const lead = u32(load<u8>(at + i));
    if (lead < 0x80) {
      i++;
      continue;
    }
    let extra: u32;
    let smallest: u32;
    if ((lead & 0xe0) == 0xc0) {
      extra = 1;
      smallest = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      extra = 2;
      smallest = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      extra = 3;
      smallest = 0x10000;
    } else return false;
    if (extra >= length - i) return false;
    let code = lead & (0x3f >> extra);
    for (let k: u32 = 1; k <= extra; k++) {
      const next = u32(load<u8>(at + i + k));
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < smallest || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

/** The path and token of an XS_WATCH_EVENT: where each string starts and how long it is. */
export class WatchEventFields {
  pathStart: u32 = 0;
  pathLength: u32 = 0;
  tokenStart: u32 = 0;
  tokenLength: u32 = 0;
}

/**
 * Splits an XS_WATCH_EVENT payload, which must be exactly two NUL-terminated
 * strings (XS_WATCH_PATH, XS_WATCH_TOKEN), the path not empty. 0 or -EINVAL.
 */
export function parseWatchEvent(payload: usize, length: u32, into: WatchEventFields): i32 {
  if (countStrings(payload, length) != 2) return -EINVAL;
  const pathEnd = u32(stringEnd(payload, length, 0));
  if (pathEnd == 0) return -EINVAL;
  into.pathStart = 0;
  into.pathLength = pathEnd;
  into.tokenStart = pathEnd + 1;
  into.tokenLength = length - 1 - into.tokenStart;
  return 0;
}

/**
 * A decimal u32 filling the payload, optionally NUL-terminated (transaction
 * ids, domids, feature and quota values): no sign, no spaces, no overflow.
 * The value, or -1 (as i64) when the payload is not such a number.
 */
export function parseDecimal(payload: usize, length: u32): i64 {
  const end = stringEnd(payload, length, 0);
  const digits = end < 0 ? length : u32(end);
  if (digits == 0 || (end >= 0 && u32(end) != length - 1)) return -1;
  let value: u64 = 0;
  for (let i: u32 = 0; i < digits; i++) {
    const digit = u32(load<u8>(payload + i)) - 0x30;
    if (digit > 9) return -1;
    value = value * 10 + digit;
    if (value > 0xffffffff) return -1;
  }
  return i64(value);
}

/** Where the parts of an XS_DIRECTORY_PART reply are. */
export class DirectoryPart {
  generationLength: u32 = 0;
  namesStart: u32 = 0;
  /** Bytes of this part's names, each with its NUL: how far the next part's offset moves. */
  namesLength: u32 = 0;
  /** The list ends in this part. */
  complete: bool = false;
}

/**
 * Splits an XS_DIRECTORY_PART reply: the node's generation count (a non-empty
 * string), then child names, then an empty string when the list ends in this
 * part (xenstore.txt). Names are never empty, so an empty string anywhere
 * else, or a part that neither names a child nor ends the list, is -EINVAL:
 * every accepted part makes progress.
 */
export function parseDirectoryPart(payload: usize, length: u32, into: DirectoryPart): i32 {
  const generationEnd = stringEnd(payload, length, 0);
  if (generationEnd <= 0) return -EINVAL;
  const start = u32(generationEnd) + 1;
  if (countStrings(payload + start, length - start) <= 0) return -EINVAL;
  let complete = false;
  for (let at = start; at < length; ) {
    const end = u32(stringEnd(payload, length, at));
    if (end == at) {
      if (end != length - 1) return -EINVAL;
      complete = true;
    }
    at = end + 1;
  }
  into.generationLength = u32(generationEnd);
  into.namesStart = start;
  into.namesLength = length - start - (complete ? 1 : 0);
  into.complete = complete;
  return 0;
}

/** `dir`/`name`, or `dir` itself for an empty name (the seed's xs_join). */
export function joinPath(dir: string, name: string): string {
  return name.length == 0 ? dir : `${dir}/${name}`;
}

// Permissions: a letter for the access, then the domid ("b0", "r5").

export const PERM_NONE: u8 = 0x6e; // 'n'
export const PERM_READ: u8 = 0x72; // 'r'
export const PERM_WRITE: u8 = 0x77; // 'w'
export const PERM_BOTH: u8 = 0x62; // 'b'

/** One entry of a node's permissions; the first entry names the owner and everyone else's access. */
export class Perm {
  constructor(
    public access: u8,
    public domid: u32,
  ) {}

  toString(): string {
    return String.fromCharCode(this.access) + this.domid.toString();
  }
}

function isAccess(c: u8): bool {
  return c == PERM_NONE || c == PERM_READ || c == PERM_WRITE || c == PERM_BOTH;
}

/**
 * The permissions of an XS_GET_PERMS reply: at least one NUL-terminated entry,
 * each an access letter and a domid below 65536. Null when malformed.
 */
export function parsePerms(payload: usize, length: u32): Perm[] | null {
  const count = countStrings(payload, length);
  if (count <= 0) return null;
  const perms = new Array<Perm>(count);
  let start: u32 = 0;
  for (let n = 0; n < count; n++) {
    const end = u32(stringEnd(payload, length, start));
    if (end - start < 2) return null;
    const access = load<u8>(payload + start);
    const domid = parseDecimal(payload + start + 1, end - start - 1);
    if (!isAccess(access) || domid < 0 || domid > 0xffff) return null;
    perms[n] = new Perm(access, u32(domid));
    start = end + 1;
  }
  return perms;
}

/**
 * Builds a request payload in a caller's buffer of XENSTORE_PAYLOAD_MAX bytes.
 * Appends past the limit are refused and remembered: `finish()` is then -E2BIG,
 * so a request that cannot be sent whole is never sent at all.
 */
export class PayloadWriter {
  length: u32 = 0;
  overflow: bool = false;

  constructor(readonly at: usize) {}

  reset(): void {
    this.length = 0;
    this.overflow = false;
  }

  /** Appends `text` as UTF-8, NUL-terminated unless `terminate` is false (a WRITE's value). */
  string(text: string, terminate: bool = true): PayloadWriter {
    const bytes = u32(String.UTF8.byteLength(text, terminate));
    if (this.reserve(bytes)) {
      String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, this.at + this.length, terminate);
      this.length += bytes;
    }
    return this;
  }

  /** Appends raw bytes (a binary value, not terminated). */
  bytes(source: usize, length: u32): PayloadWriter {
    if (this.reserve(length)) {
      memory.copy(this.at + this.length, source, length);
      this.length += length;
    }
    return this;
  }

  /** The payload length, or -E2BIG when something did not fit. */
  finish(): i32 {
    return this.overflow ? -E2BIG : i32(this.length);
  }

  private reserve(bytes: u32): bool {
    if (this.overflow || bytes > u32(XENSTORE_PAYLOAD_MAX) - this.length) this.overflow = true;
    return !this.overflow;
  }
}
