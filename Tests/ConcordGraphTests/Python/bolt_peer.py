"""A scripted Bolt server, on the official Neo4j Python driver's PackStream codec.

  bolt_peer.py SCRIPT [--tls CERT KEY]
                          listens on 127.0.0.1 (a free port, printed as the first
                          line of stdout), serves one connection by SCRIPT, and
                          exits 0 only when the client went through every line;
                          with --tls, over TLS with that certificate chain and key.

Script format, after Neo4j's testkit stub scripts:
  !: BOLT 5.4            protocol version to agree (the client must propose it)
  !: AUTO RESET          answer RESET with SUCCESS {} wherever it comes
  !: AUTO GOODBYE        accept GOODBYE wherever it comes (closes the connection)
  C: NAME {json}...      the next client message: its name, then each field as
                         JSON; map fields match as a subset, "*" matches anything
  S: NAME {json}...      a server message to send
  S: RECORDS N           N records [i], with i counting up from 1 across the script
  S: <EXIT>              close the connection
Lines starting with # are comments.
"""
import json
import socket
import ssl
import sys

from neo4j._codec.packstream._python._common import Structure
from neo4j._codec.packstream._common import PackableBuffer, UnpackableBuffer
from neo4j._codec.packstream.v1 import Packer, Unpacker

TAGS = {"HELLO": 0x01, "GOODBYE": 0x02, "RESET": 0x0F, "RUN": 0x10, "BEGIN": 0x11, "COMMIT": 0x12,
        "ROLLBACK": 0x13, "DISCARD": 0x2F, "PULL": 0x3F, "TELEMETRY": 0x54, "ROUTE": 0x66, "LOGON": 0x6A, "LOGOFF": 0x6B,
        "SUCCESS": 0x70, "RECORD": 0x71, "IGNORED": 0x7E, "FAILURE": 0x7F}
NAMES = {v: k for k, v in TAGS.items()}


def fail(msg):
    print(f"PEER FAILURE: {msg}", file=sys.stderr, flush=True)
    sys.exit(3)


def parse_fields(text):
    dec = json.JSONDecoder()
    out, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        v, i = dec.raw_decode(text, i)
        out.append(v)
    return out


def matches(expected, actual):
    if expected == "*":
        return True
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(matches(e, a) for e, a in zip(expected, actual))
    return expected == actual


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_message(self):
        body = b""
        while True:
            h = self.recv_exact(2)
            if h is None:
                return None
            size = int.from_bytes(h, "big")
            if size == 0:
                if body:
                    break
                continue
            body += self.recv_exact(size)
        value = Unpacker(UnpackableBuffer(body)).unpack()
        return NAMES.get(value.tag[0], hex(value.tag[0])), list(value.fields)

    def send(self, name, fields):
        buf = PackableBuffer()
        Packer(buf).pack(Structure(bytes([TAGS[name]]), *fields))
        data = bytes(buf.data)
        out = b""
        for i in range(0, len(data), 65535):
            part = data[i:i + 65535]
            out += len(part).to_bytes(2, "big") + part
        self.sock.sendall(out + b"\x00\x00")


def main(path, tls=None):
    lines = [l.rstrip("\n") for l in open(path, encoding="utf-8")]
    lines = [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]
    version, auto = (5, 4), set()
    script = []
    for l in lines:
        if l.startswith("!:"):
            words = l[2:].split()
            if words[0] == "BOLT":
                major, minor = words[1].split(".")
                version = (int(major), int(minor))
            elif words[0] == "AUTO":
                auto.add(words[1])
        else:
            script.append(l)

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(60)
    print(srv.getsockname()[1], flush=True)
    sock, _ = srv.accept()
    sock.settimeout(60)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls[0], tls[1])
        try:
            sock = context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            fail(f"TLS handshake failed: {e}")
    conn = Conn(sock)

    hs = conn.recv_exact(20)
    if hs is None or hs[:4] != b"\x60\x60\xb0\x17":
        fail(f"bad handshake preamble {hs!r}")
    offered = False
    for i in range(4):
        p = hs[4 + 4 * i: 8 + 4 * i]
        major, minor, rng = p[3], p[2], p[1]
        if major == version[0] and minor - rng <= version[1] <= minor:
            offered = True
    if not offered:
        sock.sendall(b"\x00\x00\x00\x00")
        fail(f"client did not propose Bolt {version}: {hs[4:].hex()}")
    sock.sendall(bytes([0, 0, version[1], version[0]]))

    counter = 0
    i = 0
    while i < len(script):
        line = script[i]
        kind, _, rest = line.partition(":")
        rest = rest.strip()
        if kind == "C":
            msg = conn.read_message()
            if msg is None:
                fail(f"client closed the connection; expected {line}")
            name, fields = msg
            if name == "RESET" and "RESET" in auto and not rest.startswith("RESET"):
                conn.send("SUCCESS", [{}])
                continue
            if name == "GOODBYE" and "GOODBYE" in auto and not rest.startswith("GOODBYE"):
                sys.exit(0 if all(not s.startswith("C:") for s in script[i:]) else fail(f"GOODBYE before {line}"))
            exp_name, _, exp_fields = rest.partition(" ")
            if name != exp_name:
                fail(f"expected {line}, got {name} {fields}")
            expected = parse_fields(exp_fields)
            for k, e in enumerate(expected):
                if k >= len(fields) or not matches(e, fields[k]):
                    fail(f"expected {line}, got {name} {fields}")
            i += 1
        elif kind == "S":
            if rest == "<EXIT>":
                sock.close()
                sys.exit(0)
            name, _, fields_text = rest.partition(" ")
            if name == "RECORDS":
                for _ in range(int(fields_text)):
                    counter += 1
                    conn.send("RECORD", [[counter]])
            else:
                conn.send(name, parse_fields(fields_text))
            i += 1
        else:
            fail(f"bad script line {line}")
    # The script is done: allow a trailing RESET/GOODBYE, then the client closes.
    while True:
        msg = conn.read_message()
        if msg is None or msg[0] == "GOODBYE":
            sys.exit(0)
        if msg[0] == "RESET" and "RESET" in auto:
            conn.send("SUCCESS", [{}])
            continue
        fail(f"unexpected {msg[0]} after the end of the script")


if __name__ == "__main__":
    args = sys.argv[1:]
    tls = None
    if "--tls" in args:
        i = args.index("--tls")
        tls = (args[i + 1], args[i + 2])
        del args[i:i + 3]
    main(args[0], tls)
