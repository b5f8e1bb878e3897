"""A FHIR server stand-in that answers every POST at once, so export drain rate measures the worker.

    python -m bench.receiver PORT

It reads each request whole (Content-Length), answers 200 with a small transaction-response
Bundle, and counts requests (GET /_count). It keeps nothing and validates nothing.
"""

import asyncio
import sys

RESPONSE_BODY = b'{"resourceType":"Bundle","type":"transaction-response","entry":[]}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: "
    + str(len(RESPONSE_BODY)).encode()
    + b"\r\n\r\n"
    + RESPONSE_BODY
)


class Receiver(asyncio.Protocol):
    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            if head.startswith(b"GET /_count"):
                body = str(Receiver.count).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                Receiver.count += 1
                self.transport.write(RESPONSE)


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
