#!/usr/bin/python3
"""A tiny CRI client (what the kubelet does, one call at a time), for the CRI client test.

    cri_client.py --socket SOCK --gen DIR METHOD [REQUEST_JSON]

Calls `runtime.v1.RuntimeService/METHOD` on the unix socket SOCK with the request given as
JSON (protobuf JSON mapping, field names as in api.proto), and prints the response as one
JSON object (proto field names; ExecSync's stdout/stderr as text). A gRPC error is printed
as {"error": {"code": ..., "details": ...}} with exit status 2.

The Python modules are generated from api.proto (beside this file) into DIR on first use,
with grpc_tools (Debian: python3-grpcio, python3-grpc-tools).
"""
import argparse
import importlib
import json
import os
import sys


def generated(gen_dir):
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.path.exists(os.path.join(gen_dir, "api_pb2_grpc.py")):
        from grpc_tools import protoc

        os.makedirs(gen_dir, exist_ok=True)
        rc = protoc.main(
            [
                "protoc",
                "-I" + here,
                "--python_out=" + gen_dir,
                "--grpc_python_out=" + gen_dir,
                os.path.join(here, "api.proto"),
            ]
        )
        if rc != 0:
            sys.exit("protoc failed on api.proto")
    sys.path.insert(0, gen_dir)
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--gen", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("method")
    p.add_argument("request", nargs="?", default="{}")
    a = p.parse_args()

    import grpc
    from google.protobuf import json_format

    pb, pb_grpc = generated(a.gen)
    stub = pb_grpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + a.socket))
    request = json_format.Parse(a.request, getattr(pb, a.method + "Request")())
    try:
        response = getattr(stub, a.method)(request, timeout=a.timeout)
    except grpc.RpcError as e:
        print(json.dumps({"error": {"code": str(e.code()), "details": e.details()}}))
        sys.exit(2)
    out = json_format.MessageToDict(
        response,
        preserving_proto_field_name=True,
        including_default_value_fields=True,
    )
    if a.method == "ExecSync":
        out["stdout"] = response.stdout.decode(errors="replace")
        out["stderr"] = response.stderr.decode(errors="replace")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
