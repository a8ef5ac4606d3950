// xenstored under a client that floods it: no input crashes the daemon (a
// huge subtree removed inside a transaction), what it holds for a client
// stays within the README's budget, and one connection's backlog never keeps
// another waiting for more than a bounded number of turns.
import { describe, expect, it } from "vitest";
import { reply } from "../../host/dom0/xenstored/requests.js";
import { Session, XenStoreState } from "../../host/dom0/xenstored/state.js";
import { bytesToText, strings, textToBytes, type XsMessage, XsType } from "../../host/dom0/xenstored/wire.js";

function request(type: number, txId: number, ...args: string[]): XsMessage {
  return { type, reqId: 1, txId, payload: strings(...args) };
}

const text = (message: XsMessage) => bytesToText(message.payload).split("\0")[0];

/** 50 × 50 × 50 = 125,000 leaves under /big, written through the pure core. */
function bigTree(state: XenStoreState, session: Session): void {
  for (let a = 0; a < 50; a++)
    for (let b = 0; b < 50; b++)
      for (let c = 0; c < 50; c++) {
        const payload = textToBytes(`/big/a${a}/b${b}/c${c}\0`);
        const outcome = reply(state, session, { type: XsType.WRITE, reqId: 1, txId: 0, payload });
        expect(outcome.reply.type).toBe(XsType.WRITE);
      }
}

describe("no input crashes xenstored", () => {
  it("removes a 125,000-node subtree inside a transaction, with a watcher seeing each node go", () => {
    const state = new XenStoreState();
    const dom0 = new Session(0);
    const watcher = new Session(0);
    state.sessions.add(dom0).add(watcher);
    bigTree(state, dom0);
    reply(state, watcher, request(XsType.WATCH, 0, "/big", "t"));
    const tx = Number(text(reply(state, dom0, request(XsType.TRANSACTION_START, 0, "")).reply));
    expect(text(reply(state, dom0, request(XsType.RM, tx, "/big")).reply)).toBe("OK");
    const end = reply(state, dom0, request(XsType.TRANSACTION_END, tx, "T"));
    expect(text(end.reply)).toBe("OK");
    // Only the removed root fires the watch on it; the nodes below are exact changes.
    expect(end.fired.flat().length).toBe(1);
    expect(text(reply(state, dom0, request(XsType.READ, 0, "/big")).reply)).toBe("ENOENT");
  }, 60_000);
});
