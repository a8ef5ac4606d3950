// Reads the serial console of a rig run: Xen's boot milestones, and the
// "RIG <dom0 uptime> <kind> ..." lines dom0's scenario prints (dom0/lib.sh
// says their kinds). Pure: lines in, events and a report out.

export type Outcome = "pass" | "fail" | "skip";

export interface CheckResult {
  id: string;
  text: string;
  outcome: Outcome;
  /** Why a check failed or did not run. */
  why?: string;
}

export interface Figure {
  name: string;
  value: string;
  unit: string;
}

/** Something worth telling the person watching, as it happens. */
export type RigEvent =
  | { kind: "stage"; text: string; dom0Seconds?: number }
  | { kind: "guest"; guest: string; text: string; dom0Seconds: number }
  | { kind: "check"; check: CheckResult }
  | { kind: "figure"; figure: Figure }
  | { kind: "guest-output"; domain: string; text: string }
  | { kind: "problem"; text: string };

/** Milestones of Xen's and dom0's boot that have no RIG line (dom0's /init is not running yet). */
const MILESTONES: [RegExp, string][] = [
  [/\(XEN\).*Xen version 4\.\d+/, "Xen starts"],
  [/\(XEN\).*\*\*\* Building a PV Dom0 \*\*\*/, "Xen builds dom0"],
  [/\(XEN\).*Freed \d+kB init memory/, "Xen hands over to dom0's kernel"],
];
/** Lines that mean the run is lost, or a guest died in a way no check asked for. */
const PROBLEMS = [
  /Panic on CPU/,
  /Kernel panic/,
  /\(XEN\).*FATAL/,
  /Reboot in five seconds/,
  /\(XEN\).*Triple fault/,
  /\(XEN\).*crashed on cpu/,
  // The PVH host's last words before it ends its domain as crashed.
  /\(d[1-9]\d*\).*pvh: (crash|main failed|wasm trap)/,
];

const RIG_LINE = /RIG (\d+(?:\.\d+)?) (\w+)(?: (.*))?$/;
/** A domU's own output to Xen's console (I/O port 0xE9, shown with guest_loglvl=all). */
const GUEST_OUTPUT = /\((d[1-9]\d*)\)\s*(?:\[[^\]]*\]\s*)?(.*)$/;

export class RigReport {
  readonly checks: CheckResult[] = [];
  readonly figures: Figure[] = [];
  readonly problems: string[] = [];
  /** Guest console lines that dom0 forwarded (`RIG log`), by guest name. */
  readonly consoles = new Map<string, string[]>();
  /** dom0 printed `RIG end`: the scenario ran to its end. */
  ended = false;
  private readonly milestonesSeen = new Set<string>();

  /** Takes one serial line; returns what it means, if anything. */
  read(line: string): RigEvent | undefined {
    const rig = RIG_LINE.exec(line);
    if (rig) return this.rigLine(Number(rig[1]), rig[2], rig[3] ?? "");
    for (const [pattern, text] of MILESTONES) {
      if (pattern.test(line) && !this.milestonesSeen.has(text)) {
        this.milestonesSeen.add(text);
        return { kind: "stage", text };
      }
    }
    if (PROBLEMS.some((pattern) => pattern.test(line))) {
      this.problems.push(line.trim());
      return { kind: "problem", text: line.trim() };
    }
    const guest = GUEST_OUTPUT.exec(line);
    if (guest && !line.includes("(XEN)")) return { kind: "guest-output", domain: guest[1], text: guest[2] };
    return undefined;
  }

  private rigLine(dom0Seconds: number, kind: string, rest: string): RigEvent | undefined {
    const [head, why] = splitWhy(rest);
    switch (kind) {
      case "stage":
        return { kind: "stage", text: rest, dom0Seconds };
      case "guest": {
        const [guest, text] = firstWord(rest);
        return { kind: "guest", guest, text, dom0Seconds };
      }
      case "pass":
      case "fail":
      case "skip": {
        const [id, text] = firstWord(head);
        const check: CheckResult = { id, text, outcome: kind, ...(why === undefined ? {} : { why }) };
        this.checks.push(check);
        return { kind: "check", check };
      }
      case "figure": {
        const [name, value] = firstWord(head);
        const figure = { name, value, unit: why ?? "" };
        this.figures.push(figure);
        return { kind: "figure", figure };
      }
      case "log": {
        const [guest, text] = firstWord(rest);
        const lines = this.consoles.get(guest) ?? [];
        lines.push(text);
        this.consoles.set(guest, lines);
        return undefined;
      }
      case "problem":
        this.problems.push(rest);
        return { kind: "problem", text: rest };
      case "end":
        this.ended = true;
        return { kind: "stage", text: "scenario finished", dom0Seconds };
      default:
        return { kind: "problem", text: `unknown report line: ${kind} ${rest}` };
    }
  }

  count(outcome: Outcome): number {
    return this.checks.filter((check) => check.outcome === outcome).length;
  }

  /** The run proved what it set out to: the scenario ended, nothing failed, nothing crashed. */
  get ok(): boolean {
    return this.ended && this.count("fail") === 0 && this.problems.length === 0 && this.count("pass") > 0;
  }

  outcomeOf(id: string): Outcome | undefined {
    return this.checks.find((check) => check.id === id)?.outcome;
  }
}

function firstWord(text: string): [string, string] {
  const space = text.indexOf(" ");
  return space < 0 ? [text, ""] : [text.slice(0, space), text.slice(space + 1)];
}

/** "text :: why" → [text, why]; a line without " :: " has no why. */
function splitWhy(text: string): [string, string | undefined] {
  const at = text.indexOf(" :: ");
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 4)];
}
