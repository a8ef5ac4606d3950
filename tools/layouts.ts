// `npm run --silent layouts`: the struct layouts the built xenbus.wasm uses, as one JSON object
// (xenbus.wasm is built first if a source is newer: said on stderr).
import { parseCommandLine } from "../runtime/command-line.js";
import { readModuleAbi } from "./abi.js";
import { buildStale } from "./build.js";

const HELP = `npm run --silent layouts

Prints the struct layouts compiled into build/xenbus.wasm (sizes and field
offsets of Xen's structs, as the guest uses them) as one JSON object.

Options:
  -h, --help   this text`;

parseCommandLine("npm run layouts", HELP, {});
await buildStale(["xenbus"]);
console.log(JSON.stringify(readModuleAbi("build/xenbus.wasm").layouts, null, 2));
