import { BlkBack, BlkFront, xenstore } from "xenbus-wasm";
import { createGuestDomain, Hypervisor, startXenstore } from "xenbus-wasm/host";

const hv = new Hypervisor();
const service = startXenstore(hv);
// Two domains running xenbus.wasm, introduced to xenstored with a console each: a block-backend driver domain and a guest.
const backendDomain = createGuestDomain(service, "blkback").guest;
const guest = createGuestDomain(service, "guest").guest;
xenstore(backendDomain); // both drivers need their domain connected to xenstored (xs_init)
xenstore(guest);

const back = new BlkBack(backendDomain).start(/* max-ring-page-order */ 2);
const disk = back.createDisk(2048, { flush: true }); // 1 MiB in the backend domain's memory
service.devices.add({
  type: "vbd",
  devid: 51712,
  frontend: guest.domid,
  backend: backendDomain.domid,
  backendParams: disk.params,
});
const blk = new BlkFront(guest).start();
blk.open(51712); // blocks until Connected
const data = new TextEncoder().encode("hello, disk".padEnd(512, "."));
blk.write(51712, 8, data); // sector 8, whole sectors
const read = blk.read(51712, 8, data.length / 512);
const image = disk.image().subarray(8 * 512, 8 * 512 + data.length);
console.log(
  new TextDecoder().decode(read.subarray(0, 11)),
  image.every((byte, i) => byte === data[i]),
); // hello, disk true
