// `npm run xenstored -- --socket PATH`: a simulated xenstored on a Unix socket
// (standalone.ts), as the package's `xenbus-wasm xenstored --socket PATH`.
import { exitWithUsageError, parseCommandLine } from "../../../runtime/command-line.js";
import { serveXenstored } from "./standalone.js";

const HELP = `npm run xenstored -- --socket PATH

Serves a fresh simulated xenstored (an empty store) on the Unix socket PATH
until interrupted (SIGINT or SIGTERM, which remove the socket). Point Xen's
tools at it with XENSTORED_PATH=PATH, or xenbus-wasm with --socket PATH.
A socket file left by a xenstored that is gone is taken over; one where a
server still answers is refused (exit status 1), and that server goes on.

Options:
  --socket PATH   the Unix socket to listen on
  -h, --help      this text`;

const COMMAND = "npm run xenstored";
const { values } = parseCommandLine(COMMAND, HELP, { options: { socket: { type: "string" } } });
if (values.socket === undefined) exitWithUsageError(COMMAND, "--socket PATH is required");
await serveXenstored(values.socket, COMMAND);
