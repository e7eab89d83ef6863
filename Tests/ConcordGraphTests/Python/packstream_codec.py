"""PackStream vectors from the official Neo4j Python driver's codec.

  packstream_codec.py vectors     one JSON line per value: name, hex, tagged value
  packstream_codec.py roundtrip   reads a JSON list of hex strings on stdin; for
                                  each, unpacks and repacks with the driver's codec
                                  and prints {"hex": ..., "value": tagged}

"tagged" spells a value out exactly: ["int", "123"], ["float", "<ieee754 hex>"],
["map", [[key, value], ...]] (order kept), ["struct", tag, [fields]], ...
"""
import json
import math
import struct
import sys

from neo4j._codec.packstream._python._common import Structure
from neo4j._codec.packstream._common import PackableBuffer, UnpackableBuffer
from neo4j._codec.packstream.v1 import Packer, Unpacker


def pack(value):
    buf = PackableBuffer()
    Packer(buf).pack(value)
    return bytes(buf.data)


def unpack(data):
    return Unpacker(UnpackableBuffer(data)).unpack()


def tagged(v):
    if v is None:
        return ["null"]
    if isinstance(v, bool):
        return ["bool", v]
    if isinstance(v, int):
        return ["int", str(v)]
    if isinstance(v, float):
        return ["float", struct.pack(">d", v).hex()]
    if isinstance(v, str):
        return ["string", v]
    if isinstance(v, (bytes, bytearray)):
        return ["bytes", bytes(v).hex()]
    if isinstance(v, list):
        return ["list", [tagged(x) for x in v]]
    if isinstance(v, dict):
        return ["map", [[k, tagged(x)] for k, x in v.items()]]
    if isinstance(v, Structure):
        return ["struct", v.tag[0], [tagged(x) for x in v.fields]]
    raise TypeError(type(v))


def S(tag, *fields):
    return Structure(bytes([tag]), *fields)


def vectors():
    v = []
    for i in [0, 1, -1, -16, -17, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769,
              65535, 65536, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32, 2**53 + 1, 2**63 - 1, -2**63, -2**63 + 1]:
        v.append((f"int {i}", i))
    for f in [0.0, -0.0, 1.0, 1.5, -2.25, math.pi, 1e308, -1e-308, 5e-324, float("inf"), float("-inf"), float("nan"), 0.1]:
        v.append((f"float {f!r}", f))
    v += [("null", None), ("true", True), ("false", False)]
    for n in [0, 1, 15, 16, 255, 256, 65535, 65536, 100000]:
        v.append((f"string {n} bytes", "x" * n))
    v += [("unicode", "é中文😀 e\u0301 \u0000 nul \"quoted\" \\ back"), ("emoji only", "😀" * 20)]
    for n in [0, 1, 255, 256, 65535, 65536]:
        v.append((f"bytes {n}", bytes((i * 7) % 256 for i in range(n))))
    for n in [0, 1, 15, 16, 255, 256, 65535, 65536]:
        v.append((f"list {n}", list(range(n))))
    v.append(("mixed list", [1, "two", 3.0, None, True, [4], {"five": 5}, b"\x06"]))
    for n in [0, 1, 15, 16, 255, 256, 70000]:
        v.append((f"map {n}", {f"k{i}": i for i in range(n)}))
    v.append(("unicode keys", {"ключ": 1, "鍵": [2], "🔑": {"nested": None}}))
    deep = "leaf"
    for i in range(60):
        deep = [deep] if i % 2 else {"d": deep}
    v.append(("deep nesting", deep))
    # Bolt structures in their Bolt 5 shapes.
    node = S(0x4E, 42, ["Node", "Event"], {"id": "e1", "timestamp": 1764393600123}, "4:abc:42")
    v.append(("Node", node))
    v.append(("Node bolt4", S(0x4E, 7, ["WorkflowRun"], {"id": "wr_1"})))
    v.append(("Relationship", S(0x52, 9, 42, 43, "PARENT_OF", {"w": 1.5}, "5:abc:9", "4:abc:42", "4:abc:43")))
    unbound = S(0x72, 9, "PARENT_OF", {}, "5:abc:9")
    n2 = S(0x4E, 43, ["Node"], {"id": "e2"}, "4:abc:43")
    v.append(("UnboundRelationship", unbound))
    v.append(("Path", S(0x50, [node, n2], [unbound], [1, 1])))
    v.append(("Path backwards", S(0x50, [node, n2], [unbound], [-1, 1])))
    v.append(("Date", S(0x44, 20424)))
    v.append(("Time", S(0x54, 45296789000000, 3600)))
    v.append(("LocalTime", S(0x74, 45296789000000)))
    v.append(("DateTime", S(0x49, 1764393600, 123000000, 3600)))
    v.append(("DateTime legacy", S(0x46, 1764393600, 123000000, -7200)))
    v.append(("DateTimeZoneId", S(0x69, 1764393600, 0, "Europe/Stockholm")))
    v.append(("DateTimeZoneId legacy", S(0x66, 1764393600, 0, "America/New_York")))
    v.append(("LocalDateTime", S(0x64, 1764393600, 999999999)))
    v.append(("Duration", S(0x45, 14, 3, 86399, 999)))
    v.append(("Point2D", S(0x58, 4326, 18.06, 59.33)))
    v.append(("Point3D", S(0x59, 4979, 1.0, 2.0, 3.0)))
    v.append(("big list of maps", [{"id": f"e{i}", "n": i, "f": i / 3} for i in range(3000)]))
    for name, value in v:
        print(json.dumps({"name": name, "hex": pack(value).hex(), "value": tagged(value)}))


def roundtrip():
    out = []
    for h in json.load(sys.stdin):
        value = unpack(bytes.fromhex(h))
        out.append({"hex": pack(value).hex(), "value": tagged(value)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    {"vectors": vectors, "roundtrip": roundtrip}[sys.argv[1]]()
