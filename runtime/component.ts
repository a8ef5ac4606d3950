// The XenStore client component (build/xenstore-client.wasm, wit/xenstore.wit)
// in Node: its jco transpile output (build/component/), instantiated
// synchronously over a blocking ByteStream to xenstored. Each
// openXenstoreComponent is a fresh instance with its own connection.
// It is a XenstoreClient (runtime/xenstore-client.ts): failures throw
// XenStoreError, the errno of the component's xs-error and its name.
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { instantiate } from "../build/component/xenstore-client.js";
import {
  type Permission,
  runTransaction,
  type TransactionId,
  type WatchEvent,
  XenStoreError,
  type XenstoreClient,
} from "./xenstore-client.js";

/** A blocking byte stream to xenstored. recv blocks until >= 1 byte; both throw StreamError when the stream fails. */
export interface ByteStream {
  send(bytes: Uint8Array): void;
  recv(max: number): Uint8Array;
  close(): void;
}

/** The stream failed: xenstored closed it, or reading or writing failed (the WIT's stream-error). */
export class StreamError extends Error {
  constructor(
    readonly kind: "closed" | "io",
    message: string,
  ) {
    super(message);
    this.name = "StreamError";
  }
}

/** The component's client interface, as jco's bindings give it (and runtime/wasmtime-component.ts after them): an xs-error is thrown as an error whose `payload` is the case. */
export type XenstoreClientExports = ReturnType<typeof instantiate>["client"];

const COMPONENT_DIRECTORY = new URL("../build/component/", import.meta.url);
const compiled = new Map<string, WebAssembly.Module>();

/** The component's core modules, compiled once per process. */
function coreModule(name: string): WebAssembly.Module {
  let module = compiled.get(name);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(new URL(name, COMPONENT_DIRECTORY)));
    compiled.set(name, module);
  }
  return module;
}

/**
 * How jco's bindings take an import's error: an exception whose own `payload`
 * is the error case. Any other exception from the stream is a bug there, and
 * goes through the component as a trap.
 */
export class TransportFailure extends Error {
  constructor(readonly payload: StreamError["kind"]) {
    super(`stream ${payload}`);
  }
}

/** The transport imports over `stream`: StreamErrors become stream-errors (TransportFailure); a recv breaking its contract is an io error. */
export function transportOver(stream: ByteStream) {
  const failures = <T>(call: () => T): T => {
    try {
      return call();
    } catch (error) {
      if (error instanceof StreamError) throw new TransportFailure(error.kind);
      throw error;
    }
  };
  return {
    send: (bytes: Uint8Array): void => failures(() => stream.send(bytes)),
    recv: (max: number): Uint8Array =>
      failures(() => {
        const bytes = stream.recv(max);
        if (bytes.length === 0 || bytes.length > max)
          throw new StreamError("io", `recv gave ${bytes.length} bytes, asked for 1 to ${max}`);
        return bytes;
      }),
  };
}

/** A fresh component instance talking over `stream`. */
export function openXenstoreComponent(stream: ByteStream): ComponentXenstore {
  const transport = transportOver(stream);
  // jco's bindings look the interface up without its version, their ImportObject type names it with one.
  const imports = { "xenbus-wasm:xenstore/transport@0.1.0": transport, "xenbus-wasm:xenstore/transport": transport };
  return new ComponentXenstore(instantiate(coreModule, imports).client, stream);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The errno of an xs-error case ("enoent" → ENOENT); every case is a Linux errno name. */
function errnoOf(xsError: string): number {
  return constants.errno[xsError.toUpperCase() as keyof typeof constants.errno] ?? constants.errno.EIO;
}

export class ComponentXenstore implements XenstoreClient {
  /** @internal Made by openXenstoreComponent. */
  constructor(
    private readonly client: XenstoreClientExports,
    private readonly stream: ByteStream,
  ) {}

  read(path: string, tx = 0): string {
    return decoder.decode(this.readBytes(path, tx));
  }

  readBytes(path: string, tx = 0): Uint8Array {
    return this.call(`read ${path}`, () => this.client.read(tx, path));
  }

  write(path: string, value: Uint8Array | string, tx = 0): void {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    this.call(`write ${path}`, () => this.client.write(tx, path, bytes));
  }

  mkdir(path: string, tx = 0): void {
    this.call(`mkdir ${path}`, () => this.client.mkdir(tx, path));
  }

  rm(path: string, tx = 0): void {
    this.call(`rm ${path}`, () => this.client.rm(tx, path));
  }

  /** The children's names, however many parts xenstored sends them in. */
  directory(path: string, tx = 0): string[] {
    return this.call(`directory ${path}`, () => this.client.directory(tx, path));
  }

  getPerms(path: string, tx = 0): Permission[] {
    return this.call(`get_perms ${path}`, () => this.client.getPerms(tx, path));
  }

  /** The first permission names the owner and what everyone else may do; the rest grant `access` to `domid`. */
  setPerms(path: string, perms: Permission[], tx = 0): void {
    this.call(`set_perms ${path}`, () => this.client.setPerms(tx, path, perms));
  }

  watch(path: string, token: string): void {
    this.call(`watch ${path}`, () => this.client.watch(path, token));
  }

  unwatch(path: string, token: string): void {
    this.call(`unwatch ${path}`, () => this.client.unwatch(path, token));
  }

  /** The oldest event queued during other requests, else blocks (in the stream's recv) for the next one. */
  nextEvent(): WatchEvent {
    return this.call("next_event", () => this.client.nextEvent());
  }

  transactionStart(): number {
    return this.call("transaction_start", () => this.client.transactionStart());
  }

  /** Commits or abandons `tx`; EAGAIN: it conflicted with another change, run it again. */
  transactionEnd(tx: number, commit: boolean): void {
    this.call(`transaction_end ${tx}`, () => this.client.transactionEnd(tx, commit));
  }

  transaction<T>(body: (tx: TransactionId) => T, attempts?: number): T {
    return runTransaction(this, body, attempts);
  }

  getDomainPath(domid: number): string {
    return this.call(`get_domain_path ${domid}`, () => this.client.getDomainPath(domid));
  }

  /** Closes the stream; every later request fails with EIO. */
  close(): void {
    this.stream.close();
  }

  /** Runs an export; its xs-error (jco throws it as an error whose payload is the case) becomes a XenStoreError. */
  private call<T>(operation: string, run: () => T): T {
    try {
      return run();
    } catch (error) {
      const payload = (error as { payload?: unknown } | null)?.payload;
      if (typeof payload === "string") throw new XenStoreError(errnoOf(payload), operation);
      throw error;
    }
  }
}
