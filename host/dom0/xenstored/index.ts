// xenstored's entry, for what lives above dom0 (the package's host entry,
// cli/): the server, its local and socket clients, serving it on its own,
// and the path helper clients share with it.
export { LocalClient } from "./client.js";
export { childPath } from "./paths.js";
export { XenStored, type XenStoredOptions } from "./server.js";
export { listenUnix, type SocketListener } from "./socket.js";
export { serveXenstored } from "./standalone.js";
export { xenstoredStream } from "./stream.js";
