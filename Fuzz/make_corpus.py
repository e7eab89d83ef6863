#!/usr/bin/env python3
"""Seeds the fuzz corpora in Fuzz/corpus/<target>/ from the project's own
fixtures, rules and protocol shapes. Run it again after the fixtures change:
python3 Fuzz/make_corpus.py. Inputs the fuzzer found (crashes turned into
regression tests) live beside the seeds as regression-*."""
import glob, hashlib, json, os, re, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "corpus")


def put(target, data, name=None):
    if isinstance(data, str): data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = name or "seed-" + hashlib.sha1(data).hexdigest()[:12]
    with open(os.path.join(d, name), "wb") as f: f.write(data)


def fixture_lines():
    for path in sorted(glob.glob(os.path.join(ROOT, "Tests/Fixtures/*/*/*.ndjson")) + sorted(glob.glob(os.path.join(ROOT, "Tests/Fixtures/*/*/*/*.ndjson")))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip(): yield json.loads(line)


if os.path.isdir(OUT):
    for d in os.listdir(OUT):   # seeds are rebuilt; regression inputs stay
        for name in os.listdir(os.path.join(OUT, d)):
            if name.startswith("seed-"): os.remove(os.path.join(OUT, d, name))

# -- JSON and events: the fixtures' records, the events in them, their raw producer texts --------------------------
# A few of each shape (records per dataset, events, every producer's raw text): seeds, not a copy of the fixtures.
seen, shapes = set(), {}
for rec in fixture_lines():
    for target, value in (("json", rec), ("event", rec.get("event")), ("event", rec.get("raw"))):
        if value is None: continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        shape = (target, isinstance(value, str), tuple(sorted(value)) if isinstance(value, dict) else type(value).__name__)
        if (target, text) in seen or shapes.get(shape, 0) >= (8 if isinstance(value, str) else 3): continue
        seen.add((target, text))
        shapes[shape] = shapes.get(shape, 0) + 1
        put(target, text)
for text in ['{"a": [1, 2.5, -0.0, 1e300, "\\u00e9\\ud83d\\ude00"], "b": {"c": null, "d": true}}', '[]', '"\\u0000"', '123456789012345678901234567890',
             '{"a":1,"a":2}', ' { } ', '[[[[[[[[[[]]]]]]]]]]']:
    put("json", text)

# -- expressions: every expression the catalog writes, and some of each kind -----------------------------------------
exprs = set()
for path in sorted(glob.glob(os.path.join(ROOT, "Rules/*.yaml"))):
    with open(path, encoding="utf-8") as f: text = f.read()
    for m in re.finditer(r'"([^"\n]*\(.*?)"', text): exprs.add(m.group(1))
    for m in re.finditer(r'(?:where|key|workflowId|age|expr): ([^,{}\n]+)', text): exprs.add(m.group(1).strip().strip('"'))
exprs |= {"a.b == 3 and a.s == 'x'", "5m + 2h - 1d", "not (x in [1, 2, 'three'])", "keys(o) != keys(omit(p, 'k'))",
          "if(exists(n), number('12'), coalesce(n, -1.5e3))", "digest(json('{\"a\": 1}')) == digest(o)", "age(t) > grace and now > 0"}
for e in sorted(exprs):
    put("expression", e.encode() + b"\0" + b'{"a": {"b": 3, "s": "x"}, "o": {"k": 1}, "t": 1}')

# -- rule files: the catalog's, one by one; and the datasets file ------------------------------------------------------
for path in sorted(glob.glob(os.path.join(ROOT, "Rules/*.yaml"))):
    with open(path, "rb") as f: data = f.read()
    if os.path.basename(path) == "datasets.yaml":
        put("rules", b"version: 1\nid: x\nseverity: info\nstore: graph\ndescription: d\ncheck: { kind: duplicate, in: [ { dataset: graph.nodes, key: id } ] }\nrepair: { action: manual }\n\0" + data, "seed-with-datasets")
    else:
        put("rules", data, "seed-" + os.path.basename(path))

# -- PackStream: one of each marker ------------------------------------------------------------------------------------
def ps_string(s):
    b = s.encode()
    if len(b) < 16: return bytes([0x80 | len(b)]) + b
    if len(b) < 256: return b"\xd0" + bytes([len(b)]) + b
    return b"\xd1" + struct.pack(">H", len(b)) + b
def ps_map(d):
    out = bytes([0xA0 | len(d)])
    for k, v in d.items(): out += ps_string(k) + v
    return out
vectors = [b"\xc0", b"\xc3", b"\x7f", b"\xf0", b"\xc8\x80", b"\xc9\x80\x00", b"\xca\x80\x00\x00\x00", b"\xcb" + struct.pack(">q", -2**63),
           b"\xc1" + struct.pack(">d", 1.5), b"\xcc\x03abc", ps_string("héllo"), ps_string("x" * 300), b"\x93\x01\x02\x03",
           ps_map({"a": b"\x01", "b": ps_string("c")}), b"\xb3\x4e\x01\x91" + ps_string("Node") + ps_map({"id": ps_string("e1")}),
           b"\xb5\x52\x01\x02\x03" + ps_string("PARENT_OF") + b"\xa0", b"\xd4\x02\x01\x02", b"\xd8\x01" + ps_string("k") + b"\xc0"]
for v in vectors: put("packstream", v)

# -- Bolt: responses framed in chunks, NOOPs between ---------------------------------------------------------------------
def frame(body, size=0xFFFF):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += struct.pack(">H", len(part)) + part
    return out + b"\x00\x00"
success = b"\xb1\x70" + ps_map({"fields": b"\x92" + ps_string("k") + ps_string("v")})
record = b"\xb1\x71\x92\x01" + ps_string("value")
failure = b"\xb1\x7f" + ps_map({"code": ps_string("Neo.ClientError.Statement.SyntaxError"), "message": ps_string("bad")})
put("bolt", frame(success) + frame(record) + frame(record, 3) + b"\x00\x00" + frame(b"\xb1\x70\xa0"))
put("bolt", frame(failure) + frame(b"\xb0\x7e"))
put("bolt", frame(b"\xb1\x70" + ps_map({"bookmark": ps_string("bm:1"), "t_first": b"\x05"}), 1))

# -- RESP: FalkorDB's compact replies ------------------------------------------------------------------------------------
put("resp", b"*3\r\n*1\r\n*2\r\n:1\r\n$1\r\nk\r\n*1\r\n*1\r\n*2\r\n:3\r\n:7\r\n*2\r\n+Cached execution: 0\r\n+Query internal execution time: 0.1 milliseconds\r\n")
put("resp", b"-ERR unknown command\r\n")
put("resp", b"*2\r\n$-1\r\n*-1\r\n")
put("resp", b"$5\r\nh\xc3\xa9lo\r\n")

# -- plans and manifests ---------------------------------------------------------------------------------------------------
def plan(ops):
    content = {"format": "concord.plan/1", "planId": "plan-seed", "sourceAuditId": "audit-seed", "createdAt": "2026-11-30T01:00:00.000Z",
               "rulesDigest": "", "operations": ops, "summary": {}}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    content["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
op = {"id": "0123456789abcdef", "findingId": "f1", "rule": "run.state-mismatch", "store": "redis", "action": "set-redis-state", "key": "wr_1",
      "params": {"run": "wr_1", "state": "completed"}, "precondition": {"state": "running"}, "before": {"state": "running"}, "after": {"state": "completed"}}
put("plan", plan([op]))
put("plan", plan([]))
put("plan", plan([dict(op, action="delete-record", params={"dataset": "redis.prefs", "address": {"redisKey": "prefs:u1", "type": "hash"}})]))
for path in sorted(glob.glob(os.path.join(ROOT, "Tests/Fixtures/foreign/*/manifest.json")))[:2] + sorted(glob.glob(os.path.join(ROOT, "Tests/Fixtures/rules/event.cycle/*/manifest.json"))):
    with open(path, "rb") as f: put("manifest", f.read())

print("corpora:", ", ".join(f"{t} {len(os.listdir(os.path.join(OUT, t)))}" for t in sorted(os.listdir(OUT))))
