// Typed PV console over a booted xenbus guest's exports (see runtime/xenbus.ts
// for the raw convention): what the unikernel's own code would do with its
// console, driven from the host. Failures throw ConsoleError carrying the errno.
import { allocPage, GuestCallError, resultCheck } from "./errors.js";
import type { Guest } from "./guest.js";
import type { XenbusExports } from "./xenbus.js";

const PAGE_SIZE = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A console export failed; `errno` is the positive errno, `code` its name (ENODEV, EIO, ...). */
export class ConsoleError extends GuestCallError {}

export interface Console {
  /** Writes all of `text` (UTF-8), a page at a time; the guest waits while its ring is full. */
  write(text: string | Uint8Array): void;
  /** The input received so far (never waits), UTF-8 decoded: "" when none. A character split across reads is garbled; readBytes keeps it whole. */
  read(): string;
  /** The input received so far, at most a page (never waits). */
  readBytes(): Uint8Array;
}

/** Connects the guest's console (console_init) and wraps its exports; one page of the guest carries the data. */
export function guestConsole(guest: Guest<XenbusExports>): Console {
  const x = guest.exports;
  const check = resultCheck(guest, ConsoleError);
  check(x.console_init(), "console_init");
  const page = allocPage(guest, "console data");

  return {
    write(text) {
      const bytes = typeof text === "string" ? encoder.encode(text) : text;
      for (let offset = 0; offset < bytes.length; offset += PAGE_SIZE) {
        const chunk = bytes.subarray(offset, offset + PAGE_SIZE);
        guest.memory().set(chunk, page);
        check(x.console_write(page, chunk.length), "console_write");
      }
    },
    readBytes() {
      const count = check(x.console_read(page), "console_read");
      return guest.memory().slice(page, page + count);
    },
    read() {
      return decoder.decode(this.readBytes());
    },
  };
}
