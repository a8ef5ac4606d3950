// The event channel exports: evtchn.ts's operations on ports.
import * as evtchn from "./evtchn";

export function evtchn_alloc_unbound(remote_dom: u32): i32 {
  return evtchn.allocUnbound(remote_dom);
}

export function evtchn_bind_interdomain(remote_dom: u32, remote_port: u32): i32 {
  return evtchn.bindInterdomain(remote_dom, remote_port);
}

export function evtchn_send(port: u32): i32 {
  return evtchn.send(port);
}

export function evtchn_close(port: u32): i32 {
  return evtchn.close(port);
}

export function evtchn_mask(port: u32): i32 {
  return evtchn.mask(port);
}

export function evtchn_unmask(port: u32): i32 {
  return evtchn.unmask(port);
}

/** EVTCHNSTAT_*; the peer of that port is then read with the two functions below. */
export function evtchn_status(port: u32): i32 {
  return evtchn.status(port);
}

export function evtchn_status_remote_dom(): u32 {
  return evtchn.lastStatus.remoteDom;
}

export function evtchn_status_remote_port(): u32 {
  return evtchn.lastStatus.remotePort;
}

export function evtchn_event_count(port: u32): u32 {
  return evtchn.eventCount(port);
}
