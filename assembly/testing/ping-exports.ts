// The unikernel's ping responder (assembly/apps/ping-responder.ts) as an
// export, for its property tests (build/harness.wasm).
import { PingHost } from "../apps/ping-responder";

/** The reply PingHost(mac at `mac`, `ip`) gives the frame at `frame`, written at `reply`; its length or 0. */
export function ping_answer(mac: usize, ip: u32, frame: usize, length: u32, reply: usize): u32 {
  const macBytes = new StaticArray<u8>(6);
  for (let i = 0; i < 6; i++) macBytes[i] = load<u8>(mac + i);
  return new PingHost(macBytes, ip).answer(frame, length, reply);
}
