// A network driver domain, as the demo runs one, for the tests and the
// bench: build/netback.wasm (assembly/apps/netback.ts: xenbus.wasm's exports
// and the netback's) booted in a domain of its own (introduced, with its
// console), its backend bus serving vifs and its bridge switching the frames
// between them. NetBack reads what it did.
import { readFileSync } from "node:fs";
import type { Engine } from "../../runtime/engine.js";
import { allocPage, GuestCallError, type ResultCheck, resultCheck } from "../../runtime/errors.js";
import type { Guest } from "../../runtime/guest.js";
import type { XenbusExports } from "../../runtime/xenbus.js";
import type { XenstoreService } from "../dom0/toolstack.js";
import type { QuotaName } from "../dom0/xenstored/quota.js";
import type { WasmDomain } from "../xen/domain.js";
import { createGuestDomain } from "./guest-domain.js";

/** What build/netback.wasm exports besides xenbus.wasm's (assembly/drivers/netback-exports.ts). */
export interface NetbackExports extends XenbusExports {
  /** Serves vifs from now on (after xs_init). 0 or -errno. */
  netback_start(): number;
  /** Vif `devid` of `frontend` into `out` (a page_alloc page): NETBACK_INFO_SIZE, or -errno. */
  netback_info(frontend: number, devid: number, out: number): number;
  /** Why the vif is disabled, as UTF-8 into `out`: its length (0 while served), or -errno. */
  netback_fatal(frontend: number, devid: number, out: number): number;
  /** The bridge's counters into `out`: NETBACK_BRIDGE_INFO_SIZE, or -errno. */
  netback_bridge_info(out: number): number;
}

/** A netback_* export failed; `errno` is the positive errno. */
export class NetbackError extends GuestCallError {}

/** A vif as the backend sees it (netback_info). */
export interface NetbackInfo {
  /** Frames from the frontend (its transmit ring). */
  txPackets: bigint;
  txBytes: bigint;
  /** Transmitted packets dropped: malformed, or a grant that did not copy. */
  txErrors: bigint;
  /** Frames to the frontend (into its receive buffers). */
  rxPackets: bigint;
  rxBytes: bigint;
  /** Frames it could not take: too few buffers posted, or a size or offload it did not negotiate. */
  rxDropped: bigint;
  /** Frames whose copy into its buffers failed (a bad grant). */
  rxErrors: bigint;
  state: number;
  frontendState: number;
  /** Queues connected (0 while not connected). */
  queues: number;
  splitEventChannels: boolean;
  /** Fatal protocol errors since the vif was found (each disabled it until the frontend reconnected). */
  fatalErrors: number;
  /** Why it is disabled now, "" while it is served. */
  fatal: string;
  features: { sg: boolean; gsoTcpv4: boolean; rxNotify: boolean; noCsumOffload: boolean };
  /** The MAC the toolstack gave the vif, "aa:bb:cc:dd:ee:ff". */
  mac: string;
}

/** The bridge in the driver domain (netback_bridge_info). */
export interface BridgeInfo {
  /** Frames sent to every other port: broadcast, multicast, or to a MAC not learned. */
  flooded: bigint;
  /** Frames sent to the one port their destination was learned on. */
  forwarded: bigint;
  /** MACs in the forwarding table. */
  macs: bigint;
  /** MACs forgotten to make room. */
  evicted: bigint;
}

export class NetBack {
  private readonly infoPage: number;
  readonly check: ResultCheck;

  constructor(readonly guest: Guest<NetbackExports>) {
    this.check = resultCheck(guest, NetbackError);
    this.infoPage = allocPage(guest, "network backend info");
  }

  /** Serves vifs from now on. */
  start(): this {
    this.check(this.guest.exports.netback_start(), "netback_start");
    return this;
  }

  info(frontend: number, devid: number): NetbackInfo {
    const x = this.guest.exports;
    const operation = `netback_info ${frontend}/${devid}`;
    const length = this.check(x.netback_fatal(frontend, devid, this.infoPage), operation);
    const fatal = new TextDecoder().decode(this.guest.memory().slice(this.infoPage, this.infoPage + length));
    this.check(x.netback_info(frontend, devid, this.infoPage), operation);
    const view = new DataView(this.guest.memory().buffer, this.infoPage, 88);
    const features = view.getUint32(76, true);
    const mac = view.getBigUint64(80, true);
    return {
      txPackets: view.getBigUint64(0, true),
      txBytes: view.getBigUint64(8, true),
      txErrors: view.getBigUint64(16, true),
      rxPackets: view.getBigUint64(24, true),
      rxBytes: view.getBigUint64(32, true),
      rxDropped: view.getBigUint64(40, true),
      rxErrors: view.getBigUint64(48, true),
      state: view.getUint32(56, true),
      frontendState: view.getUint32(60, true),
      queues: view.getUint32(64, true),
      splitEventChannels: view.getUint32(68, true) !== 0,
      fatalErrors: view.getUint32(72, true),
      fatal,
      features: {
        sg: (features & 1) !== 0,
        gsoTcpv4: (features & 2) !== 0,
        rxNotify: (features & 4) !== 0,
        noCsumOffload: (features & 8) !== 0,
      },
      mac: Array.from({ length: 6 }, (_, i) =>
        Number((mac >> BigInt(8 * i)) & 0xffn)
          .toString(16)
          .padStart(2, "0"),
      ).join(":"),
    };
  }

  bridge(): BridgeInfo {
    this.check(this.guest.exports.netback_bridge_info(this.infoPage), "netback_bridge_info");
    const view = new DataView(this.guest.memory().buffer, this.infoPage, 32);
    return {
      flooded: view.getBigUint64(0, true),
      forwarded: view.getBigUint64(8, true),
      macs: view.getBigUint64(16, true),
      evicted: view.getBigUint64(24, true),
    };
  }
}

export interface NetbackDomainOptions {
  name?: string;
  /** XenStore quotas for the domain instead of C xenstored's defaults (see BlkbackDomainOptions.quotas). */
  quotas?: Partial<Record<QuotaName, number>>;
  /** The Wasm engine the domain runs in (default V8). */
  engine?: Engine;
}

export interface NetbackDomain {
  guest: Guest<NetbackExports, WasmDomain>;
  back: NetBack;
  domid: number;
}

let netbackWasm: Uint8Array | undefined;

/** build/netback.wasm, read once (npm run build makes it). */
export function netbackModule(): Uint8Array {
  netbackWasm ??= readFileSync(new URL("../../build/netback.wasm", import.meta.url));
  return netbackWasm;
}

export function startNetbackDomain(service: XenstoreService, options: NetbackDomainOptions = {}): NetbackDomain {
  const guest = createGuestDomain<NetbackExports>(
    service,
    options.name ?? "netback",
    options.engine,
    netbackModule(),
  ).guest;
  for (const [name, value] of Object.entries(options.quotas ?? {})) {
    service.xenstored.quotas.set(name as QuotaName, value, guest.domid);
  }
  const rc = guest.exports.xs_init();
  if (rc !== 0) throw new Error(`${guest.name}: xs_init returned ${rc}`);
  return { guest, back: new NetBack(guest).start(), domid: guest.domid };
}
