#!/usr/bin/env python3
"""py-libp2p 0.8.1 Bitswap peer (libp2p.bitswap: BitswapClient, MemoryBlockStore, MerkleDag) for interop tests.

  bitswap_peer.py serve [--file PATH]... [--lie]
      Listens on 127.0.0.1 (first stdout line: the full multiaddr), adds each
      file with MerkleDag.add_file (256 KiB chunks) and prints {"cid": CID,
      "path": PATH} for each, then serves over Bitswap until killed. With --lie
      every stored block's bytes are replaced by wrong ones after the add: the
      peer then serves bytes that do not hash to the CIDs asked for.
  bitswap_peer.py fetch CID --peer MULTIADDR --out PATH [--timeout S]
      Connects to the peer, fetches the whole file with MerkleDag.fetch_file,
      writes it to PATH and prints {"bytes": N, "sha256": HEX}; exit 0 on success.
"""

import argparse
import hashlib
import json
import logging
import sys

import multiaddr
import trio

from libp2p import new_host
from libp2p.bitswap.block_store import MemoryBlockStore
from libp2p.bitswap.client import BitswapClient
from libp2p.bitswap.dag import MerkleDag
from libp2p.crypto import ed25519
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID, Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID, Yamux

CHUNK = 262_144


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cid_text(cid) -> str:
    from libp2p.bitswap.cid import format_cid_for_display

    try:
        return format_cid_for_display(cid)
    except Exception:
        return cid.hex() if isinstance(cid, bytes) else str(cid)


async def main(args) -> int:
    key_pair = ed25519.create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    host = new_host(key_pair=key_pair, sec_opt={NOISE_ID: noise},
                    muxer_opt={TProtocol(YAMUX_ID): Yamux}, listen_addrs=listen)
    store = MemoryBlockStore()
    async with host.run(listen_addrs=listen), trio.open_nursery() as nursery:
        bitswap = BitswapClient(host, block_store=store)
        bitswap.set_nursery(nursery)
        await bitswap.start()
        dag = MerkleDag(bitswap)
        if args.command == "serve":
            addrs = [str(a) for a in host.get_addrs() if "/ip4/127.0.0.1/" in str(a)]
            print(addrs[0], flush=True)
            for path in args.file:
                root = await dag.add_file(path, chunk_size=CHUNK)
                emit({"cid": cid_text(root), "path": path})
            if args.lie:
                for cid in list(store.get_all_cids()):
                    data = await store.get_block(cid)
                    await store.put_block(cid, bytes(b ^ 0xFF for b in data[:64]) + data[64:])
                emit({"lying": True})
            await trio.sleep_forever()
        info = info_from_p2p_addr(multiaddr.Multiaddr(args.peer))
        await host.connect(info)
        code = 1
        with trio.move_on_after(args.timeout):
            data, _ = await dag.fetch_file(args.cid, peer_id=info.peer_id, timeout=args.timeout)
            with open(args.out, "wb") as handle:
                handle.write(data)
            emit({"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
            code = 0
        await bitswap.stop()
        nursery.cancel_scope.cancel()
        return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve")
    serve.add_argument("--file", action="append", default=[])
    serve.add_argument("--lie", action="store_true")
    fetch = commands.add_parser("fetch")
    fetch.add_argument("cid")
    fetch.add_argument("--peer", required=True)
    fetch.add_argument("--out", required=True)
    fetch.add_argument("--timeout", type=float, default=60)
    for command in commands.choices.values():
        command.add_argument("--verbose", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.WARNING, stream=sys.stderr)
    code = 1
    try:
        code = trio.run(main, arguments)
    except SystemExit as exit:
        code = exit.code or 0
    sys.exit(code)
