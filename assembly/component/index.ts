// The XenStore client component's core module (wit/xenstore.wit, world
// xenstore-client): the guest's XsClient over the imported byte stream, its
// operations exported with the canonical ABI (./abi). tools/build.ts gives
// each export its canonical name: `read` becomes
// "xenbus-wasm:xenstore/client@0.1.0#read", `post_read` its
// "cabi_post_..." function, `get_perms` "...#get-perms".
//
// Requests carry req_id 0, as libxenstore's do: one is in flight at a time.
// Strings go to the host as UTF-8 the client checked (xenstored's replies are
// not trusted): a name that is not UTF-8 is ebadmsg.
import { EBADMSG, EINVAL } from "../xen/abi";
import { XsClient } from "../xenstore/client";
import { isUtf8, PERM_BOTH, PERM_NONE, PERM_READ, PERM_WRITE, Perm, stringEnd } from "../xenstore/wire";
import {
  blockResult,
  copyToBlock,
  errorResult,
  freeResult,
  RETURN_AREA,
  storeSlice,
  takeString,
  u32Result,
  unitResult,
} from "./abi";
import { StreamTransport } from "./transport";
// The abort handler asconfig names (`use`) must be in the program.
import "./abort";

export { cabi_realloc } from "./abi";

const transport = new StreamTransport();
const client = new XsClient(transport, false);
transport.onFailure = connectionLost;

/** A stream that failed once is gone for good: every request is eio from now on, even one naming a transaction the client does not know. */
function connectionLost(): void {
  client.markBroken();
}

/** The access enum's cases (none, read, write, both) as xenstored's permission letters. */
const ACCESS_LETTERS: StaticArray<u8> = [PERM_NONE, PERM_READ, PERM_WRITE, PERM_BOTH];
/** A permission record: domid (u32) at 0, access (u8 enum) at 4. */
const PERMISSION_SIZE: u32 = 8;
/** A string's or list's (pointer, length) inside a list or record. */
const SLICE_SIZE: u32 = 8;
/** Where a result<watch-event, xs-error> keeps the token's (pointer, length), after the path's at 4. */
const EVENT_TOKEN: usize = 12;

export function read(tx: u32, pathAt: usize, pathLength: u32): usize {
  const path = takeString(pathAt, pathLength);
  if (path === null) return errorResult(EINVAL);
  const rc = client.read(tx, path);
  if (rc < 0) return errorResult(-rc);
  const length = client.replyLength();
  return blockResult(copyToBlock(client.replyPayload(), length), length);
}

export function write(tx: u32, pathAt: usize, pathLength: u32, value: usize, valueLength: u32): usize {
  const path = takeString(pathAt, pathLength);
  const rc = path === null ? -EINVAL : client.writeBytes(tx, path, value, valueLength);
  heap.free(value);
  return unitResult(rc);
}

export function mkdir(tx: u32, pathAt: usize, pathLength: u32): usize {
  const path = takeString(pathAt, pathLength);
  return unitResult(path === null ? -EINVAL : client.mkdir(tx, path));
}

export function rm(tx: u32, pathAt: usize, pathLength: u32): usize {
  const path = takeString(pathAt, pathLength);
  return unitResult(path === null ? -EINVAL : client.rm(tx, path));
}

/** list<string>: one block holding the (pointer, length) of every name, then the names' bytes. */
export function directory(tx: u32, pathAt: usize, pathLength: u32): usize {
  const path = takeString(pathAt, pathLength);
  if (path === null) return errorResult(EINVAL);
  const rc = client.directory(tx, path);
  if (rc < 0) return errorResult(-rc);
  const names = client.entries;
  const count = u32(names.length);
  let size = count * SLICE_SIZE;
  for (let i: u32 = 0; i < count; i++) size += u32(String.UTF8.byteLength(names[i]));
  const block = heap.alloc(size);
  let text = block + count * SLICE_SIZE;
  for (let i: u32 = 0; i < count; i++) {
    const name = names[i];
    const length = u32(String.UTF8.encodeUnsafe(changetype<usize>(name), name.length, text));
    store<u32>(block + i * SLICE_SIZE, text);
    store<u32>(block + i * SLICE_SIZE + 4, length);
    text += length;
  }
  return blockResult(block, count);
}

export function get_perms(tx: u32, pathAt: usize, pathLength: u32): usize {
  const path = takeString(pathAt, pathLength);
  if (path === null) return errorResult(EINVAL);
  const rc = client.getPerms(tx, path);
  if (rc < 0) return errorResult(-rc);
  const perms = client.perms;
  const count = u32(perms.length);
  const block = heap.alloc(count * PERMISSION_SIZE);
  for (let i: u32 = 0; i < count; i++) {
    const record = block + i * PERMISSION_SIZE;
    store<u32>(record, perms[i].domid);
    // parsePerms accepted only the four letters.
    store<u8>(record + 4, u8(ACCESS_LETTERS.indexOf(perms[i].access)));
  }
  return blockResult(block, count);
}

export function set_perms(tx: u32, pathAt: usize, pathLength: u32, permsAt: usize, count: u32): usize {
  const path = takeString(pathAt, pathLength);
  const perms = new Array<Perm>(count);
  let valid = path !== null;
  for (let i: u32 = 0; i < count && valid; i++) {
    const record = permsAt + i * PERMISSION_SIZE;
    const access = u32(load<u8>(record + 4));
    valid = access < u32(ACCESS_LETTERS.length);
    if (valid) perms[i] = new Perm(ACCESS_LETTERS[access], load<u32>(record));
  }
  heap.free(permsAt);
  return unitResult(valid ? client.setPerms(tx, path!, perms) : -EINVAL);
}

export function watch(pathAt: usize, pathLength: u32, tokenAt: usize, tokenLength: u32): usize {
  const path = takeString(pathAt, pathLength);
  const token = takeString(tokenAt, tokenLength);
  return unitResult(path === null || token === null ? -EINVAL : client.watch(path, token));
}

export function unwatch(pathAt: usize, pathLength: u32, tokenAt: usize, tokenLength: u32): usize {
  const path = takeString(pathAt, pathLength);
  const token = takeString(tokenAt, tokenLength);
  return unitResult(path === null || token === null ? -EINVAL : client.unwatch(path, token));
}

/**
 * The oldest queued event, else blocks for the next one: takes in what xenstored
 * sent (queueing events, dropping stray replies) and waits in `recv` when nothing is left.
 * watch-event: one block holding the path's bytes, then the token's.
 */
export function next_event(): usize {
  // Events that came before the connection was lost go with it, as everything else does.
  if (client.failure != 0) return errorResult(-client.failure);
  while (true) {
    const event = client.nextEvent();
    if (event !== null) {
      const pathLength = u32(String.UTF8.byteLength(event.path));
      const tokenLength = u32(String.UTF8.byteLength(event.token));
      const block = heap.alloc(pathLength + tokenLength);
      String.UTF8.encodeUnsafe(changetype<usize>(event.path), event.path.length, block);
      String.UTF8.encodeUnsafe(changetype<usize>(event.token), event.token.length, block + pathLength);
      blockResult(block, pathLength);
      storeSlice(EVENT_TOKEN, block + pathLength, tokenLength);
      return RETURN_AREA;
    }
    const queued = client.pollEvents();
    if (queued < 0) return errorResult(-queued);
    if (queued == 0) {
      const rc = transport.wait();
      if (rc < 0) return errorResult(-rc);
    }
  }
}

export function transaction_start(): usize {
  const rc = client.transactionStart();
  return rc < 0 ? errorResult(-rc) : u32Result(client.transaction);
}

export function transaction_end(tx: u32, commit: bool): usize {
  return unitResult(client.transactionEnd(tx, commit));
}

/** The path as xenstored sent it (up to its NUL), which must be UTF-8. */
export function get_domain_path(domid: u32): usize {
  const rc = client.getDomainPath(domid);
  if (rc < 0) return errorResult(-rc);
  const payload = client.replyPayload();
  const length = u32(stringEnd(payload, client.replyLength(), 0));
  if (!isUtf8(payload, length)) return errorResult(EBADMSG);
  return blockResult(copyToBlock(payload, length), length);
}

// Post-return: the host has copied the result out of the block.
export function post_read(area: usize): void {
  freeResult(area);
}
export function post_directory(area: usize): void {
  freeResult(area);
}
export function post_get_perms(area: usize): void {
  freeResult(area);
}
export function post_next_event(area: usize): void {
  freeResult(area);
}
export function post_get_domain_path(area: usize): void {
  freeResult(area);
}
