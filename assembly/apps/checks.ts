// checks.wasm: the unikernel with a self-check for the real-Xen rig (npm run
// xen). It starts as unikernel.wasm does, then checks its XenStore client
// against the xenstored it meets and writes a pattern over every disk it was
// given (which destroys what was on them), reads it back and says, one
// console line each, `check <name>: ok` or `check <name>: FAILED <why>`,
// then `checks: <n> passed, <m> failed`; then it serves like unikernel.wasm
// until shut down.
//
// Three checks need dom0 to act, in this order, through nodes under our
// data/check/ (paths relative to our home, /local/domain/<domid>):
// - long listing: once `ready/long` exists, dom0 writes 120 nodes
//   `long/<LONG_NAME><i>` = "" (i = 0..119), then `long-done` = "1" (a
//   guest's node may not list more than 2048 bytes of children in C
//   xenstored, its entry quota, so only dom0 can make a listing longer
//   than a page);
// - watch: once `ready/watch` exists, dom0 writes `from-dom0` = "hello";
//   the guest's watch on it must see the write.
// - conflict: once `ready/conflict` exists, dom0 writes `conflict` = "dom0"
//   while the guest holds a transaction that read and wrote it: the commit
//   must fail with EAGAIN and the retry see "dom0"; `conflict` ends as
//   "guest after dom0".
// Each pattern sector is the text `xenbus-wasm <disk> sector <n>` and a
// newline, the rest of its 512 bytes '.': dom0 checks the image's bytes.
import "../xen/panic"; // the abort handler named in asconfig.json
import { BlkfrontDevice, flush, transfer } from "../drivers/blkfront";
import { SECTOR_SHIFT } from "../drivers/blkif";
import { BLKIF_OP_READ, BLKIF_OP_WRITE, EACCES, EAGAIN, EOPNOTSUPP } from "../xen/abi";
import { xenstore_domain_interface } from "../xen/layout";
import { allocPages, freePage, PAGE_SHIFT, STORE_PAGE } from "../xen/pages";
import { systemTime, waitUntilDeadline } from "../xen/time";
import { currentFrontendBus } from "../xenbus/bus";
import { XsClient, XsTransactionBody } from "../xenstore/client";
import * as xenstore from "../xenstore/ring";
import { XsWatchHandler } from "../xenstore/watches";
import { Perm, XS_NO_TRANSACTION } from "../xenstore/wire";
import { diskName, disks, say, serve, start } from "./basics";

const BASE = "data/check";
/** How long dom0 and the disks get for each step (Xen's system time). */
const STEP_TIMEOUT_NS: u64 = 60_000_000_000;

export function main(): i32 {
  const rc = start();
  if (rc < 0) return rc;
  const store = xenstore.currentClient()!;
  checkStore(store);
  checkDisks();
  say(`checks: ${passed} passed, ${failed} failed`);
  return serve();
}

let passed = 0;
let failed = 0;

function report(name: string, problem: string, detail: string = ""): void {
  if (problem.length == 0) {
    passed++;
    say(`check ${name}: ok${detail.length != 0 ? ` (${detail})` : ""}`);
  } else {
    failed++;
    say(`check ${name}: FAILED ${problem}`);
  }
}

/** "" when `rc` is 0, else what failed. */
function failedWith(what: string, rc: i32): string {
  return rc == 0 ? "" : `${what}: error ${-rc}`;
}

// XenStore

function checkStore(store: XsClient): void {
  const tx = XS_NO_TRANSACTION;
  let rc = store.write(tx, `${BASE}/hello`, "world");
  if (rc == 0) rc = store.read(tx, `${BASE}/hello`);
  report(
    "xenstore.write-read",
    rc < 0 ? failedWith("write/read", rc) : store.value == "world" ? "" : `read "${store.value}"`,
  );

  rc = store.mkdir(tx, `${BASE}/dir`);
  for (let i = 0; i < 3 && rc == 0; i++) rc = store.write(tx, `${BASE}/dir/child${i}`, i.toString());
  if (rc == 0) rc = store.directory(tx, `${BASE}/dir`);
  const listed = rc < 0 ? "" : sorted(store.entries).join(",");
  report(
    "xenstore.mkdir-directory",
    rc < 0 ? failedWith("mkdir/write/directory", rc) : listed == "child0,child1,child2" ? "" : `listed ${listed}`,
  );

  rc = store.rm(tx, `${BASE}/dir`);
  const gone = rc < 0 ? rc : store.exists(tx, `${BASE}/dir/child0`);
  report("xenstore.rm", rc < 0 ? failedWith("rm", rc) : gone == 0 ? "" : "a child is still there");

  checkLongDirectory(store);
  checkPerms(store);
  checkWatch(store);
  checkConflict(store);

  rc = store.read(tx, "domid");
  const domid = rc < 0 ? "" : store.value;
  if (rc == 0) rc = store.getDomainPath(u32(I32.parseInt(domid)));
  report(
    "xenstore.get-domain-path",
    rc < 0 ? failedWith("get_domain_path", rc) : store.value == `/local/domain/${domid}` ? "" : `got ${store.value}`,
  );

  // On the store page, where we moved it.
  const features = load<u32>(STORE_PAGE + xenstore_domain_interface.server_features);
  report("xenstore.features", "", `server features 0x${features.toString(16)}`);
}

/** The name dom0 gives the nodes of the long listing, before each one's number. */
const LONG_NAME = "a-node-name-long-enough-that-120-of-them-pass-4096-bytes-";
const LONG_COUNT = 120;

/** A listing longer than a page, which dom0 makes: xenstored sends it in parts (DIRECTORY_PART). */
function checkLongDirectory(store: XsClient): void {
  const done = new CountingWatch();
  let rc = store.registerWatch(`${BASE}/long-done`, "check-long", done);
  if (rc == 0) rc = waitForEvents(done, 1);
  if (rc == 0) rc = store.write(XS_NO_TRANSACTION, `${BASE}/ready/long`, "1");
  if (rc == 0) rc = waitForEvents(done, 2);
  store.unregisterWatch("check-long");
  if (rc == 0) rc = store.directory(XS_NO_TRANSACTION, `${BASE}/long`);
  const bytes = LONG_COUNT * (LONG_NAME.length + 4);
  const problem =
    rc < 0
      ? failedWith("waiting for dom0 / directory", rc)
      : store.entries.length == LONG_COUNT
        ? ""
        : `listed ${store.entries.length}`;
  report("xenstore.directory-long", problem, `${LONG_COUNT} entries, about ${bytes} bytes`);
}

/** Our own node's permissions round-trip; another domain's node refuses us (our disk's backend state, dom0's). */
function checkPerms(store: XsClient): void {
  let rc = store.write(XS_NO_TRANSACTION, `${BASE}/perm`, "x");
  if (rc == 0) rc = store.read(XS_NO_TRANSACTION, "domid");
  const me = rc == 0 ? u32(I32.parseInt(store.value)) : 0;
  const perms = [new Perm(0x6e /* n */, me), new Perm(0x72 /* r */, 0)];
  if (rc == 0) rc = store.setPerms(XS_NO_TRANSACTION, `${BASE}/perm`, perms);
  if (rc == 0) rc = store.getPerms(XS_NO_TRANSACTION, `${BASE}/perm`);
  const got = rc < 0 ? "" : store.perms.map<string>((perm) => perm.toString()).join(",");
  report("xenstore.perms", rc < 0 ? failedWith("set/get perms", rc) : got == `n${me},r0` ? "" : `got ${got}`);

  const devices = disks();
  if (devices.length == 0) {
    report("xenstore.eacces", "no disk, so no other domain's node to try");
    return;
  }
  const denied = store.write(XS_NO_TRANSACTION, `${devices[0].otherendPath}/state`, "4");
  report(
    "xenstore.eacces",
    denied == -EACCES ? "" : `writing the backend's state gave ${denied}`,
    `${devices[0].otherendPath}/state`,
  );
}

class CountingWatch extends XsWatchHandler {
  events: i32 = 0;
  onEvent(path: string, token: string): void {
    this.events++;
  }
}

let waitedWatch: CountingWatch | null = null;
let waitedEvents: i32 = 0;

function watchReached(): bool {
  return waitedWatch!.events >= waitedEvents;
}

/** Waits (a while at most) until `watch` has seen `events` events in all. */
function waitForEvents(watch: CountingWatch, events: i32): i32 {
  waitedWatch = watch;
  waitedEvents = events;
  return waitUntilDeadline(watchReached, systemTime() + STEP_TIMEOUT_NS);
}

/** Registration fires once; dom0's write is seen; after unwatch our own write is not. */
function checkWatch(store: XsClient): void {
  const watch = new CountingWatch();
  let rc = store.registerWatch(`${BASE}/from-dom0`, "check-watch", watch);
  if (rc == 0) rc = waitForEvents(watch, 1);
  report("xenstore.watch-registration", failedWith("registration's event", rc));
  if (rc < 0) return;
  rc = store.write(XS_NO_TRANSACTION, `${BASE}/ready/watch`, "1");
  if (rc == 0) rc = waitForEvents(watch, 2);
  if (rc == 0) rc = store.read(XS_NO_TRANSACTION, `${BASE}/from-dom0`);
  report(
    "xenstore.watch-dom0-write",
    rc < 0 ? failedWith("dom0's write", rc) : store.value == "hello" ? "" : `read "${store.value}"`,
  );
  rc = store.unregisterWatch("check-watch");
  const before = watch.events;
  if (rc == 0) rc = store.write(XS_NO_TRANSACTION, `${BASE}/from-dom0`, "after unwatch");
  // A round trip after the write: an event it fired would have arrived before the reply.
  if (rc == 0) rc = store.read(XS_NO_TRANSACTION, `${BASE}/from-dom0`);
  store.dispatchWatchEvents();
  report(
    "xenstore.unwatch",
    rc < 0 ? failedWith("unwatch", rc) : watch.events == before ? "" : "an event after unwatch",
  );
}

class Retry extends XsTransactionBody {
  seen: string = "";
  run(store: XsClient, tx: u32): i32 {
    const rc = store.read(tx, `${BASE}/conflict`);
    if (rc < 0) return rc;
    this.seen = store.value;
    return store.write(tx, `${BASE}/conflict`, "guest after dom0");
  }
}

/** A transaction dom0 writes under: the commit fails with EAGAIN, and the retry sees dom0's value. */
function checkConflict(store: XsClient): void {
  const watch = new CountingWatch();
  let rc = store.write(XS_NO_TRANSACTION, `${BASE}/conflict`, "before");
  if (rc == 0) rc = store.registerWatch(`${BASE}/conflict`, "check-conflict", watch);
  if (rc == 0) rc = waitForEvents(watch, 1);
  if (rc == 0) rc = store.transactionStart();
  if (rc < 0) {
    report("xenstore.transaction-conflict", failedWith("transaction start", rc));
    return;
  }
  const tx = store.transaction;
  rc = store.read(tx, `${BASE}/conflict`);
  if (rc == 0) rc = store.write(tx, `${BASE}/conflict`, "guest");
  if (rc == 0) rc = store.write(XS_NO_TRANSACTION, `${BASE}/ready/conflict`, "1");
  if (rc == 0) rc = waitForEvents(watch, 2);
  const ended = store.transactionEnd(tx, true);
  store.unregisterWatch("check-conflict");
  if (rc < 0 || ended != -EAGAIN) {
    report(
      "xenstore.transaction-conflict",
      rc < 0 ? failedWith("waiting for dom0", rc) : `commit gave ${ended}, not EAGAIN`,
    );
    return;
  }
  const retry = new Retry();
  rc = store.runTransaction(retry);
  report(
    "xenstore.transaction-conflict",
    rc < 0 ? failedWith("retry", rc) : retry.seen == "dom0" ? "" : `retry read "${retry.seen}"`,
  );
}

// Disks

/** Sectors written or read per request: 16 pages. */
const CHUNK_SECTORS: u32 = 128;

/** Each connected disk: the pattern over all of it, a flush, and the pattern read back. */
function checkDisks(): void {
  const bus = currentFrontendBus();
  if (bus !== null && bus.bootWait(STEP_TIMEOUT_NS) < 0) say("some disks did not connect in time");
  const devices = disks();
  const buffer = allocPages(CHUNK_SECTORS >> (PAGE_SHIFT - SECTOR_SHIFT));
  if (buffer == 0) {
    report("disks", "no pages for a buffer");
    return;
  }
  for (let i = 0; i < devices.length; i++) {
    const dev = devices[i];
    const name = diskName(dev.id).split(" ")[0];
    report(
      `${name}.pattern`,
      dev.isConnected() ? patternCheck(dev, name, buffer) : "not connected",
      `${dev.sectors << SECTOR_SHIFT} bytes written, flushed, read back`,
    );
  }
  for (let page: u32 = 0; page < CHUNK_SECTORS >> (PAGE_SHIFT - SECTOR_SHIFT); page++)
    freePage(buffer + (usize(page) << PAGE_SHIFT));
}

function patternCheck(dev: BlkfrontDevice, name: string, buffer: usize): string {
  const prefix = String.UTF8.encode(`xenbus-wasm ${name} sector `);
  for (let sector: u64 = 0; sector < dev.sectors; sector += CHUNK_SECTORS) {
    const count = u32(min<u64>(CHUNK_SECTORS, dev.sectors - sector));
    fillPattern(prefix, sector, count, buffer);
    const rc = transfer(dev, BLKIF_OP_WRITE, sector, count, buffer);
    if (rc < 0) return `write at sector ${sector}: error ${-rc}`;
  }
  const flushed = flush(dev);
  if (flushed < 0 && flushed != -EOPNOTSUPP) return `flush: error ${-flushed}`;
  const expected = allocPages(1);
  if (expected == 0) return "no page to compare with";
  let problem = "";
  for (let sector: u64 = 0; sector < dev.sectors && problem.length == 0; sector += CHUNK_SECTORS) {
    const count = u32(min<u64>(CHUNK_SECTORS, dev.sectors - sector));
    const rc = transfer(dev, BLKIF_OP_READ, sector, count, buffer);
    if (rc < 0) problem = `read at sector ${sector}: error ${-rc}`;
    for (let i: u32 = 0; i < count && problem.length == 0; i++) {
      fillPattern(prefix, sector + i, 1, expected);
      if (memory.compare(buffer + (usize(i) << SECTOR_SHIFT), expected, 1 << SECTOR_SHIFT) != 0)
        problem = `sector ${sector + i} reads back wrong`;
    }
  }
  freePage(expected);
  return problem;
}

/**
 * `count` sectors of the pattern from `first` on, at `target`: `prefix`
 * (the line up to the number), the sector's number and a newline, then '.'.
 * Written without a string per sector: under QEMU's TCG the allocations
 * were most of the check's minutes.
 */
function fillPattern(prefix: ArrayBuffer, first: u64, count: u32, target: usize): void {
  memory.fill(target, 0x2e, usize(count) << SECTOR_SHIFT);
  for (let i: u32 = 0; i < count; i++) {
    const line = target + (usize(i) << SECTOR_SHIFT);
    memory.copy(line, changetype<usize>(prefix), prefix.byteLength);
    store<u8>(writeDecimal(line + prefix.byteLength, first + i), 0x0a);
  }
}

/** Writes `value` in decimal at `at`; returns the address after its last digit. */
function writeDecimal(at: usize, value: u64): usize {
  let digits: usize = 1;
  for (let rest = value; rest >= 10; rest /= 10) digits++;
  for (let i = digits; i > 0; i--) {
    store<u8>(at + i - 1, u8(0x30 + (value % 10)));
    value /= 10;
  }
  return at + digits;
}

function sorted(names: string[]): string[] {
  const copy = names.slice();
  copy.sort();
  return copy;
}
