#!/usr/bin/python3
"""JSON checks for the shell tests (hsm-tests/lib.sh).

The shell harness stays plain sh; parsing JSON and DER there would be
fragile, so the few checks that need it live here. Standard library only,
so that Debian's /usr/bin/python3 is enough. Every failure is printed as one
line to stderr and the exit status is 1.

  check.py success  --stdout F --records F --cert C [...]   see cmd_success
  check.py debug    --stdout F --stderr F --records F
  check.py get      FILE INDEX PATH      a field of record INDEX (-1 = last)
  check.py field    FILE KEY             a top-level field of a JSON object file
  check.py serial   CERT                 the certificate serial in decimal
"""

import argparse
import base64
import json
import re
import sys
import urllib.parse

errors = []


def err(msg):
    errors.append(msg)


def finish():
    for e in errors:
        print(e, file=sys.stderr)
    sys.exit(1 if errors else 0)


def read_records(path):
    recs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except ValueError as e:
                err("record line %d is not JSON: %s" % (n, e))
    return recs


def cert_der(path):
    """DER bytes of the first certificate in a PEM or DER file."""
    data = open(path, "rb").read()
    m = re.search(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----",
                  data, re.S)
    if m:
        return base64.b64decode(b"".join(m.group(1).split()))
    return data


def der_tlv(buf, pos):
    """(tag, content start, content end) of the DER element at pos."""
    tag = buf[pos]
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + length


def cert_serial(der):
    """Serial number of a DER certificate, as a Python int."""
    _, p, _ = der_tlv(der, 0)          # Certificate SEQUENCE
    _, p, _ = der_tlv(der, p)          # TBSCertificate SEQUENCE
    tag, s, e = der_tlv(der, p)
    if tag == 0xA0:                    # [0] EXPLICIT version
        tag, s, e = der_tlv(der, e)
    if tag != 0x02:
        raise ValueError("no serial INTEGER in certificate")
    return int.from_bytes(der[s:e], "big", signed=True)


def field(obj, path):
    """obj[a][b]... for a dotted path; list indexes are numbers."""
    for part in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)]
        else:
            obj = obj[part]
    return obj


def body_text(rec):
    body = rec.get("body")
    if isinstance(body, (dict, list)):
        return json.dumps(body, separators=(",", ":"))
    return body


CP_RE = re.compile(r'\{"Version":1,"AccessKeyId":"([^"\\]+)","SecretAccessKey":"([^"\\]+)",'
                   r'"SessionToken":"([^"\\]+)","Expiration":"([^"\\]+)"\}')
AUTH_RE = re.compile(r"(AWS4-X509-(RSA|ECDSA)-SHA256) Credential=(\d+)/(\d{8})/([^/]+)/"
                     r"rolesanywhere/aws4_request, SignedHeaders=([a-z0-9;-]+), "
                     r"Signature=([0-9a-f]+)")


def check_stdout(path):
    """The credential_process JSON, byte-exact shape; returns the object."""
    raw = open(path, "rb").read()
    text = raw.decode("utf-8", "replace")
    if not CP_RE.fullmatch(text):
        err("stdout is not exactly the credential_process JSON (no trailing newline): %r"
            % text[:300])
        try:
            return json.loads(text)
        except ValueError:
            return None
    return json.loads(text)


def cmd_success(a):
    out = check_stdout(a.stdout)
    recs = read_records(a.records)
    if a.requests is not None and len(recs) != a.requests:
        err("expected %d request(s) at the endpoint, saw %d (statuses %s)"
            % (a.requests, len(recs), [r.get("status") for r in recs]))
    ok = [r for r in recs if isinstance(r.get("status"), int) and 200 <= r["status"] < 300]
    if not ok:
        err("no successful request recorded (statuses %s)" % [r.get("status") for r in recs])
        return
    rec = ok[-1]
    if out is not None and out.get("AccessKeyId") != rec.get("access_key_id"):
        err("AccessKeyId %r differs from the endpoint's access_key_id %r"
            % (out.get("AccessKeyId"), rec.get("access_key_id")))
    check_request(rec, a)


def check_request(rec, a):
    """The request the endpoint saw, against spec §2.3-2.4."""
    if rec.get("method") != "POST":
        err("method %r, want POST" % rec.get("method"))
    if rec.get("path") != "/sessions":
        err("path %r, want /sessions" % rec.get("path"))
    want_q = {"profileArn": a.profile_arn, "roleArn": a.role_arn,
              "trustAnchorArn": a.trust_anchor_arn}
    q = rec.get("query")
    if isinstance(q, dict):
        if q != want_q:
            err("query %r, want %r" % (q, want_q))
    else:
        want = "&".join("%s=%s" % (k, urllib.parse.quote(v, safe="-_.~"))
                        for k, v in sorted(want_q.items()))
        if q != want:
            err("query %r, want %r" % (q, want))
    if a.body is not None and body_text(rec) != a.body:
        err("body %r, want %r" % (body_text(rec), a.body))

    h = rec.get("headers") or {}
    if h.get("content-type") != "application/json":
        err("content-type %r" % h.get("content-type"))
    if a.host and h.get("host") != a.host:
        err("host %r, want %r" % (h.get("host"), a.host))
    date = h.get("x-amz-date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", date):
        err("x-amz-date %r" % date)
    der = cert_der(a.cert)
    if h.get("x-amz-x509") != base64.b64encode(der).decode():
        err("x-amz-x509 is not the base64 DER of %s" % a.cert)

    chain = h.get("x-amz-x509-chain")
    if a.no_chain and chain is not None:
        err("x-amz-x509-chain sent but no chain was expected: %.60s..." % chain)
    if a.chain and chain != ",".join(base64.b64encode(cert_der(c)).decode() for c in a.chain):
        err("x-amz-x509-chain is not exactly %s" % " ".join(a.chain))
    for c in a.chain_contains or []:
        if chain is None or base64.b64encode(cert_der(c)).decode() not in chain.split(","):
            err("x-amz-x509-chain does not carry %s" % c)

    auth = h.get("authorization", "")
    m = AUTH_RE.fullmatch(auth)
    if not m:
        err("authorization header has the wrong shape: %r" % auth[:200])
        return
    alg, kind, serial, day, region, signed, _sig = m.groups()
    if a.alg and kind != a.alg:
        err("algorithm %s, want AWS4-X509-%s-SHA256" % (alg, a.alg))
    want_serial = a.serial if a.serial else str(cert_serial(der))
    if serial != want_serial:
        err("Credential serial %s, want %s (decimal)" % (serial, want_serial))
    if day != date[:8]:
        err("scope date %s differs from x-amz-date %s" % (day, date))
    if region != a.region:
        err("scope region %s, want %s" % (region, a.region))
    names = signed.split(";")
    if names != sorted(names):
        err("SignedHeaders not sorted: %s" % signed)
    need = {"content-type", "host", "x-amz-date", "x-amz-x509"}
    if chain is not None:
        need.add("x-amz-x509-chain")
    if not need <= set(names):
        err("SignedHeaders %s lacks %s" % (signed, ",".join(sorted(need - set(names)))))
    for n in names:
        if n not in h:
            err("signed header %s was not received" % n)
    if "authorization" in names:
        err("authorization is signed")


def contains_block(text, block):
    """block appears in text verbatim, or as consecutive lines that all carry
    the same log prefix (e.g. "rasign: debug: | "), which keeps each
    diagnostic line attributable without changing the request's bytes."""
    if block in text:
        return True
    want = block.split("\n")
    lines = text.split("\n")
    for start in range(len(lines) - len(want) + 1):
        first = lines[start]
        if not first.endswith(want[0]):
            continue
        prefix = first[:len(first) - len(want[0])]
        if all(lines[start + j] == prefix + w or
               (w == "" and lines[start + j] == prefix.rstrip())
               for j, w in enumerate(want)):
            return True
    return False


def cmd_debug(a):
    """--debug shows the canonical request but never the secrets."""
    out = check_stdout(a.stdout)
    stderr = open(a.stderr, encoding="utf-8", errors="replace").read()
    recs = [r for r in read_records(a.records) if r.get("canonical_request")]
    if "x-amz-date:" not in stderr:
        err("stderr lacks 'x-amz-date:'")
    if not recs:
        err("no canonical_request recorded")
    elif not contains_block(stderr, recs[-1]["canonical_request"]):
        err("stderr does not contain the canonical request the endpoint computed")
    if out:
        for k in ("SecretAccessKey", "SessionToken"):
            if out.get(k) and out[k] in stderr:
                err("stderr leaks the %s" % k)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("success")
    s.add_argument("--stdout", required=True)
    s.add_argument("--records", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--alg", choices=["RSA", "ECDSA"])
    s.add_argument("--chain", action="append", help="exact chain, in order")
    s.add_argument("--chain-contains", action="append")
    s.add_argument("--no-chain", action="store_true")
    s.add_argument("--body")
    s.add_argument("--region", default="us-east-1")
    s.add_argument("--host")
    s.add_argument("--serial")
    s.add_argument("--requests", type=int)
    s.add_argument("--trust-anchor-arn", required=True)
    s.add_argument("--profile-arn", required=True)
    s.add_argument("--role-arn", required=True)
    d = sub.add_parser("debug")
    d.add_argument("--stdout", required=True)
    d.add_argument("--stderr", required=True)
    d.add_argument("--records", required=True)
    g = sub.add_parser("get")
    g.add_argument("file")
    g.add_argument("index", type=int)
    g.add_argument("path")
    f = sub.add_parser("field")
    f.add_argument("file")
    f.add_argument("key")
    c = sub.add_parser("serial")
    c.add_argument("cert")
    a = p.parse_args()

    if a.cmd == "success":
        cmd_success(a)
    elif a.cmd == "debug":
        cmd_debug(a)
    elif a.cmd == "get":
        recs = read_records(a.file)
        try:
            v = field(recs[a.index], a.path)
            print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
        except (IndexError, KeyError, ValueError, TypeError):
            err("no %s in record %d of %s" % (a.path, a.index, a.file))
    elif a.cmd == "field":
        try:
            v = json.load(open(a.file, encoding="utf-8"))[a.key]
            print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
        except (ValueError, KeyError, TypeError) as e:
            err("no field %s in %s: %s" % (a.key, a.file, e))
    elif a.cmd == "serial":
        print(cert_serial(cert_der(a.cert)))
    finish()


if __name__ == "__main__":
    main()
