#!/usr/bin/python3
"""An independent SPIFFE Workload API server for rasign's tests.

It serves FetchX509SVID on a unix socket with grpcio, its messages
generated from the standard's workload.proto (proto/spiffe/workload/) by
grpc_tools.protoc into a private directory at start-up; nothing of rasign's
C code is used. Usage:

  spiffe-server.py --socket PATH --gen-dir DIR --record FILE
      [--svid ID,CHAIN_PEM,KEY_PEM]... [--deny N] [--deny-code CODE]
      [--rotate FILE] [--ready FILE]

--svid     one SVID: its SPIFFE ID, a PEM file whose certificates (leaf
           first, then intermediates) become x509_svid as concatenated DER,
           and its private key (any PEM openssl reads; sent as PKCS#8 DER).
           Given several times, served in that order.
--deny N   answer the first N calls with --deny-code (default
           PERMISSION_DENIED, the standard's "no identity issued yet").
--rotate   rotation on command: when FILE is written (lines of
           ID,CHAIN_PEM,KEY_PEM), those SVIDs replace the served ones and
           are pushed on every open stream, as an agent pushes a rotation.
--record   one JSON line per call (the metadata the client sent and what
           was answered), and one per rotation pushed.
--ready    written once the socket listens.

Calls without the workload.spiffe.io: true metadata are refused with
InvalidArgument, as the standard requires. After the first response the
stream stays open (as an agent's does) until the client goes away.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc


def der_of(args):
    return subprocess.run(["openssl"] + args, check=True,
                          stdout=subprocess.PIPE).stdout


def chain_der(pem_path):
    """Every certificate of a PEM file, as concatenated DER, in order."""
    text = open(pem_path).read()
    out = b""
    marker = "-----END CERTIFICATE-----"
    for block in text.split(marker)[:-1]:
        pem = block[block.index("-----BEGIN CERTIFICATE-----"):] + marker + "\n"
        out += subprocess.run(["openssl", "x509", "-outform", "DER"],
                              input=pem.encode(), check=True,
                              stdout=subprocess.PIPE).stdout
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--gen-dir", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--svid", action="append", default=[])
    ap.add_argument("--deny", type=int, default=0)
    ap.add_argument("--deny-code", default="PERMISSION_DENIED")
    ap.add_argument("--rotate")
    ap.add_argument("--ready")
    a = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    proto_dir = os.path.join(here, "..", "proto", "spiffe", "workload")
    from grpc_tools import protoc
    import grpc_tools
    inc = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    os.makedirs(a.gen_dir, exist_ok=True)
    if protoc.main(["protoc", "-I" + proto_dir, "-I" + inc,
                    "--python_out=" + a.gen_dir, "workload.proto"]) != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, a.gen_dir)
    import workload_pb2 as pb

    def load(specs):
        out = []
        for spec in specs:
            sid, chain, key = spec.split(",")
            out.append(pb.X509SVID(
                spiffe_id=sid, x509_svid=chain_der(chain),
                x509_svid_key=der_of(["pkey", "-in", key, "-outform", "DER"]),
                bundle=b""))
        return out

    lock = threading.Lock()
    state = {"calls": 0, "version": 0, "svids": load(a.svid)}

    def watch_rotate():
        seen = None
        while True:
            try:
                text = open(a.rotate).read()
            except OSError:
                text = None
            if text and text != seen and text.endswith("\n"):
                seen = text
                new = load(text.split())
                with lock:
                    state["svids"] = new
                    state["version"] += 1
                record({"rotation": state["version"],
                        "svids": [s.spiffe_id for s in new]})
            time.sleep(0.05)
    deny_code = getattr(grpc.StatusCode, a.deny_code)

    def record(entry):
        with lock, open(a.record, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def fetch(request, context):
        md = {k: v for k, v in context.invocation_metadata()}
        with lock:
            state["calls"] += 1
            n = state["calls"]
        entry = {"call": n, "metadata": md}
        if md.get("workload.spiffe.io") != "true":
            entry["answer"] = "INVALID_ARGUMENT"
            record(entry)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "security header missing from request")
        if n <= a.deny:
            entry["answer"] = a.deny_code
            record(entry)
            context.abort(deny_code, "no identity issued")
        with lock:
            svids, version = state["svids"], state["version"]
        entry["answer"] = "svids"
        entry["svids"] = [s.spiffe_id for s in svids]
        record(entry)
        yield pb.X509SVIDResponse(svids=svids)
        # An agent keeps the stream open to push rotations.
        while context.is_active():
            with lock:
                news = state["version"] != version
                svids, version = state["svids"], state["version"]
            if news:
                yield pb.X509SVIDResponse(svids=svids)
            time.sleep(0.05)

    handler = grpc.method_handlers_generic_handler("SpiffeWorkloadAPI", {
        "FetchX509SVID": grpc.unary_stream_rpc_method_handler(
            fetch, request_deserializer=pb.X509SVIDRequest.FromString,
            response_serializer=pb.X509SVIDResponse.SerializeToString),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    if server.add_insecure_port("unix:" + a.socket) == 0:
        sys.exit("cannot listen on " + a.socket)
    server.start()
    if a.rotate:
        threading.Thread(target=watch_rotate, daemon=True).start()
    if a.ready:
        with open(a.ready, "w") as f:
            f.write(str(os.getpid()))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
