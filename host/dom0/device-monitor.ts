// dom0's view of every PV device's progress: one xenstore watch on
// /local/domain, and for each event on a device's `state` node (a frontend's
// device/<type>/<id>/state or a backend's backend/<type>/<frontend>/<id>/state)
// the value is read at once and a change reported as a transition. A removed
// device dir ends its states with a transition to "gone".
//
// The value is read inside xenstored's delivery of the event, on a second
// connection, so a state that is written twice before anyone runs is still
// seen twice. What the nodes hold is the guests' to write: anything that is
// not a XenbusState number is reported as the text it is.
import { ignoringMissing } from "../../runtime/xenstore-client.js";
import { XENBUS_STATE } from "../xen/abi.js";
import type { XenstoreService } from "./toolstack.js";
import { LocalClient } from "./xenstored/client.js";

export type DeviceEnd = "frontend" | "backend";

export interface StateTransition {
  /** The monitor's clock when it saw the change (virtual ns by default). */
  time: number;
  /** The domain whose dir holds the node. */
  domid: number;
  /** "vbd/51712" for a frontend; "vbd/1/51712" (frontend domid, devid) for a backend. */
  device: string;
  end: DeviceEnd;
  path: string;
  /** The node's value before and after: null when it did not exist yet, or no longer does. */
  from: string | null;
  to: string | null;
}

export interface MonitorOptions {
  /** The time stamped on each transition; defaults to the hypervisor's virtual time in ns. */
  clock?: () => number;
  /** Called with each transition as it is seen. */
  onTransition?: (transition: StateTransition) => void;
}

const WATCH_TOKEN = "device-state";
const FRONTEND_STATE = /^\/local\/domain\/(\d+)\/device\/([^/]+\/[^/]+)\/state$/;
const BACKEND_STATE = /^\/local\/domain\/(\d+)\/backend\/([^/]+\/[^/]+\/[^/]+)\/state$/;

/** "Connected" for "4"; the text itself for anything that is not a XenbusState; "gone" for a removed node. */
export function stateName(value: string | null): string {
  if (value === null) return "gone";
  const name = Object.entries(XENBUS_STATE).find(([, number]) => String(number) === value)?.[0];
  return name ?? JSON.stringify(value);
}

/** "dom1 vbd/51712 frontend: Initialising → Connected". */
export function describeTransition(transition: StateTransition): string {
  const { domid, device, end, from, to } = transition;
  return `dom${domid} ${device} ${end}: ${from === null ? "(new)" : stateName(from)} → ${stateName(to)}`;
}

export class DeviceStateMonitor {
  /** Every transition seen, oldest first. */
  readonly transitions: StateTransition[] = [];
  private readonly watcher: LocalClient;
  private readonly reader: LocalClient;
  /** The last value seen at each state node that exists. */
  private readonly states = new Map<string, string>();
  private readonly clock: () => number;

  constructor(
    service: XenstoreService,
    private readonly options: MonitorOptions = {},
  ) {
    this.clock = options.clock ?? (() => service.hv.now);
    this.reader = new LocalClient(service.xenstored, 0);
    this.watcher = new LocalClient(service.xenstored, 0);
    // Devices that exist already are the starting point, not transitions.
    for (const path of this.existingStateNodes()) {
      const value = this.read(path);
      if (value !== null) this.states.set(path, value);
    }
    this.watcher.onWatchEvent = () => {
      for (const event of this.watcher.takeEvents()) this.changed(event.path);
    };
    this.watcher.watch("/local/domain", WATCH_TOKEN);
  }

  /** The last value seen at a state node, or null. */
  state(path: string): string | null {
    return this.states.get(path) ?? null;
  }

  /** Stops watching; transitions seen so far stay. */
  stop(): void {
    this.watcher.close();
    this.reader.close();
  }

  private changed(path: string): void {
    if (isStateNode(path)) {
      this.check(path);
      return;
    }
    // A dir removed with the state nodes below it fires for the dir only.
    for (const known of [...this.states.keys()]) if (known.startsWith(`${path}/`)) this.check(known);
  }

  private check(path: string): void {
    const value = this.read(path);
    const previous = this.states.get(path) ?? null;
    if (value === previous) return;
    if (value === null) this.states.delete(path);
    else this.states.set(path, value);
    const [, domid, device] = (FRONTEND_STATE.exec(path) ?? BACKEND_STATE.exec(path))!;
    const transition: StateTransition = {
      time: this.clock(),
      domid: Number(domid),
      device: device!,
      end: FRONTEND_STATE.test(path) ? "frontend" : "backend",
      path,
      from: previous,
      to: value,
    };
    this.transitions.push(transition);
    this.options.onTransition?.(transition);
  }

  private read(path: string): string | null {
    return ignoringMissing(() => this.reader.read(path)) ?? null;
  }

  private list(path: string): string[] {
    return ignoringMissing(() => this.reader.directory(path)) ?? [];
  }

  private existingStateNodes(): string[] {
    const paths: string[] = [];
    for (const domid of this.list("/local/domain")) {
      const home = `/local/domain/${domid}`;
      for (const type of this.list(`${home}/device`)) {
        for (const id of this.list(`${home}/device/${type}`)) paths.push(`${home}/device/${type}/${id}/state`);
      }
      for (const type of this.list(`${home}/backend`)) {
        for (const frontend of this.list(`${home}/backend/${type}`)) {
          for (const id of this.list(`${home}/backend/${type}/${frontend}`))
            paths.push(`${home}/backend/${type}/${frontend}/${id}/state`);
        }
      }
    }
    return paths;
  }
}

function isStateNode(path: string): boolean {
  return FRONTEND_STATE.test(path) || BACKEND_STATE.test(path);
}
