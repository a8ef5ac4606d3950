// `npm run --silent layouts`: the struct layouts the built xenbus.wasm uses, as one JSON object,
// read from build/harness.wasm, which carries the table (it is built first if a source is newer: said on stderr).
import { parseCommandLine } from "../runtime/command-line.js";
import { readModuleAbi } from "./abi.js";
import { buildStale } from "./build.js";

const HELP = `npm run --silent layouts

Prints the struct layouts build/xenbus.wasm is compiled with (sizes and
field offsets of Xen's structs, as the guest uses them) as one JSON object,
read from build/harness.wasm, built from the same declarations.

Options:
  -h, --help   this text`;

parseCommandLine("npm run layouts", HELP, {});
await buildStale(["harness"]);
console.log(JSON.stringify(readModuleAbi().layouts, null, 2));
