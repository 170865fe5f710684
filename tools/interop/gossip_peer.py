#!/usr/bin/env python3
"""py-libp2p 0.8.1 GossipSub peer for interop tests (trio based).

  gossip_peer.py --topic T [--connect MULTIADDR]... [--protocols 1.2|1.1]
                 [--key-type ed25519|secp256k1|rsa]
      Listens on 127.0.0.1 (first stdout line: the full multiaddr), connects to
      each --connect peer, subscribes to T with GossipSub (heartbeat 1 s,
      StrictSign, spam protection off), then prints one JSON line per message
      received on T: {"from": <peer id>, "seqno": <decimal>, "data": <text>}.
      When the mesh holds every --connect peer it prints {"ready": true,
      "protocols": {<peer id>: <negotiated protocol>}}. With --key-type rsa the
      identity is RSA-2048 (kubo's default): its peer id hashes the key, so its
      messages carry the key in their `key` field.
      Commands on standard input, one per line:
        publish TEXT         publish TEXT on T
        burst N PREFIX RATE  publish PREFIX0 .. PREFIX(N-1) at RATE per second
        quit                 exit 0
"""

import argparse
import json
import logging
import sys

import multiaddr
import trio

from libp2p import new_host
from libp2p.crypto import ed25519, rsa, secp256k1
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID, Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID, Yamux
from libp2p.tools.anyio_service import background_trio_service

log = logging.getLogger("gossip_peer")
KEY_TYPES = {"ed25519": ed25519, "secp256k1": secp256k1, "rsa": rsa}


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(args) -> None:
    key_pair = KEY_TYPES[args.key_type].create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    host = new_host(key_pair=key_pair, sec_opt={NOISE_ID: noise},
                    muxer_opt={TProtocol(YAMUX_ID): Yamux}, listen_addrs=listen)
    protocols = [PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID] if args.protocols == "1.2" \
        else [PROTOCOL_ID_V11, PROTOCOL_ID]
    router = GossipSub(protocols=protocols, degree=6, degree_low=4, degree_high=12,
                       heartbeat_interval=1, spam_protection_enabled=False)
    pubsub = Pubsub(host, router, strict_signing=True)
    async with host.run(listen_addrs=listen), background_trio_service(pubsub), \
            background_trio_service(router):
        await pubsub.wait_until_ready()
        addrs = [str(a) for a in host.get_addrs() if "/ip4/127.0.0.1/" in str(a)]
        print(addrs[0], flush=True)
        subscription = await pubsub.subscribe(args.topic)
        peers = []
        for address in args.connect:
            info = info_from_p2p_addr(multiaddr.Multiaddr(address))
            await host.connect(info)
            peers.append(info.peer_id)

        async def receive() -> None:
            while True:
                message = await subscription.get()
                emit({"from": str(ID(message.from_id)), "seqno": str(int.from_bytes(message.seqno, "big")),
                      "data": message.data.decode("utf-8", "replace")})

        async def ready() -> None:
            for peer in peers:
                await pubsub.wait_for_peer(peer, 60)
                await pubsub.wait_for_subscription(peer, args.topic, 60)
                await pubsub.wait_for_mesh(peer, args.topic, 60)
            negotiated = {}
            for peer in peers:
                negotiated[str(peer)] = str(router.peer_protocol.get(peer, ""))
            emit({"ready": True, "protocols": negotiated})

        async def commands() -> None:
            stdin = trio.wrap_file(sys.stdin)
            while True:
                line = await stdin.readline()
                if not line:
                    await trio.sleep_forever()
                words = line.rstrip("\n").split(" ")
                if words[0] == "publish":
                    await pubsub.publish(args.topic, " ".join(words[1:]).encode())
                elif words[0] == "burst":
                    count, prefix, rate = int(words[1]), words[2], float(words[3])
                    for index in range(count):
                        await pubsub.publish(args.topic, f"{prefix}{index}".encode())
                        await trio.sleep(1.0 / rate)
                    emit({"published": count})
                elif words[0] == "quit":
                    raise SystemExit(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            nursery.start_soon(ready)
            nursery.start_soon(commands)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--protocols", choices=["1.2", "1.1"], default="1.2")
    parser.add_argument("--key-type", choices=sorted(KEY_TYPES), default="ed25519")
    parser.add_argument("--verbose", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.WARNING, stream=sys.stderr)
    try:
        trio.run(main, arguments)
    except SystemExit:
        pass
