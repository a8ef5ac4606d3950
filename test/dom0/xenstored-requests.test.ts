// xenstored's request handler alone: `reply` on a state and a session, no
// connection or transport, shows what a request answers and which watch
// events it fires, in the order the connection layer sends them.
import { describe, expect, it } from "vitest";
import { reply } from "../../host/dom0/xenstored/requests.js";
import { Session, XenStoreState } from "../../host/dom0/xenstored/state.js";
import { bytesToText, strings, textToBytes, type XsMessage, XsType } from "../../host/dom0/xenstored/wire.js";

function request(type: number, ...args: string[]): XsMessage {
  return { type, reqId: 7, txId: 0, payload: strings(...args) };
}

function setup() {
  const state = new XenStoreState();
  const dom0 = new Session(0);
  const watcher = new Session(0);
  state.addSession(dom0).addSession(watcher);
  return { state, dom0, watcher };
}

const text = (message: XsMessage) => bytesToText(message.payload).split("\0");

describe("reply", () => {
  it("answers WATCH with OK and gives the watch's first event after the ack", () => {
    const { state, watcher } = setup();
    const outcome = reply(state, watcher, request(XsType.WATCH, "/vm", "token"));
    expect(outcome.reply).toMatchObject({ type: XsType.WATCH, reqId: 7 });
    expect(text(outcome.reply)).toEqual(["OK", ""]);
    expect(outcome.fired).toEqual([]);
    expect(outcome.after.map(({ session, message }) => [session, text(message)])).toEqual([
      [watcher, ["/vm", "token", ""]],
    ]);
  });

  it("a write fires the watches of every session it touches, to go out before its reply", () => {
    const { state, dom0, watcher } = setup();
    reply(state, watcher, request(XsType.WATCH, "/vm", "token"));
    const write = { type: XsType.WRITE, reqId: 8, txId: 0, payload: textToBytes("/vm/name\0guest") };
    const outcome = reply(state, dom0, write);
    expect(text(outcome.reply)).toEqual(["OK", ""]);
    expect(outcome.fired.map((batch) => batch.map(({ session, message }) => [session, text(message)]))).toEqual([
      [[watcher, ["/vm/name", "token", ""]]],
    ]);
    expect(text(reply(state, watcher, request(XsType.READ, "/vm/name")).reply)).toEqual(["guest"]);
  });

  it("refuses with an ERROR reply and changes nothing: an unprivileged INTRODUCE, an unknown transaction", () => {
    const { state } = setup();
    const guest = new Session(3);
    state.addSession(guest);
    const refused = reply(state, guest, request(XsType.INTRODUCE, "4", "1", "2"));
    expect(refused.reply.type).toBe(XsType.ERROR);
    expect(text(refused.reply)).toEqual(["EACCES", ""]);
    expect(state.isIntroduced(4)).toBe(false);
    const stale = reply(state, guest, { ...request(XsType.READ, "/vm"), txId: 9 });
    expect(text(stale.reply)).toEqual(["ENOENT", ""]);
  });
});
