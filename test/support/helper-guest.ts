// A guest driven through the xenbus_* helper exports from a test: its XenStore
// client, pages for arguments and results, and its device.
import { expect } from "vitest";
import { type XenStore, xenstore } from "../../runtime/xenstore.js";
import type { Harness } from "./xenbus.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One guest's side: its XenStore client, pages for arguments and results, and its device. */
export class HelperGuest {
  readonly xs: XenStore;
  readonly x: Harness["exports"];
  private readonly argumentPages: number[];
  private readonly listPage: number;
  readonly out: number;
  dev = -1;

  constructor(readonly guest: Harness) {
    this.xs = xenstore(guest);
    this.x = guest.exports;
    this.argumentPages = [this.page(), this.page(), this.page()];
    this.listPage = this.page();
    this.out = this.page();
  }

  page(): number {
    const address = this.x.page_alloc();
    expect(address).toBeGreaterThan(0);
    return address;
  }

  /** `value` as UTF-8 on argument page `slot`: pointer and length. */
  text(value: string, slot = 0): [number, number] {
    const bytes = encoder.encode(value);
    const at = this.argumentPages[slot]!;
    this.guest.memory().set(bytes, at);
    return [at, bytes.length];
  }

  /** `values` as u32s on the list page: pointer and count. */
  u32s(values: number[]): [number, number] {
    const view = new DataView(this.guest.memory().buffer);
    values.forEach((value, i) => view.setUint32(this.listPage + 4 * i, value, true));
    return [this.listPage, values.length];
  }

  /** `count` u32s from `out`. */
  results(count: number): number[] {
    const view = new DataView(this.guest.memory().buffer);
    return Array.from({ length: count }, (_, i) => view.getUint32(this.out + 4 * i, true));
  }

  device(nodename: string, otherend: string, otherendId: number): number {
    this.dev = this.x.xenbus_device(...this.text(nodename, 0), ...this.text(otherend, 1), otherendId);
    expect(this.dev).toBeGreaterThanOrEqual(0);
    return this.dev;
  }

  switchState(state: number): number {
    return this.x.xenbus_switch_state(this.dev, state);
  }

  devError(err: number, message: string): number {
    return this.x.xenbus_dev_error(this.dev, err, ...this.text(message));
  }

  devFatal(err: number, message: string): number {
    return this.x.xenbus_dev_fatal(this.dev, err, ...this.text(message));
  }

  readDriverState(path: string): number {
    return this.x.xenbus_read_driver_state(...this.text(path));
  }

  /** Writes bytes into the guest's memory as the guest would: a run of it follows (mapped pages sync as control passes). */
  poke(address: number, value: string): void {
    this.guest.memory().set(encoder.encode(value), address);
    this.x.evtchn_event_count(0);
  }

  peek(address: number, length: number): string {
    return decoder.decode(this.guest.memory().slice(address, address + length));
  }

  console(): string[] {
    return this.guest.console();
  }
}
