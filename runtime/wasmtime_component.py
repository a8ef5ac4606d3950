# The XenStore client component (build/xenstore-client.wasm, world
# xenstore-client of wit/xenstore.wit) under wasmtime's component API, its
# `transport` import served by a blocking connection to xenstored.
#
#   python wasmtime_component.py [--component FILE] XENSTORED
#
# XENSTORED is xenstored's Unix socket or a character device
# (/dev/xen/xenbus). Operations come on stdin, one JSON object a line, named
# and with parameters as in the WIT's `client` interface:
#   {"op": "read", "tx": 0, "path": "/a"}       ("tx" may be left out: 0)
#   {"op": "write", "path": "/a", "value": "hi"}
#   {"op": "set-perms", "path": "/a", "perms": [{"domid": 0, "access": "read"}]}
#   {"op": "watch", "path": "/a", "token": "t"}   {"op": "next-event"}
#   {"op": "transaction-end", "tx": 3, "commit": true}
#   {"op": "get-domain-path", "domid": 3}
# and each gets one JSON line on stdout: {"ok": RESULT} or {"error": "enoent"}
# (the xs-error enum's name). A list<u8> (value) travels as a string whose
# code points are its bytes (latin-1). A line that is not an operation gets
# {"invalid": why}; a trap ends the run with {"trap": why} and exit status 1.
import argparse
import json
import os
import socket
import stat
import sys

from wasmtime import Engine, Store, WasmtimeError
from wasmtime.component import Component, Linker, Record, Variant

PACKAGE = "xenbus-wasm:xenstore/{}@0.1.0"
DEFAULT_COMPONENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "xenstore-client.wasm")


class SocketTransport:
    """xenstored's Unix socket, blocking."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)

    def send(self, data):
        self.sock.sendall(data)

    def recv(self, size):
        return self.sock.recv(size)


class DeviceTransport:
    """The xenbus character device: the kernel relays whole messages to xenstored."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)

    def send(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def recv(self, size):
        return os.read(self.fd, size)


def connect(path):
    mode = os.stat(path).st_mode
    return SocketTransport(path) if stat.S_ISSOCK(mode) else DeviceTransport(path)


def stream_error(error):
    """The WIT's stream-error for an OSError: `closed` when xenstored hung up, else `io`."""
    hung_up = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
    return "closed" if isinstance(error, hung_up) else "io"


def link_transport(linker, transport):
    """Defines the `transport` import: results are the payload for ok and the enum's name for err (wasmtime-py's untagged form)."""

    def send(_store, data):
        try:
            transport.send(data)
            return None
        except OSError as error:
            return stream_error(error)

    def recv(_store, size):
        try:
            data = transport.recv(size)
        except OSError as error:
            return stream_error(error)
        return data if data else "closed"

    with linker.root() as root:
        with root.add_instance(PACKAGE.format("transport")) as instance:
            instance.add_func("send", send)
            instance.add_func("recv", recv)


def latin1_bytes(text):
    """The bytes a JSON string stands for: one code point per byte."""
    return text.encode("latin-1")


def permission(entry):
    record = Record()
    record.domid = entry["domid"]
    record.access = entry["access"]
    return record


# Each operation: its parameters from a request, and its ok value as JSON.
OPERATIONS = {
    "read": (lambda r: (r.get("tx", 0), r["path"]), lambda v: v.decode("latin-1")),
    "write": (lambda r: (r.get("tx", 0), r["path"], latin1_bytes(r["value"])), None),
    "mkdir": (lambda r: (r.get("tx", 0), r["path"]), None),
    "rm": (lambda r: (r.get("tx", 0), r["path"]), None),
    "directory": (lambda r: (r.get("tx", 0), r["path"]), list),
    "get-perms": (lambda r: (r.get("tx", 0), r["path"]), lambda v: [{"domid": p.domid, "access": p.access} for p in v]),
    "set-perms": (lambda r: (r.get("tx", 0), r["path"], [permission(p) for p in r["perms"]]), None),
    "watch": (lambda r: (r["path"], r["token"]), None),
    "unwatch": (lambda r: (r["path"], r["token"]), None),
    "next-event": (lambda r: (), lambda v: {"path": v.path, "token": v.token}),
    "transaction-start": (lambda r: (), int),
    "transaction-end": (lambda r: (r["tx"], r["commit"]), None),
    "get-domain-path": (lambda r: (r["domid"],), str),
}


def outcome(value):
    """(ok?, payload) of a returned result: wasmtime-py gives a Variant when ok and err are both
    strings (get-domain-path), else the bare payload, and every err here is the xs-error enum (a str)."""
    if isinstance(value, Variant):
        return value.tag == "ok", value.payload
    if isinstance(value, str):
        return False, value
    return True, value


class Client:
    def __init__(self, component_path, transport):
        engine = Engine()
        self.store = Store(engine)
        linker = Linker(engine)
        link_transport(linker, transport)
        instance = linker.instantiate(self.store, Component.from_file(engine, component_path))
        client = instance.get_export_index(self.store, PACKAGE.format("client"))
        if client is None:
            raise SystemExit(f"{component_path} does not export {PACKAGE.format('client')}")
        self.funcs = {}
        for name in OPERATIONS:
            index = instance.get_export_index(self.store, name, client)
            func = index and instance.get_func(self.store, index)
            if func is None:
                raise SystemExit(f"{component_path}: the client interface has no function {name}")
            self.funcs[name] = func

    def run(self, request):
        """The JSON reply to one request (a trap propagates as WasmtimeError)."""
        name = request.get("op") if isinstance(request, dict) else None
        if name not in OPERATIONS:
            return {"invalid": f"unknown op {name!r}; known: {', '.join(OPERATIONS)}"}
        parameters, encode = OPERATIONS[name]
        try:
            arguments = parameters(request)
        except (KeyError, TypeError, UnicodeEncodeError) as error:
            return {"invalid": f"{name}: bad or missing parameter: {error}"}
        func = self.funcs[name]
        try:
            value = func(self.store, *arguments)
        except (TypeError, ValueError) as error:  # a parameter of the wrong type, refused before the call
            return {"invalid": f"{name}: {error}"}
        func.post_return(self.store)
        ok, payload = outcome(value)
        if not ok:
            return {"error": payload}
        return {"ok": encode(payload) if encode else None}


def main():
    parser = argparse.ArgumentParser(description="Runs XenStore operations (JSON lines on stdin) through the component under wasmtime.")
    parser.add_argument("--component", default=DEFAULT_COMPONENT, help="the component (default: build/xenstore-client.wasm)")
    parser.add_argument("xenstored", help="xenstored's Unix socket or /dev/xen/xenbus")
    args = parser.parse_args()
    if not os.path.exists(args.component):
        raise SystemExit(f"{args.component}: no such component (npm run build makes build/xenstore-client.wasm)")
    try:
        transport = connect(args.xenstored)
    except OSError as error:
        raise SystemExit(f"cannot connect to xenstored at {args.xenstored}: {error.strerror}")
    client = Client(args.component, transport)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = client.run(json.loads(line))
        except json.JSONDecodeError as error:
            reply = {"invalid": f"not JSON: {error}"}
        except WasmtimeError as error:
            print(json.dumps({"trap": str(error).strip().splitlines()[-1]}), flush=True)
            sys.exit(1)
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
