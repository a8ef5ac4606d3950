#!/usr/bin/env node
// The package's `xenbus-wasm` command: `xs COMMAND` runs XenStore operations
// as Xen's xenstore-* tools do (cli/xs.ts), `xenstored` serves a simulated
// xenstored on a Unix socket (host/dom0/xenstored/standalone.ts). Exit status: 0
// done, 1 failed (as Xen's tools), 2 a mistake in the command line.
import { createRequire } from "node:module";
import { serveXenstored } from "../host/dom0/xenstored/index.js";
import { exitWithUsageError, parseCommandLine } from "../runtime/command-line.js";

const COMMAND = "xenbus-wasm";

const HELP = `usage: xenbus-wasm xs COMMAND [--socket PATH] ARGS...
       xenbus-wasm xenstored --socket PATH
       xenbus-wasm --version

xs commands, as Xen's xenstore-read, -write, -ls, -watch and -rm:
  read PATH...                       print each node's value, one a line
  write PATH VALUE [PATH VALUE...]   write the values (creating the nodes)
  ls [PATH]                          the tree below PATH (default /) with its values
  watch PATH [-n COUNT]              print the path of each change at or below PATH as it
                                     comes (the first is the watch's own), COUNT of them
  rm PATH...                         remove the nodes and everything below them
read, write and rm run in one transaction, as Xen's tools do.

xenstored: a fresh simulated xenstored on the Unix socket PATH until
interrupted. A socket left by a xenstored that is gone is taken over; one
where a server still answers is refused, and that server goes on.

options:
  --socket PATH   xs: xenstored's socket, or its device (/dev/xen/xenbus); without it,
                  XENSTORED_PATH, else /var/run/xenstored/socket, else the device.
                  xenstored: the socket to listen on
  -n COUNT        watch: stop after COUNT events
  --version       the package's version
  -h, --help      this help

exit status: 0 done, 1 failed, 2 a mistake in the command line`;

const { values, positionals } = parseCommandLine(COMMAND, HELP, {
  options: {
    socket: { type: "string" },
    count: { type: "string", short: "n" },
    version: { type: "boolean" },
  },
  allowPositionals: true,
});
const [group, ...rest] = positionals;
if (values.version) {
  // The package's own package.json, by its name: the same from the sources and from dist/.
  console.log(createRequire(import.meta.url)("xenbus-wasm/package.json").version);
} else if (group === "xs") {
  const [command, ...args] = rest;
  if (command === undefined) exitWithUsageError(COMMAND, "xs wants a COMMAND: read, write, ls, watch or rm");
  // Loaded only for xs: the XenStore client component.
  const { runXs } = await import("./xs.js");
  runXs(command, args, { socket: values.socket, count: values.count });
} else if (group === "xenstored") {
  if (rest.length > 0) exitWithUsageError(COMMAND, `xenstored takes no arguments, not ${rest.join(" ")}`);
  if (values.count !== undefined) exitWithUsageError(COMMAND, "-n is for xs watch");
  if (values.socket === undefined) exitWithUsageError(COMMAND, "xenstored wants --socket PATH");
  await serveXenstored(values.socket, `${COMMAND} xenstored`);
} else {
  exitWithUsageError(COMMAND, group === undefined ? "expected a command: xs or xenstored" : `unknown command ${group}`);
}
