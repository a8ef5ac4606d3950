// AssemblyScript's abort handler for the component (asconfig "use"): a failed
// assertion or an exhausted heap traps. The component imports nothing but its
// transport, so there is no console to report on; the trap is what the host sees.
export function trap(message: string | null, fileName: string | null, lineNumber: u32, column: u32): void {
  unreachable();
}
