// The real guest module, booted in a domain of a simulated hypervisor (the helper is vitest-free so the bench shares it).
export { bootXenbus, xenbusWasm, type Xenbus } from "../../runtime/boot.js";
