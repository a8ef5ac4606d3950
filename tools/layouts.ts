// `npm run --silent layouts`: the struct layouts the built xenbus.wasm uses, as one JSON object.
import { readModuleAbi } from "./abi.js";

console.log(JSON.stringify(readModuleAbi("build/xenbus.wasm").layouts, null, 2));
