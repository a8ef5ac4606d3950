// The guest's XenStore client (build/xenbus.wasm, its xs_* exports) through
// the store ring against the simulated xenstored, guest and server in one
// process: the XenStore workloads of `npm run bench`, and the load that
// test/guest/xenstore-memory.test.ts puts on the guest. No test framework here.

import { startXenstore, type XenstoreService } from "../host/dom0/toolstack.js";
import { Hypervisor } from "../host/xen/hypervisor.js";
import { bootXenbus, type Xenbus } from "../runtime/boot.js";
import type { Engine } from "../runtime/engine.js";
import { allocPage } from "../runtime/errors.js";
import { heapHighWater } from "./memory.js";

const PAGE_SIZE = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Nodes the mixed load writes in turn, so directory listings stay a fixed size. */
const NODES = 8;
const WATCHED = "data/watched";
const TOKEN = "bench";
/** The node the round trips read and write. */
const ROUNDTRIP_NODE = "data/roundtrip";
const ROUNDTRIP_VALUE = "a value of moderate length";

/** A guest connected to a fresh xenstored, driven through its raw xs_* exports. */
export class XenstoreGuest {
  private readonly service: XenstoreService;
  private readonly guest: Xenbus;
  /** The guest's home, where dom0 writes to fire its watch. */
  private readonly home: string;
  // page_alloc pages: the path argument, the value or token argument, and the result.
  private readonly pathPage: number;
  private readonly argPage: number;
  private readonly out: number;
  /** Operations done by `mixed`, which picks the next step from it. */
  private mixedDone = 0;

  /** The guest runs in `engine` (V8 unless given). */
  constructor(engine?: Engine) {
    const hv = new Hypervisor();
    this.service = startXenstore(hv);
    this.guest = bootXenbus(hv, "xenstore-load", engine);
    this.home = `/local/domain/${this.guest.domid}`;
    this.check("xs_init", this.guest.exports.xs_init());
    const page = (): number => allocPage(this.guest, "XenStore arguments");
    [this.pathPage, this.argPage, this.out] = [page(), page(), page()];
    this.write(ROUNDTRIP_NODE, ROUNDTRIP_VALUE);
    this.watch(WATCHED, TOKEN);
    this.expectEvent(WATCHED);
  }

  /** Bytes of the guest's linear memory. */
  memoryBytes(): number {
    return this.guest.memory().byteLength;
  }

  /** How far up the guest's heap has reached (see heapHighWater). */
  heapHighWater(): number {
    return heapHighWater(this.guest.memory());
  }

  /** `n` reads of one node; false as soon as one returns the wrong thing. */
  readRoundtrips(n: number): boolean {
    const path = this.path(ROUNDTRIP_NODE);
    const expected = encoder.encode(ROUNDTRIP_VALUE).length;
    const { xs_read } = this.guest.exports;
    for (let i = 0; i < n; i++) if (xs_read(0, this.pathPage, path, this.out) !== expected) return false;
    return true;
  }

  /** `n` writes of one node; false as soon as one fails. */
  writeRoundtrips(n: number): boolean {
    const path = this.path(ROUNDTRIP_NODE);
    const value = this.arg(ROUNDTRIP_VALUE);
    const { xs_write } = this.guest.exports;
    for (let i = 0; i < n; i++) if (xs_write(0, this.pathPage, path, this.argPage, value) !== 0) return false;
    return true;
  }

  /**
   * Mixed operations, `round` at a time, until the heap's reach stays put for
   * a whole round (at most `max`): when the garbage collector settles depends
   * on where the heap starts (a few thousand operations, or some tens of
   * thousands after a change elsewhere moved the module's static data), not
   * on the client. Returns how many ran.
   */
  warmUp(round = 10_000, max = 100_000): number {
    let done = 0;
    for (let reach = -1; done < max && this.heapHighWater() !== reach; done += round) {
      reach = this.heapHighWater();
      this.mixed(round);
    }
    return done;
  }

  /**
   * `n` operations of a fixed mix, continuing where the last call stopped:
   * writes, reads, directory listings, watch events fired by dom0 and by the
   * guest, re-registered watches and committed transactions. Each result is
   * checked; a wrong one throws.
   */
  mixed(n: number): void {
    for (let i = 0; i < n; i++) {
      const step = this.mixedDone++;
      const node = `data/node${Math.floor(step / 12) % NODES}`;
      switch (step % 12) {
        case 0:
          this.write(node, `value ${step}`);
          break;
        case 1:
          this.expectEqual("read", this.read(node), `value ${step - 1}`);
          break;
        case 2:
          this.expectEqual("listed", this.directory("data").includes(node.slice("data/".length)), true);
          break;
        case 3:
          this.service.tools.write(`${this.home}/${WATCHED}`, String(step));
          this.expectEvent(WATCHED);
          break;
        case 4:
          this.write(`${WATCHED}/child`, String(step));
          break;
        case 5:
          this.expectEvent(`${WATCHED}/child`);
          break;
        case 6:
          this.transaction(step);
          break;
        case 7:
          this.unwatch(WATCHED, TOKEN);
          break;
        case 8:
          this.watch(WATCHED, TOKEN);
          break;
        case 9:
          this.expectEvent(WATCHED);
          break;
        case 10:
          this.expectEqual("read", this.read("data/tx"), String(step - 4));
          break;
        case 11:
          this.expectEqual("no event", this.nextEvent(), null);
          break;
      }
    }
  }

  /** Reads and writes one node in a transaction and commits it: the mix's one operation that is four requests. */
  private transaction(step: number): void {
    const x = this.guest.exports;
    this.check("transaction_start", x.xs_transaction_start());
    const tx = x.xs_transaction_id() >>> 0;
    this.check("read in transaction", x.xs_read(tx, this.pathPage, this.path(ROUNDTRIP_NODE), this.out));
    this.check(
      "write in transaction",
      x.xs_write(tx, this.pathPage, this.path("data/tx"), this.argPage, this.arg(String(step))),
    );
    this.check("transaction_end", x.xs_transaction_end(tx, true));
  }

  private write(path: string, value: string): void {
    this.check(
      `write ${path}`,
      this.guest.exports.xs_write(0, this.pathPage, this.path(path), this.argPage, this.arg(value)),
    );
  }

  private read(path: string): string {
    return this.result(
      this.check(`read ${path}`, this.guest.exports.xs_read(0, this.pathPage, this.path(path), this.out)),
    );
  }

  private directory(path: string): string[] {
    const listing = this.result(
      this.check(`directory ${path}`, this.guest.exports.xs_directory(0, this.pathPage, this.path(path), this.out)),
    );
    return listing.split("\0").slice(0, -1);
  }

  private watch(path: string, token: string): void {
    this.check(
      `watch ${path}`,
      this.guest.exports.xs_watch(this.pathPage, this.path(path), this.argPage, this.arg(token)),
    );
  }

  private unwatch(path: string, token: string): void {
    this.check(
      `unwatch ${path}`,
      this.guest.exports.xs_unwatch(this.pathPage, this.path(path), this.argPage, this.arg(token)),
    );
  }

  /** The oldest queued watch event's path, or null when none is queued. */
  private nextEvent(): string | null {
    const length = this.check("next_event", this.guest.exports.xs_next_event(this.out));
    if (length === 0) return null;
    const [path, token] = this.result(length).split("\0");
    this.expectEqual("event token", token, TOKEN);
    return path!;
  }

  private expectEvent(path: string): void {
    this.expectEqual("event", this.nextEvent(), path);
  }

  /** Puts `path` in the path page: its byte length. */
  private path(path: string): number {
    return encoder.encodeInto(path, this.guest.memory().subarray(this.pathPage, this.pathPage + PAGE_SIZE)).written;
  }

  private arg(text: string): number {
    return encoder.encodeInto(text, this.guest.memory().subarray(this.argPage, this.argPage + PAGE_SIZE)).written;
  }

  private result(length: number): string {
    return decoder.decode(this.guest.memory().subarray(this.out, this.out + length));
  }

  private check(what: string, rc: number | undefined): number {
    if (rc === undefined) throw new Error(`the guest died during ${what}: ${this.guest.exit?.message ?? ""}`);
    if (rc < 0) throw new Error(`${what} failed with errno ${-rc}`);
    return rc;
  }

  private expectEqual<T>(what: string, actual: T, expected: T): void {
    if (actual !== expected) throw new Error(`${what}: got ${String(actual)}, expected ${String(expected)}`);
  }
}
