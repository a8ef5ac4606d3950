// Property: whatever a guest passes to its hypercalls, the hypervisor answers
// (or the guest dies) without throwing, and no other domain changes: not its
// memory, its ports, its grants or its params.
import fc from "fast-check";
import { expect } from "vitest";
import {
  DOMID,
  EVTCHNOP,
  GNTTABOP,
  GTF,
  HOST_LAYOUTS,
  HVMOP,
  SCHEDOP,
  type StructLayout,
  shared_info,
  vcpu_info,
  vcpu_time_info,
  XENMAPSPACE,
  XENMEM,
} from "../../../host/xen/abi.js";
import type { Domain } from "../../../host/xen/domain.js";
import { Hypervisor } from "../../../host/xen/hypervisor.js";
import type { Engine } from "../../../runtime/engine.js";
import { loadTestGuest, SCRATCH, type TestExports, type TestGuest, view } from "../hypervisor-guest.js";
import { worldFactory } from "../world-snapshot.js";

type Hypercall = keyof TestExports;

/** Well-formed calls: the right struct for the command, with fields from VALUE. */
const OPERATIONS: [Hypercall, number, StructLayout][] = [
  ["hc_evtchn", EVTCHNOP.alloc_unbound, HOST_LAYOUTS.evtchn_alloc_unbound!],
  ["hc_evtchn", EVTCHNOP.bind_interdomain, HOST_LAYOUTS.evtchn_bind_interdomain!],
  ["hc_evtchn", EVTCHNOP.send, HOST_LAYOUTS.evtchn_send!],
  ["hc_evtchn", EVTCHNOP.close, HOST_LAYOUTS.evtchn_close!],
  ["hc_evtchn", EVTCHNOP.unmask, HOST_LAYOUTS.evtchn_unmask!],
  ["hc_evtchn", EVTCHNOP.status, HOST_LAYOUTS.evtchn_status!],
  ["hc_gnttab", GNTTABOP.map_grant_ref, HOST_LAYOUTS.gnttab_map_grant_ref!],
  ["hc_gnttab", GNTTABOP.unmap_grant_ref, HOST_LAYOUTS.gnttab_unmap_grant_ref!],
  ["hc_gnttab", GNTTABOP.setup_table, HOST_LAYOUTS.gnttab_setup_table!],
  ["hc_gnttab", GNTTABOP.query_size, HOST_LAYOUTS.gnttab_query_size!],
  ["hc_gnttab", GNTTABOP.copy, HOST_LAYOUTS.gnttab_copy!],
  ["hc_memory", XENMEM.add_to_physmap, HOST_LAYOUTS.xen_add_to_physmap!],
  ["hc_hvm", HVMOP.get_param, HOST_LAYOUTS.xen_hvm_param!],
  ["hc_hvm", HVMOP.set_param, HOST_LAYOUTS.xen_hvm_param!],
  ["hc_sched", SCHEDOP.yield, HOST_LAYOUTS.sched_shutdown!],
  ["hc_sched", SCHEDOP.poll, HOST_LAYOUTS.sched_poll!],
];

/** Domids (dom0, victim, attacker, self), ports and refs, frames and a page address. */
const VALUE = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(0, 1, 2, DOMID.SELF, 8, 20, 0x28000) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);

const STRUCTURED = fc.record({
  kind: fc.constant("structured" as const),
  operation: fc.integer({ min: 0, max: OPERATIONS.length - 1 }),
  count: fc.constantFrom(1, 1, 1, 2),
  values: fc.array(VALUE, { minLength: 12, maxLength: 12 }),
});

const RAW = fc.record({
  kind: fc.constant("raw" as const),
  hypercall: fc.constantFrom<Hypercall>(
    "hc_evtchn",
    "hc_gnttab",
    "hc_memory",
    "hc_hvm",
    "hc_sched",
    "hc_console",
    "hc_version",
  ),
  args: fc.array(fc.oneof(fc.integer({ min: 0, max: 10 }), fc.constant(SCRATCH), fc.integer()), {
    minLength: 3,
    maxLength: 3,
  }),
  bytes: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});

/** Writes `values` into the struct's fields in offset order; a field is as wide as the gap to the next (at most 8). */
function writeStruct(guest: TestGuest, address: number, layout: StructLayout, values: number[]): void {
  const offsets = [...new Set(Object.values(layout.fields))].sort((a, b) => a - b);
  const v = view(guest);
  guest.memory().fill(0, address, address + layout.sizeof);
  offsets.forEach((offset, i) => {
    const width = Math.min((offsets[i + 1] ?? layout.sizeof) - offset, 8);
    const value = values[i % values.length]!;
    if (width >= 8) v.setBigUint64(address + offset, BigInt(value), true);
    else if (width >= 4) v.setUint32(address + offset, value, true);
    else if (width === 2) v.setUint16(address + offset, value & 0xffff, true);
    else v.setUint8(address + offset, value & 0xff);
  });
}

function place(guest: TestGuest, space: number, gpfn: number): void {
  writeStruct(guest, SCRATCH, HOST_LAYOUTS.xen_add_to_physmap!, [DOMID.SELF, 0, space, 0, gpfn]);
  expect(guest.exports.hc_memory(XENMEM.add_to_physmap, SCRATCH)).toBe(0);
}

/**
 * Everything of a domain an attacker must not change. The clock in its
 * shared_info is left out: every domain's moves when time passes, and an
 * attacker may well wait (SCHEDOP_poll with a timeout).
 */
function snapshot(domain: Domain): { memory: Buffer; state: unknown } {
  const memory = Buffer.from(domain.memory.bytes());
  const shared = domain.sharedInfo.gfn;
  if (shared !== null) {
    const clock = shared * 4096 + shared_info.fields.vcpu_info + vcpu_info.fields.time;
    memory.fill(0, clock, clock + vcpu_time_info.sizeof);
  }
  return {
    memory,
    state: {
      ports: domain.ports.bound(),
      active: [...domain.grantTable.active],
      frames: domain.grantTable.frames.map((frame) => frame.gfn),
      sharedInfo: domain.sharedInfo.gfn,
      params: [...domain.params],
      exit: domain.exit,
    },
  };
}

/** `domain` is as `before` found it: its memory compared as bytes (a deep comparison or a base64 copy of it costs more than the case). */
function expectUnchanged(domain: Domain, before: ReturnType<typeof snapshot>): void {
  const now = snapshot(domain);
  if (Buffer.compare(now.memory, before.memory) !== 0) {
    const at = now.memory.findIndex((byte, i) => byte !== before.memory[i]);
    expect.fail(`domain ${domain.domid}'s memory changed at ${at}: ${before.memory[at]} → ${now.memory[at]}`);
  }
  expect(now.state).toEqual(before.state);
}

/** Whatever a guest passes to its hypercalls, the hypervisor answers without throwing, and no other domain changes. */
export function hypercallsProperty(engine: Engine) {
  const booted = worldFactory(engine, (engine) => {
    const hv = new Hypervisor({ spinLimit: 20, maxSteps: 1000 });
    const victim = loadTestGuest(hv, "victim", engine);
    place(victim, XENMAPSPACE.shared_info, 16);
    place(victim, XENMAPSPACE.grant_table, 17);
    // The victim grants a page to dom0 and has ports open to dom0; nothing is offered to the attacker.
    view(victim).setUint32(17 * 4096 + 8 * 8 + 4, 20, true);
    view(victim).setUint16(17 * 4096 + 8 * 8, GTF.permit_access, true);
    victim.memory().fill(0x3c, 20 * 4096, 21 * 4096);
    hv.dom0.evtchn.bindUnboundPort(victim.domid);
    hv.dom0.evtchn.allocUnbound(victim.domid, 0);
    const attacker = loadTestGuest(hv, "attacker", engine);
    // Held by a closure, out of the world's snapshot: what the victims were at boot, which no case changes.
    const before = [snapshot(victim.domain), snapshot(hv.dom0)] as const;
    const expectVictimsUnchanged = () => {
      expectUnchanged(victim.domain, before[0]);
      expectUnchanged(hv.dom0, before[1]);
    };
    // hv and victim too: a world is restored only as far as its roots reach.
    return { hv, victim, attacker, expectVictimsUnchanged };
  });
  return fc.property(
    fc.array(fc.oneof({ weight: 3, arbitrary: STRUCTURED }, { weight: 1, arbitrary: RAW }), { maxLength: 30 }),
    (calls) => {
      const { attacker, expectVictimsUnchanged } = booted();
      for (const call of calls) {
        if (attacker.exit) break;
        let result: number | undefined;
        if (call.kind === "structured") {
          const [hypercall, cmd, layout] = OPERATIONS[call.operation]!;
          for (let i = 0; i < call.count; i++)
            writeStruct(attacker, SCRATCH + i * layout.sizeof, layout, call.values.slice(i));
          const fn = attacker.exports[hypercall] as (...args: number[]) => number | undefined;
          result = fn(cmd, SCRATCH, call.count);
        } else {
          attacker.memory().set(call.bytes, SCRATCH);
          const fn = attacker.exports[call.hypercall] as (...args: number[]) => number | undefined;
          result = fn(...call.args.map((arg) => arg | 0));
        }
        if (!attacker.exit) expect(Number.isInteger(result)).toBe(true);
      }
      expectVictimsUnchanged();
    },
  );
}
