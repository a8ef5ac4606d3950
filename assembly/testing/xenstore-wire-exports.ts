// The XenStore wire protocol (assembly/xenstore/wire.ts) as exports, for the
// tests (build/harness.wasm). Strings pass as marshal.ts says.
import {
  checkHeader,
  countStrings,
  encodeHeader,
  errnoOfError,
  errorName,
  headerLength,
  headerReqId,
  headerTxId,
  headerType,
  PayloadWriter,
  parseDecimal,
  parsePerms,
  parseWatchEvent,
  splitStrings,
  WatchEventFields,
} from "../xenstore/wire";
import { copyOut, permShown, showPerms } from "./marshal";

export function xs_header_encode(at: usize, type: u32, reqId: u32, txId: u32, length: u32): void {
  encodeHeader(at, type, reqId, txId, length);
}

export function xs_header_type(at: usize): u32 {
  return headerType(at);
}

export function xs_header_req_id(at: usize): u32 {
  return headerReqId(at);
}

export function xs_header_tx_id(at: usize): u32 {
  return headerTxId(at);
}

export function xs_header_length(at: usize): u32 {
  return headerLength(at);
}

export function xs_header_check(at: usize): i32 {
  return checkHeader(at);
}

export function xs_errno_of_error(payload: usize, length: u32): i32 {
  return errnoOfError(payload, length);
}

/** Copies the xsd_errors name of `errno` to `target`; its length, or -1 when xs_wire.h has none. */
export function xs_error_name(errno: i32, target: usize, capacity: u32): i32 {
  const name = errorName(errno);
  return name === null ? -1 : copyOut(name, target, capacity);
}

export function xs_count_strings(payload: usize, length: u32): i32 {
  return countStrings(payload, length);
}

/** Directory-style split; the count, or -1 when malformed. The strings go to xs_string_at. */
let splitResult: string[] = [];

export function xs_split_strings(payload: usize, length: u32): i32 {
  const strings = splitStrings(payload, length);
  if (strings === null) return -1;
  splitResult = strings;
  return strings.length;
}

export function xs_split_string_at(index: i32, target: usize, capacity: u32): i32 {
  return copyOut(splitResult[index], target, capacity);
}

const watchEventFields = new WatchEventFields();

/** 0 or -EINVAL; on 0 the fields are at xs_watch_event_field(0..3): path start, length, token start, length. */
export function xs_parse_watch_event(payload: usize, length: u32): i32 {
  return parseWatchEvent(payload, length, watchEventFields);
}

export function xs_watch_event_field(which: i32): u32 {
  const f = watchEventFields;
  return which == 0 ? f.pathStart : which == 1 ? f.pathLength : which == 2 ? f.tokenStart : f.tokenLength;
}

export function xs_parse_decimal(payload: usize, length: u32): i64 {
  return parseDecimal(payload, length);
}

/** The count of permissions, or -1 when malformed; each one is xs_perm_at(i) = access << 16 | domid. */
export function xs_parse_perms(payload: usize, length: u32): i32 {
  const perms = parsePerms(payload, length);
  if (perms === null) return -1;
  showPerms(perms);
  return perms.length;
}

export function xs_perm_at(index: i32): u32 {
  return permShown(index);
}

/** Builds a payload of NUL-terminated strings (then `value` unterminated) at `target`; its length or -E2BIG. */
export function xs_build_payload(
  target: usize,
  strings: usize,
  stringsLength: u32,
  value: usize,
  valueLength: u32,
): i32 {
  const writer = new PayloadWriter(target);
  const parts = splitStrings(strings, stringsLength);
  if (parts === null) return -1;
  for (let i = 0; i < parts.length; i++) writer.string(parts[i]);
  return writer.bytes(value, valueLength).finish();
}
