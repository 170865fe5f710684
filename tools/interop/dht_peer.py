#!/usr/bin/env python3
"""py-libp2p 0.8.1 Kademlia DHT peer (/ipfs/kad/1.0.0) for interop tests (trio based).

  dht_peer.py serve [--bootstrap MULTIADDR]... [--provide CID]...
      A KadDHT in server mode on 127.0.0.1 (first stdout line: the full
      multiaddr). Connects to each --bootstrap peer and admits it to the
      routing table once identify lists /ipfs/kad/1.0.0, then provides each
      CID and prints {"provided": CID} for each. Serves until killed.
  dht_peer.py find-providers CID --bootstrap MULTIADDR... [--timeout S]
      A client-mode KadDHT joined through the bootstrap peers; prints one
      JSON line per provider, {"peer": <id>, "addrs": [...]}, and exits 0
      only when at least one was found.
  dht_peer.py find-peer PEERID --bootstrap MULTIADDR... [--timeout S]
      Prints {"peer": <id>, "addrs": [...]} and exits 0 when found.

CIDs are text (base32 CIDv1 or base58 CIDv0); KadDHT keys them by multihash.
"""

import argparse
import json
import logging
import sys

import multiaddr
import trio

from libp2p import new_host
from libp2p.crypto import ed25519
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID, Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID, Yamux
from libp2p.tools.anyio_service import background_trio_service

log = logging.getLogger("dht_peer")


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def make_host():
    key_pair = ed25519.create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    host = new_host(key_pair=key_pair, sec_opt={NOISE_ID: noise},
                    muxer_opt={TProtocol(YAMUX_ID): Yamux}, listen_addrs=listen)
    return host, listen


async def join(host, dht, addresses) -> None:
    """Connects to each peer and admits it to the routing table once identify has listed the protocol."""
    for address in addresses:
        info = info_from_p2p_addr(multiaddr.Multiaddr(address))
        await host.connect(info)
        with trio.move_on_after(15):
            while not await dht.add_peer(info.peer_id):
                await trio.sleep(0.1)


async def main(args) -> int:
    host, listen = make_host()
    mode = DHTMode.SERVER if args.command == "serve" else DHTMode.CLIENT
    dht = KadDHT(host, mode)
    async with host.run(listen_addrs=listen), background_trio_service(dht):
        if args.command == "serve":
            addrs = [str(a) for a in host.get_addrs() if "/ip4/127.0.0.1/" in str(a)]
            print(addrs[0], flush=True)
            await join(host, dht, args.bootstrap)
            for cid in args.provide:
                await dht.provide(cid)
                emit({"provided": cid})
            await trio.sleep_forever()
        found = False
        with trio.move_on_after(args.timeout):
            await join(host, dht, args.bootstrap)
            if args.command == "find-providers":
                for provider in await dht.find_providers(args.target, count=20):
                    emit({"peer": str(provider.peer_id), "addrs": [str(a) for a in provider.addrs]})
                    found = True
            else:
                info = await dht.find_peer(ID.from_base58(args.target))
                if info is not None and info.addrs:
                    emit({"peer": str(info.peer_id), "addrs": [str(a) for a in info.addrs]})
                    found = True
        return 0 if found else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve")
    serve.add_argument("--provide", action="append", default=[])
    for name in ("find-providers", "find-peer"):
        command = commands.add_parser(name)
        command.add_argument("target")
        command.add_argument("--timeout", type=float, default=30)
    for command in commands.choices.values():
        command.add_argument("--bootstrap", action="append", default=[])
        command.add_argument("--verbose", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.WARNING, stream=sys.stderr)
    code = 1
    try:
        code = trio.run(main, arguments)
    except SystemExit as exit:
        code = exit.code or 0
    sys.exit(code)
