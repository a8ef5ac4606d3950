// The real-Xen figures of `npm run bench`: the size of the unikernel's PVH
// ELF, and times from the rig's run on Xen 4.17 in QEMU (tools/xen): from the
// moment a guest's XenStore home appears (xl create) to our unikernel's
// greeting (said after its first XenStore reads) and to its disk Connected,
// and beside them the rig's Linux guest to its disk Connected through Linux's
// blkback and through our Wasm blkback in a driver domain. The clock is
// Xen's (dom0's uptime) under QEMU's TCG: slow, comparable only with each
// other. The rig's last run is reused while it is newer than the unikernels
// it booted; otherwise the rig runs (about 5 minutes, saying what it does).
import { existsSync, readFileSync, statSync } from "node:fs";
import { PeerUnavailable } from "../tools/debian.js";
import type { Figure } from "../tools/xen/report.js";
import { LAST_RUN, prepareRig, runRig, UNIKERNELS } from "../tools/xen/rig.js";

const TCG = "s from the guest's XenStore home appearing, Xen's clock under QEMU TCG: comparable only with each other";

/** Result name → the rig's figure it reports. */
export const XEN_TIMES: Record<string, string> = {
  xen_unikernel_greeting_s: "unikernel_greeting_seen",
  xen_unikernel_xvda_connected_s: "unikernel_xvda_connected",
  xen_linux_xvda_connected_s: "linux_xvda_connected",
  xen_linux_via_wasm_blkback_xvda_connected_s: "linux-dd_xvda_connected",
};
export const XEN_ELF_SIZE = "xen_unikernel_pvh_elf_size";

const elf = (name: string): string => `build/${name}.pvh.elf`;

/** The rig's figures, from its last run if that is newer than every unikernel ELF, else from a new run; undefined where the rig cannot run. */
export async function rigFigures(): Promise<Figure[] | undefined> {
  const elves = UNIKERNELS.map(elf);
  const fresh =
    existsSync(LAST_RUN) &&
    elves.every((path) => existsSync(path) && statSync(path).mtimeMs < statSync(LAST_RUN).mtimeMs);
  if (fresh) {
    console.error(`real Xen: the rig's run of ${statSync(LAST_RUN).mtime.toISOString()} (${LAST_RUN})`);
    return (JSON.parse(readFileSync(LAST_RUN, "utf8")) as { figures: Figure[] }).figures;
  }
  console.error("real Xen: running the rig (npm run xen), about 5 minutes…");
  try {
    const run = await runRig(
      prepareRig((text) => console.error(`  ${text}`)),
      (progress) => {
        if (progress.kind === "stage" || progress.kind === "guest")
          console.error(`  ${progress.kind === "guest" ? `[${progress.guest}] ` : ""}${progress.text}`);
      },
    );
    if (!run.report.ok)
      console.error(`real Xen: the rig's run did not pass (serial log ${run.serialLog}); figures as far as it went`);
    return run.report.figures;
  } catch (error) {
    if (!(error instanceof PeerUnavailable)) throw error;
    console.error(`skipping the real-Xen figures: ${error.message}`);
    return undefined;
  }
}

/** The unikernel's ELF size (bytes), once the rig has built it. */
export function unikernelElfSize(): number | undefined {
  return existsSync(elf("unikernel")) ? statSync(elf("unikernel")).size : undefined;
}

export function xenTime(figures: Figure[], result: string): { value: number; unit: string } | undefined {
  const figure = figures.find((candidate) => candidate.name === XEN_TIMES[result]);
  return figure && figure.value !== "" ? { value: Number(figure.value), unit: TCG } : undefined;
}
