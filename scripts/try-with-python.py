#!/usr/bin/env python3
"""Tries a running server with Python's `websockets`, a client nobody here wrote.

    pip install websockets
    cargo run -p ws-mpsc-writer &          # any variant, on 127.0.0.1:3000
    python3 scripts/try-with-python.py ws://127.0.0.1:3000

Checks echo (text, binary, 1 MiB), ping/pong, a room with two members, a bad
room name (HTTP 400) and the close handshake. Exits non-zero on the first
thing that is wrong.
"""
import asyncio
import sys

import websockets


async def main(base: str) -> None:
    async with websockets.connect(f"{base}/ws/echo", max_size=None) as ws:
        for message in ["hello", "héllo 🦀", b"\x00\x01\xff", bytes(range(256)) * 4096]:
            await ws.send(message)
            reply = await asyncio.wait_for(ws.recv(), 5)
            assert reply == message, f"echo differs for a {type(message).__name__} of {len(message)}"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        print("echo: text, binary, 1 MiB and ping/pong ok")

    async with websockets.connect(f"{base}/ws/room/python") as a, websockets.connect(
        f"{base}/ws/room/python"
    ) as b:
        await asyncio.sleep(0.2)  # both joined
        await a.send("from a")
        assert await asyncio.wait_for(a.recv(), 5) == "from a", "a hears itself"
        assert await asyncio.wait_for(b.recv(), 5) == "from a", "b hears a"
        print("room: both members receive, the sender included")
        await a.close(code=1000, reason="done")
        assert a.close_code == 1000, f"close handshake: the server answered {a.close_code}"
        print("close handshake: answered with 1000")

    try:
        async with websockets.connect(f"{base}/ws/room/not%20valid"):
            raise AssertionError("a bad room name was accepted")
    except websockets.exceptions.InvalidStatus as refused:
        assert refused.response.status_code == 400, refused.response.status_code
        print(f"bad room name: HTTP 400 ({refused.response.body.decode().strip()})")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:3000"))
