// The scheduler: deterministic and single-threaded. Exactly one domain runs
// at a time, on the host's call stack; a guest that blocks makes the
// scheduler run other domains' pending work, nested inside the block, until
// the guest has an event. Other domains are visited round-robin by domid.
//
// Nothing runs unless an event made it runnable, so a domain that waits while
// no event arrives anywhere can never see anything change: that is how a
// spinning guest (and a deadlocked one) is told apart from a waiting one.
// Only domains that may have become runnable are looked at: those an event
// was raised for, and those a call just left (a guest changes its own flags
// only while it runs); runUntilIdle, entered from the host, looks at all.
//
// The world outside the simulation (an operator typing `xl shutdown`) acts
// only when nothing inside can run, one queued action at a time.
import { DomainExit, type DomainExitInfo } from "../../runtime/hypervisor.js";
import { SHUTDOWN } from "./abi.js";
import type { PageCoherence } from "./coherence.js";
import type { Domain } from "./domain.js";

/** The name of a shutdown reason code (SHUTDOWN_*), or "unknown(<code>)". */
export function shutdownReasonName(code: number): string {
  const entry = Object.entries(SHUTDOWN).find(([, value]) => value === code);
  return entry ? entry[0] : `unknown(${code})`;
}

/** The simulation itself cannot go on (a livelock among domains); not any one domain's fault. */
export class SimulationError extends Error {
  override name = "SimulationError";
}

export interface SchedulerOptions {
  /** Consecutive yields/blocks/polls, or upcalls, without progress before a domain is declared spinning. */
  spinLimit: number;
  /** Most domain runs one runUntilIdle (or one wait) may take before the run is declared a livelock. */
  maxSteps: number;
}

/** Progress marks a domain last saw, one per kind of waiting. */
interface StallCounter {
  seen: number;
  count: number;
}

export class Scheduler {
  private readonly stack: Domain[] = [];
  private lastRun = -1;
  /** Domains that may be runnable; step() drops those that turn out not to be. */
  private readonly candidates = new Set<Domain>();
  /** Ports newly pending anywhere, plus clock advances. */
  private events = 0;
  /** Domain runs. Waiting is progress when either changed. */
  private runs = 0;
  /** Per live domain (dropped when it dies): plain maps, so that a test's world snapshot sees them (test/support/world-snapshot.ts). */
  private readonly waitStalls = new Map<Domain, StallCounter>();
  private readonly upcallStalls = new Map<Domain, StallCounter>();
  /** Virtual time in ns (SCHEDOP_poll timeouts); it moves only when nothing else can run. */
  private clock = 0;
  /** What the outside world does next, once nothing inside can run (whenIdle). */
  private readonly outside: (() => void)[] = [];
  private acting = false;

  constructor(
    private readonly domains: () => Domain[],
    private readonly coherence: PageCoherence,
    private readonly options: SchedulerOptions,
    private readonly onExit: (domain: Domain) => void,
  ) {}

  get now(): number {
    return this.clock;
  }

  /** Moves the clock to `time`, and every domain's shared_info with it. */
  private advanceClock(time: number): void {
    if (time <= this.clock) return;
    this.clock = time;
    for (const domain of this.domains()) domain.publishTime(time);
  }

  get current(): Domain | null {
    return this.stack[this.stack.length - 1] ?? null;
  }

  /** Whether `domain` is somewhere on the call stack (running or waiting). */
  isOnStack(domain: Domain): boolean {
    return this.stack.includes(domain);
  }

  /** Control passes to `domain` (a call into it begins). */
  enter(domain: Domain): void {
    const previous = this.current;
    this.stack.push(domain);
    domain.depth++;
    if (previous === domain) return;
    if (previous) this.coherence.flush(previous);
    this.coherence.update(domain);
  }

  /** The call into `domain` returned (or unwound); control goes back to whoever called it. */
  leave(domain: Domain): void {
    this.stack.pop();
    domain.depth--;
    this.candidates.add(domain);
    const next = this.current;
    if (next === domain) return;
    this.coherence.flush(domain);
    // Back on the host, nothing is brought up to date until host code looks (Hypervisor.memoryOf).
    if (next) this.coherence.update(next);
  }

  /** A port of `domain` newly became pending. */
  noteEvent(domain: Domain): void {
    this.events++;
    this.candidates.add(domain);
  }

  /**
   * Queues `action`, something the outside world does (a toolstack command),
   * to run when a domain waits and nothing in the simulation can run: before
   * the waiting domain is declared deadlocked or the clock moves on. Actions
   * run in order, one per idle moment, never inside one another; the
   * waiting domain runs again only after the action returns.
   */
  whenIdle(action: () => void): void {
    this.outside.push(action);
  }

  /** Runs pending work until there is none; returns the number of domain runs. */
  runUntilIdle(): number {
    // The host may have changed any domain's memory since the last run.
    for (const domain of this.domains()) this.candidates.add(domain);
    let steps = 0;
    while (this.step()) {
      if (++steps >= this.options.maxSteps) {
        throw new SimulationError(
          `runUntilIdle: still busy after ${steps} steps; runnable: ${this.describeRunnable()}`,
        );
      }
    }
    return steps;
  }

  /** SCHEDOP_yield: let one other domain run. */
  yield(domain: Domain): number {
    this.checkSpin(domain, "yields, blocks or polls");
    this.step();
    return 0;
  }

  /**
   * SCHEDOP_block: enable event delivery, then run others until `domain` has
   * an upcall pending (at once if it already has). With nothing left to run it
   * can never wake: that deadlock crashes it.
   */
  block(domain: Domain): number {
    const events = domain.ports.events;
    events.upcallMasked = false;
    this.checkSpin(domain, "yields, blocks or polls");
    this.waitUntil(
      domain,
      () => events.upcallPending,
      () => null,
      "blocked",
    );
    return 0;
  }

  /** SCHEDOP_poll: wait until one of `ports` is pending, an upcall is due, or the clock reaches `timeout` (0: none). */
  poll(domain: Domain, ports: number[], timeout: number): number {
    const events = domain.ports.events;
    this.checkSpin(domain, "yields, blocks or polls");
    const ready = (): boolean =>
      (events.upcallPending && !events.upcallMasked) ||
      ports.some((port) => events.isPending(port)) ||
      (timeout !== 0 && this.now >= timeout);
    this.waitUntil(domain, ready, () => (timeout !== 0 ? timeout : null), `polled ports [${ports.join(", ")}]`);
    return 0;
  }

  /** Marks `domain` dead; the caller unwinds it if it is running. */
  kill(domain: Domain, info: DomainExitInfo): void {
    if (!domain.alive) return;
    domain.exit = info;
    this.waitStalls.delete(domain);
    this.upcallStalls.delete(domain);
    this.onExit(domain);
  }

  /** Kills the running `domain` and unwinds its stack. */
  exitRunning(domain: Domain, info: DomainExitInfo): never {
    this.kill(domain, info);
    throw new DomainExit(domain.domid, domain.exit!);
  }

  private waitUntil(domain: Domain, ready: () => boolean, wakeTime: () => number | null, what: string): void {
    let steps = 0;
    // What the waiting domain wrote into its mapped copies reaches the granters
    // before anyone acts (an outside action runs without entering a domain),
    // and when it wakes its copies show what the others wrote meanwhile.
    this.coherence.flush(domain);
    while (!ready()) {
      if (!this.step() && !this.actOutside()) {
        const time = wakeTime();
        if (time === null) {
          this.exitRunning(domain, {
            reason: "crash",
            code: -1,
            message: `${domain} ${what} with no event pending and nothing else able to run, so it can never wake; ${this.describeWaits(domain)}`,
          });
        }
        this.advanceClock(time);
        this.events++;
        continue;
      }
      if (!domain.alive) throw new DomainExit(domain.domid, domain.exit!);
      if (++steps >= this.options.maxSteps) {
        throw new SimulationError(
          `${domain} ${what} for ${steps} steps while others kept running; runnable: ${this.describeRunnable()}`,
        );
      }
    }
    this.coherence.update(domain);
  }

  /** Runs the outside world's next action, if there is one and none is running. */
  private actOutside(): boolean {
    if (this.acting) return false;
    const action = this.outside.shift();
    if (!action) return false;
    this.acting = true;
    try {
      action();
    } finally {
      this.acting = false;
    }
    this.events++;
    return true;
  }

  /** Runs one runnable domain's work, round-robin by domid; false when nothing is runnable. */
  private step(): boolean {
    const domains = [...this.candidates].sort((a, b) => a.domid - b.domid);
    const start = domains.findIndex((domain) => domain.domid > this.lastRun);
    for (let i = 0; i < domains.length; i++) {
      const domain = domains[(Math.max(start, 0) + i) % domains.length]!;
      if (!this.isRunnable(domain)) {
        this.candidates.delete(domain);
        continue;
      }
      this.lastRun = domain.domid;
      this.runs++;
      if (domain.kind === "wasm" && this.isStalled(this.upcallStalls, domain, this.events)) {
        this.kill(domain, {
          reason: "crash",
          code: -1,
          message: `${domain} is spinning: its upcall returned ${this.options.spinLimit} times with the upcall still pending and no new event`,
        });
      } else {
        domain.deliver();
      }
      return true;
    }
    return false;
  }

  private isRunnable(domain: Domain): boolean {
    return domain.alive && domain.depth === 0 && domain.hasWork();
  }

  private checkSpin(domain: Domain, what: string): void {
    if (this.isStalled(this.waitStalls, domain, this.events + this.runs)) {
      this.exitRunning(domain, {
        reason: "crash",
        code: -1,
        message: `${domain} is spinning: ${this.options.spinLimit} consecutive ${what} while nothing happened anywhere`,
      });
    }
  }

  /** Counts a wait by `domain`; true once it has waited spinLimit times in a row without `progress` changing. */
  private isStalled(counters: Map<Domain, StallCounter>, domain: Domain, progress: number): boolean {
    const counter = counters.get(domain);
    if (!counter || counter.seen !== progress) {
      counters.set(domain, { seen: progress, count: 0 });
      return false;
    }
    return ++counter.count >= this.options.spinLimit;
  }

  private describeRunnable(): string {
    const runnable = this.domains().filter((domain) => this.isRunnable(domain));
    return runnable.length === 0 ? "none" : runnable.map(String).join(", ");
  }

  private describeWaits(domain: Domain): string {
    const ports = domain.ports
      .bound()
      .map(([port, channel]) =>
        channel.state === "interdomain"
          ? `${port}→dom${channel.remoteDomid}:${channel.remotePort}`
          : `${port} (unbound, for dom${channel.state === "unbound" ? channel.remoteDomid : "?"})`,
      );
    const below = this.stack.filter((other) => other !== domain && other.alive);
    return (
      `its ports: ${ports.length ? ports.join(", ") : "none bound"}` +
      (below.length ? `; mid-call below it, unable to run: ${below.map(String).join(", ")}` : "")
    );
  }
}
