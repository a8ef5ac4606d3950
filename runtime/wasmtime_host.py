# The wasmtime side of runtime/wasmtime.ts: runs guest modules in wasmtime
# (the official Python embedding) for a Node process that simulates Xen.
#
# Node and this process take turns over two FIFOs (argv[1]: Node -> here,
# argv[2]: here -> Node); exactly one side runs at a time, as a call stack
# that spans both. A frame is
#   u32 json length, u32 page count, the JSON message, then per page u32 frame + 4096 bytes
# and carries the pages of the named instance's linear memory that changed
# since the last crossing, so Node's mirror of that memory and the real one
# are equal whenever control changes sides. The guest's writes are known
# from the dirty-page bitmap its module was given (runtime/dirty-pages.ts),
# or, for a module without one, by comparing memory with a shadow copy.
import ctypes
import json
import struct
import sys

import wasmtime

PAGE = 4096
CHUNK = 16 * PAGE  # compared as a whole first; only a differing chunk is compared page by page
HEADER = struct.Struct("<II")
memcmp = ctypes.CDLL(None).memcmp
memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
GFN = struct.Struct("<I")
DIRTY_PAGES = "__xenbus_dirty_pages"  # runtime/dirty-pages.ts's DIRTY_PAGES_EXPORT


def wrap(value, ty):
    bits = {"i32": 32, "i64": 64}.get(ty)
    if bits is None:
        return value
    value = int(value) & ((1 << bits) - 1)
    return value - (1 << bits) if value >> (bits - 1) else value


def cause(error):
    """The line of a wasmtime error that says what happened (it ends the message, after the backtrace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


class Raised(Exception):
    """A Node import threw: unwind the guest's frames up to Node's pending call."""


class Guest:
    def __init__(self, store, instance):
        self.store = store
        self.instance = instance
        self.memory = None
        # Where the module's dirty-page bitmap is (runtime/dirty-pages.ts), when it was rewritten to keep one.
        # Nothing grows that memory, so it never moves.
        self.marks = None
        self.exports = {}
        # Parameter types of the exported functions called so far, by name.
        self.params = {}
        # Linear memory as Node last saw it, for memories without a bitmap (and until a bitmap guest is loaded).
        self.shadow = bytearray()

    def base(self):
        return ctypes.addressof(self.memory.data_ptr(self.store).contents)

    def size(self):
        return 0 if self.memory is None else self.memory.data_len(self.store)

    def view(self, size=None):
        if self.memory is None:
            return memoryview(bytearray())
        size = self.size() if size is None else size
        return memoryview((ctypes.c_ubyte * size).from_address(self.base())).cast("B")

    def track(self, marks):
        """From now on the bitmap says what changed: the shadow, which covered the module's data segments, goes."""
        self.marks = ctypes.addressof(marks.data_ptr(self.store).contents)
        self.shadow = None
        ctypes.memset(self.marks, 0, self.size() // PAGE)

    def changed_pages(self, size):
        return self.compared_pages(size) if self.marks is None else self.marked_pages(size)

    def marked_pages(self, size):
        count = size // PAGE
        marks = ctypes.string_at(self.marks, count)
        gfn = marks.find(1)
        if gfn < 0:
            return []
        ctypes.memset(self.marks, 0, count)
        memory = self.view(size)
        pages = []
        while gfn >= 0:
            pages.append((gfn, memory[gfn * PAGE:(gfn + 1) * PAGE]))
            gfn = marks.find(1, gfn + 1)
        return pages

    def compared_pages(self, size):
        if size == 0:
            return []
        shadow = self.shadow
        if len(shadow) < size:
            shadow.extend(bytes(size - len(shadow)))  # grown memory is zeroed on both sides
        # memcmp, since comparing memoryviews goes byte by byte.
        base = self.base()
        copy = (ctypes.c_ubyte * len(shadow)).from_buffer(shadow)
        other = ctypes.addressof(copy)
        del copy  # a live export of the bytearray would forbid resizing it
        memory = self.view(size)
        pages = []
        for chunk in range(0, size, CHUNK):
            length = min(CHUNK, size - chunk)
            if memcmp(base + chunk, other + chunk, length) == 0:
                continue
            for address in range(chunk, chunk + length, PAGE):
                if memcmp(base + address, other + address, PAGE) != 0:
                    content = bytes(memory[address:address + PAGE])
                    shadow[address:address + PAGE] = content
                    pages.append((address // PAGE, content))
        return pages

    def apply(self, pages):
        # Node's writes are not marked in the bitmap: Node has them already.
        memory = self.view()
        for gfn, content in pages:
            address = gfn * PAGE
            memory[address:address + PAGE] = content
            if self.shadow is not None:
                self.shadow[address:address + PAGE] = content


class Host:
    def __init__(self, inbox, outbox):
        self.inbox = inbox
        self.outbox = outbox
        config = wasmtime.Config()
        config.wasm_multi_memory = True  # the dirty-page bitmap is a second memory
        self.engine = wasmtime.Engine(config)
        self.modules = {}
        self.guests = {}

    def send(self, message, guest=None):
        pages = []
        if guest:
            size = message["size"] = guest.size()
            pages = guest.changed_pages(size)
        body = json.dumps(message).encode()
        parts = [HEADER.pack(len(body), len(pages)), body]
        for gfn, content in pages:
            parts.append(GFN.pack(gfn))
            parts.append(content)
        self.outbox.write(b"".join(parts))
        self.outbox.flush()

    def receive(self):
        header = self.inbox.read(HEADER.size)
        if len(header) < HEADER.size:
            sys.exit(0)  # Node went away
        length, count = HEADER.unpack(header)
        message = json.loads(self.inbox.read(length))
        pages = []
        for _ in range(count):
            (gfn,) = GFN.unpack(self.inbox.read(GFN.size))
            pages.append((gfn, self.inbox.read(PAGE)))
        guest = self.guests.get(message.get("id"))
        if guest and pages:
            guest.apply(pages)
        return message

    def serve(self):
        """Handles Node's requests until Node answers the innermost pending hypercall (then returns its message)."""
        while True:
            message = self.receive()
            op = message["op"]
            if op in ("reply", "raise"):
                return message
            if op == "load":
                self.load(message)
            elif op == "call":
                self.call(message)
            elif op == "drop":
                # Node disposed of the guest or collected it: its store, and with it the linear memory, goes. No answer.
                self.guests.pop(message["id"], None)
            elif op == "global":
                guest = self.guests[message["id"]]
                value = guest.exports[message["name"]].value(guest.store)
                self.send({"op": "value", "value": value})
            else:
                raise ValueError(f"unknown request {op}")

    def load(self, message):
        key = message["wasm"]
        module = self.modules.get(key)
        if module is None:
            module = self.modules[key] = wasmtime.Module.from_file(self.engine, key)
        store = wasmtime.Store(self.engine)
        guest_id = message["id"]
        imports = []
        for item in module.imports:
            if item.module != "xen" or not isinstance(item.type, wasmtime.FuncType):
                raise ValueError(f"unsupported import {item.module}.{item.name}")
            imports.append(wasmtime.Func(store, item.type, self.hypercall(guest_id, item.name, item.type)))
        # The guest exists before its start function runs, so that a hypercall from it can be answered.
        guest = Guest(store, None)
        self.guests[guest_id] = guest
        try:
            guest.instance = wasmtime.Instance(store, module, imports)
        except Exception as error:
            self.guests.pop(guest_id, None)
            self.send({"op": "error", "message": str(error)})
            return
        # Looked up once: each exports() call walks all of them.
        exports = guest.exports = dict(guest.instance.exports(store))
        memory = exports.get("memory")
        guest.memory = memory if isinstance(memory, wasmtime.Memory) else None
        names = [item.name for item in module.exports if item.name != DIRTY_PAGES]
        self.send({"op": "loaded", "id": guest_id, "exports": names}, guest)
        marks = exports.get(DIRTY_PAGES)
        if guest.memory is not None and isinstance(marks, wasmtime.Memory):
            guest.track(marks)

    def hypercall(self, guest_id, name, ty):
        returns = len(ty.results) > 0

        def run(*args):
            guest = self.guests[guest_id]
            self.send({"op": "hypercall", "id": guest_id, "name": name, "args": list(args)}, guest)
            answer = self.serve()
            if answer["op"] == "raise":
                raise Raised()
            return int(answer["value"]) if returns else None

        return run

    def call(self, message):
        guest = self.guests[message["id"]]
        name = message["name"]
        function = guest.exports[name]
        # As V8 converts arguments: i32 and i64 wrap around (ToInt32, ToBigInt64); an i64 may come as a decimal string.
        params = guest.params.get(name)
        if params is None:
            params = guest.params[name] = [str(ty) for ty in function.type(guest.store).params]
        args = [wrap(arg, ty) for arg, ty in zip(message["args"], params)]
        try:
            value = function(guest.store, *args)
        except Raised:
            self.send({"op": "raised", "id": message["id"]}, guest)
            return
        except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
            self.send({"op": "trap", "id": message["id"], "message": cause(trap)}, guest)
            return
        self.send({"op": "return", "id": message["id"], "value": value}, guest)


def main():
    with open(sys.argv[1], "rb") as inbox, open(sys.argv[2], "wb") as outbox:
        Host(inbox, outbox).serve()


if __name__ == "__main__":
    main()
