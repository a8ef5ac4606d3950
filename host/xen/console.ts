// A domain's Xen console (CONSOLEIO_write): output is split into lines; a
// listener sees each complete line as it is written (the demo prints them).
export class ConsoleLog {
  private readonly complete: string[] = [];
  private partial: number[] = [];
  private readonly decoder = new TextDecoder("utf-8");
  listener: ((line: string) => void) | null = null;

  write(bytes: Uint8Array): void {
    for (const byte of bytes) {
      if (byte !== 0x0a) {
        this.partial.push(byte);
        continue;
      }
      const line = this.decoder.decode(new Uint8Array(this.partial));
      this.partial = [];
      this.complete.push(line);
      this.listener?.(line);
    }
  }

  /** Every line written so far; an unterminated last line is included as it stands. */
  lines(): string[] {
    return this.partial.length === 0
      ? [...this.complete]
      : [...this.complete, this.decoder.decode(new Uint8Array(this.partial))];
  }
}
