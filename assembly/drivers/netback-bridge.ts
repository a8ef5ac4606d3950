// The Ethernet bridge between the vifs a network driver domain serves, as
// Linux's bridge (net/bridge/br_fdb.c) does it in dom0 or a driver domain:
// each port learns the source MAC of what comes in on it, a frame to a
// learned unicast MAC goes out on that port only, and one to a broadcast,
// multicast or unknown MAC is flooded to every other port. This file is the
// forwarding database (pure: MACs and port numbers); netback.ts owns the
// ports and moves the frames.
//
// A hostile guest can send from as many source MACs as it likes: the table
// holds at most FDB_MAX entries and forgets the one learned longest ago, so
// its memory is bounded and a flood of made-up MACs costs the others only
// floods of their frames until their MACs are learned again. (Linux's
// bridge ages entries out after 300 s and can cap them with max_learned;
// the driver domain has no use for a clock here, so age is learning order.)

/** Entries the table holds at most. */
export const FDB_MAX: i32 = 1024;

/** No port: flood. */
export const FDB_UNKNOWN: i32 = -1;

/** The 48-bit MAC at `at` (6 bytes, network order) as a number. */
export function macAt(at: usize): u64 {
  return (u64(load<u32>(at)) | (u64(load<u16>(at + 4)) << 32)) & 0xffff_ffff_ffff;
}

/** Group (broadcast or multicast) addresses have the first byte's low bit set. */
export function isGroupMac(mac: u64): bool {
  return (mac & 1) != 0;
}

export class ForwardingTable {
  private readonly ports: Map<u64, i32> = new Map<u64, i32>();
  /** MACs in the order they were learned, a ring of FDB_MAX: the oldest is forgotten first. */
  private readonly order: StaticArray<u64> = new StaticArray<u64>(FDB_MAX);
  private next: i32 = 0;
  /** Entries forgotten to make room. */
  evicted: u64 = 0;

  /** The port `mac` was last seen on, or FDB_UNKNOWN. */
  lookup(mac: u64): i32 {
    return this.ports.has(mac) ? this.ports.get(mac) : FDB_UNKNOWN;
  }

  /** A frame from `mac` came in on `port`: remember it there (a MAC that moved follows). Group MACs are never learned. */
  learn(mac: u64, port: i32): void {
    if (isGroupMac(mac) || mac == 0) return;
    if (this.ports.has(mac)) {
      this.ports.set(mac, port);
      return;
    }
    if (this.ports.size >= FDB_MAX) {
      // The slot the next MAC goes in holds the oldest still known (forgotten ones are skipped).
      while (!this.ports.has(this.order[this.next])) this.next = (this.next + 1) % FDB_MAX;
      this.ports.delete(this.order[this.next]);
      this.evicted++;
    }
    this.order[this.next] = mac;
    this.next = (this.next + 1) % FDB_MAX;
    this.ports.set(mac, port);
  }

  /** The port went (its vif disconnected): everything learned on it is forgotten. */
  forgetPort(port: i32): void {
    const macs = this.ports.keys();
    for (let i = 0; i < macs.length; i++) if (this.ports.get(macs[i]) == port) this.ports.delete(macs[i]);
  }

  get size(): i32 {
    return this.ports.size;
  }
}
