#!/usr/bin/env python3
"""A tiny fake of the WhatsApp Cloud (Graph) API for the webhook bench (standard library only).

    fake_graph.py <port_file> [count_file]

Listens on 127.0.0.1 (a free port, written to <port_file> once listening), keeps connections
alive, and answers every request 200 {"messaging_product":"whatsapp","messages":[{"id":"wamid.fakeN"}]}.
It does not look at the path or the body beyond reading it. On SIGTERM it writes the number of
requests answered to [count_file] and exits. asyncio with a minimal HTTP/1.1 parser, so one core
can answer several thousand requests per second.
"""
import asyncio
import signal
import socket
import sys

count = 0


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global count
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            count += 1
            body = b'{"messaging_product":"whatsapp","messages":[{"id":"wamid.fake%d"}]}' % count
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main() -> None:
    port_file = sys.argv[1]
    count_file = sys.argv[2] if len(sys.argv) > 2 else None
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=sock, backlog=1024)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    import os
    os.replace(port_file + ".tmp", port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    if count_file:
        with open(count_file, "w") as f:
            f.write(f"{count}\n")


if __name__ == "__main__":
    asyncio.run(main())
