// A scratch area in a module's linear memory filled with pseudo-random guard
// bytes, so a test can prove that an operation wrote nowhere but where it may.
const PAGE_SIZE = 4096;

export class GuardedScratch {
  constructor(
    private readonly bytes: () => Uint8Array,
    readonly base: number,
    readonly size: number,
    /** Names an absolute address for failure messages. */
    private readonly describe: (address: number) => string = (address) => `scratch+${address - base}`,
  ) {}

  /** Fills the whole area with xorshift bytes from `seed`. */
  fill(seed: number): void {
    const memory = this.bytes();
    let x = seed | 1;
    for (let i = 0; i < this.size; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      memory[this.base + i] = x & 0xff;
    }
  }

  snapshot(): Uint8Array {
    return this.bytes().slice(this.base, this.base + this.size);
  }

  /** Throws naming the first byte outside `allowed` ([start, end) absolute addresses) that differs from `before`. */
  expectOnlyChanged(before: Uint8Array, allowed: Array<[number, number]>): void {
    const now = this.bytes();
    if (Buffer.compare(now.subarray(this.base, this.base + before.length), before) === 0) return;
    for (let i = 0; i < before.length; i++) {
      const address = this.base + i;
      if (now[address] === before[i] || allowed.some(([start, end]) => address >= start && address < end)) continue;
      throw new Error(
        `byte at ${this.describe(address)} changed where nothing may be written (${before[i]} → ${now[address]})`,
      );
    }
  }
}

/** Pages a guest allocated that nothing may write: each filled with its own guard bytes, then checked untouched. */
export class SentinelPages {
  private readonly pages: { scratch: GuardedScratch; guard: Uint8Array }[] = [];

  constructor(private readonly guest: { memory(): Uint8Array; exports: { page_alloc(): number } }) {}

  /** One more page_alloc page, filled. */
  add(): void {
    const scratch = new GuardedScratch(() => this.guest.memory(), this.guest.exports.page_alloc(), PAGE_SIZE);
    scratch.fill(this.pages.length + 1);
    this.pages.push({ scratch, guard: scratch.snapshot() });
  }

  /** Throws naming the first byte of any page that changed. */
  expectUntouched(): void {
    for (const { scratch, guard } of this.pages) scratch.expectOnlyChanged(guard, []);
  }
}
