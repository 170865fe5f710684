#!/usr/bin/env python3
"""py-libp2p interop peer (requires `pip install libp2p==0.8.1`, trio based).

The host is restricted to the stack our implementation speaks:
TCP + multistream-select 1.0 + Noise (/noise, XX_25519_ChaChaPoly_SHA256)
+ Yamux (/yamux/1.0.0), with identify (/ipfs/id/1.0.0) and ping
(/ipfs/ping/1.0.0) from py-libp2p's defaults plus a streaming echo protocol.

  p2p_peer.py listen [--port 0] [--key-type ed25519|secp256k1|rsa]
      First stdout line: /ip4/127.0.0.1/tcp/PORT/p2p/<peer id>; serves forever.
  p2p_peer.py dial MULTIADDR [--pings 100] [--payload-mib 10] [--timeout 120]
      Runs identify, N pings and an N MiB echo; prints JSON lines to stdout and
      exits 0 only if everything matched.

--key-type rsa makes a 2048-bit RSA identity (libp2p.crypto.rsa, PKCS#1 v1.5
over SHA-256, peer id Qm...), kubo's default. ECDSA is not offered: py-libp2p
0.8.1 cannot deserialize ECDSA public keys, so its Noise can neither verify an
ECDSA peer nor be one.

Echo framing (/openledger/echo/1.0.0): FIN based. The dialer writes the whole
payload and half-closes its write side; the listener echoes every chunk as it
arrives and closes its own write side once it has seen EOF. In py-libp2p 0.8.1,
YamuxStream.close() is already a write half-close (it sends WINDOW_UPDATE+FIN
and keeps the read side open); NetStream.close_write() calls it and moves the
stream to CLOSE_WRITE, so reading the echo after close_write() keeps working.
"""

import argparse
import hashlib
import json
import logging
import random
import secrets
import statistics
import sys
import time

import multiaddr
import trio

from libp2p import new_host
from libp2p.crypto import ed25519, rsa, secp256k1
from libp2p.crypto.serialization import deserialize_public_key
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import ID as PING_ID
from libp2p.identity.identify.identify import ID as IDENTIFY_ID
from libp2p.identity.identify.pb.identify_pb2 import Identify
from libp2p.io.utils import read_exactly
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID, Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID, Yamux
from libp2p.utils.varint import read_varint_prefixed_bytes_limited

ECHO_ID = TProtocol("/openledger/echo/1.0.0")
KEY_TYPES = {"ed25519": ed25519, "secp256k1": secp256k1, "rsa": rsa}
CHUNK = 64 * 1024
log = logging.getLogger("p2p_peer")


def make_host(key_type: str, port: int):
    """Create a host that offers only Noise for security and only Yamux for muxing.

    new_host() defaults to {noise, tls, secio, plaintext} and {yamux, mplex};
    passing explicit sec_opt / muxer_opt dicts replaces those lists entirely.
    Identify, identify-push and ping handlers are registered by BasicHost itself
    (libp2p.host.defaults.get_default_protocols).
    """
    key_pair = KEY_TYPES[key_type].create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    listen = [multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{port}")]
    host = new_host(key_pair=key_pair, sec_opt={NOISE_ID: noise},
                    muxer_opt={TProtocol(YAMUX_ID): Yamux}, listen_addrs=listen)
    return host, listen


async def echo_handler(stream) -> None:
    """Streaming echo: write back each chunk as it arrives, close after remote EOF."""
    peer = stream.muxed_conn.peer_id
    total = 0
    try:
        while True:
            try:
                chunk = await stream.read(CHUNK)
            except StreamEOF:
                break
            if not chunk:
                break
            await stream.write(chunk)
            total += len(chunk)
        await stream.close()  # sends our FIN
        log.info("echo: %d bytes echoed to %s", total, peer)
    except Exception as exc:
        log.warning("echo: failed after %d bytes from %s: %r", total, peer, exc)
        await stream.reset()


async def run_listen(args) -> None:
    host, listen = make_host(args.key_type, args.port)
    host.set_stream_handler(ECHO_ID, echo_handler)
    async with host.run(listen_addrs=listen):
        addrs = [str(a) for a in host.get_addrs() if "/ip4/127.0.0.1/" in str(a)]
        print(addrs[0], flush=True)
        log.info("listening as %s; protocols: %s", host.get_id(),
                 [str(p) for p in host.get_mux().get_protocols() if p])
        await trio.sleep_forever()


async def do_identify(host, peer_id: ID) -> dict:
    """Open /ipfs/id/1.0.0 and decode the single varint-prefixed Identify message."""
    stream = await host.new_stream(peer_id, [IDENTIFY_ID])
    raw = await read_varint_prefixed_bytes_limited(stream, 1 << 20)
    await stream.close()
    msg = Identify()
    msg.ParseFromString(raw)
    info = {
        "protocols": list(msg.protocols),
        "listen_addrs": [str(multiaddr.Multiaddr(a)) for a in msg.listen_addrs],
        "observed_addr": str(multiaddr.Multiaddr(msg.observed_addr)) if msg.observed_addr else None,
        "agent_version": msg.agent_version,
        "protocol_version": msg.protocol_version,
        "has_signed_peer_record": bool(msg.signedPeerRecord),
        "public_key_matches": bool(msg.public_key)
        and ID.from_pubkey(deserialize_public_key(msg.public_key)) == peer_id,
        "public_key_type": deserialize_public_key(msg.public_key).get_type().name if msg.public_key else None,
    }
    return info


async def do_pings(host, peer_id: ID, count: int) -> list[float]:
    """Ping `count` times on one stream; RTTs in ms (float, unlike PingService's int ms)."""
    stream = await host.new_stream(peer_id, [PING_ID])
    rtts = []
    for _ in range(count):
        payload = secrets.token_bytes(32)
        start = time.perf_counter()
        await stream.write(payload)
        pong = await read_exactly(stream, 32)
        rtts.append((time.perf_counter() - start) * 1000.0)
        if pong != payload:
            raise RuntimeError("ping payload mismatch")
    await stream.close_write()
    return rtts


async def do_echo(host, peer_id: ID, payload: bytes) -> tuple[int, str]:
    """Send `payload` while concurrently reading the echo; return (bytes, sha256)."""
    stream = await host.new_stream(peer_id, [ECHO_ID])
    received = hashlib.sha256()
    count = 0

    async def writer() -> None:
        for off in range(0, len(payload), 4 * CHUNK):
            await stream.write(payload[off:off + 4 * CHUNK])
        await stream.close_write()  # FIN; read side stays open

    async def reader() -> None:
        nonlocal count
        while True:
            try:
                chunk = await stream.read(CHUNK)
            except StreamEOF:
                chunk = b""
            if not chunk:
                return
            received.update(chunk)
            count += len(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        nursery.start_soon(reader)
    await stream.close()
    return count, received.hexdigest()


def describe(exc: BaseException) -> str:
    """Flatten (possibly nested) exception groups and causes into one message."""
    if isinstance(getattr(exc, "exceptions", None), (list, tuple)):
        return "; ".join(describe(e) for e in exc.exceptions)
    msg = f"{type(exc).__name__}: {exc}"
    if exc.__cause__ is not None:
        msg += f" (caused by {describe(exc.__cause__)})"
    return msg


async def run_dial(args) -> int:
    # The dialer also listens (ephemeral port): py-libp2p's identify responder
    # stalls ~0.5 s when the host has no listen address, which would slow down
    # identify requests coming from the remote peer.
    host, listen = make_host(args.key_type, 0)
    info = info_from_p2p_addr(multiaddr.Multiaddr(args.multiaddr))
    result: dict = {"ok": False, "peer_id": str(host.get_id())}
    t0 = time.perf_counter()
    try:
        with trio.fail_after(args.timeout):
            async with host.run(listen_addrs=listen):
                await host.connect(info)
                log.info("connected to %s", info.peer_id)

                ident = await do_identify(host, info.peer_id)
                result["identify"] = ident
                print(json.dumps({"identify": ident}), flush=True)

                rtts = await do_pings(host, info.peer_id, args.pings)
                result["pings"] = len(rtts)
                result["ping_p50_ms"] = round(statistics.median(rtts), 3) if rtts else None

                payload = random.Random(7).randbytes(args.payload_mib * 1024 * 1024)  # deterministic
                result["sent_sha256"] = hashlib.sha256(payload).hexdigest()
                t_echo = time.perf_counter()
                n, digest = await do_echo(host, info.peer_id, payload)
                result["echo_s"] = round(time.perf_counter() - t_echo, 3)
                result["echo_bytes"] = n
                result["received_sha256"] = digest
                await host.disconnect(info.peer_id)
    except trio.TooSlowError:
        result["error"] = f"timed out after {args.timeout}s"
    except Exception as exc:  # report any failure as a JSON line + nonzero exit
        result["error"] = describe(exc)

    expected = args.payload_mib * 1024 * 1024
    problems = [result["error"]] if "error" in result else []
    if not problems:
        if not result["identify"]["public_key_matches"]:
            problems.append("identify public key does not match peer id")
        if result["echo_bytes"] != expected or result["sent_sha256"] != result["received_sha256"]:
            problems.append(f"echo mismatch: got {result['echo_bytes']} of {expected} bytes")
    result["ok"] = not problems
    result["elapsed_s"] = round(time.perf_counter() - t0, 3)
    print(json.dumps(result), flush=True)
    for p in problems:
        print(f"p2p_peer dial FAILED: {p}", file=sys.stderr)
    return 0 if result["ok"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--key-type", choices=sorted(KEY_TYPES), default="ed25519")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_listen = sub.add_parser("listen", parents=[common], help="serve echo/identify/ping")
    p_listen.add_argument("--port", type=int, default=0)
    p_dial = sub.add_parser("dial", parents=[common], help="identify, ping and echo a peer")
    p_dial.add_argument("multiaddr", help="e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...")
    p_dial.add_argument("--pings", type=int, default=100)
    p_dial.add_argument("--payload-mib", type=int, default=10)
    p_dial.add_argument("--timeout", type=float, default=120.0, help="overall limit (s)")
    args = parser.parse_args()

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s p2p_peer[%(process)d] %(levelname)s %(message)s")
    try:
        return trio.run(run_listen if args.cmd == "listen" else run_dial, args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
