"""A small closed-loop HTTP/1.1 load generator for loopback benchmarks (asyncio, raw sockets).

``concurrency`` clients each send a GET, read the whole answer, and send the next one, for
``seconds`` seconds (and never more than ``max_requests`` in all): the rate measured is what the
server sustains, not what we offered. Raw streams rather than an HTTP library because the
generator shares the machine's two cores with the server under test and must cost little
(about 30 µs of CPU a request). Keep-alive is used when the server keeps the connection open;
gunicorn's sync workers close it after every answer, so the client reconnects then.

Only loopback addresses are accepted: this is for measuring a server we started ourselves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time

from support.stats import pct

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"


async def _read_response(
    reader: asyncio.StreamReader, jar: dict, out: dict | None = None
) -> tuple[int, bool, int]:
    """(status, keep_alive, body_bytes); cookies the server sets go into ``jar``; the values of
    an ``X-Apiary-Cache`` header (hit / miss) are counted in ``out["cache"]``."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close, chunked = None, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and "close" in value.lower():
            close = True
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "x-apiary-cache" and out is not None:
            tag = value.strip()
            out["cache"][tag] = out["cache"].get(tag, 0) + 1
        elif name == "set-cookie":
            cookie, _, _attrs = value.strip().partition(";")
            key, _, val = cookie.partition("=")
            if val and "expires=Thu, 01 Jan 1970" not in _attrs:
                jar[key.strip()] = val.strip()
            else:
                jar.pop(key.strip(), None)
    size = 0
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            await reader.readexactly(n + 2)
            size += n
            if n == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
        size = length
    else:
        size = len(await reader.read())
        close = True
    return status, not close, size


async def _client(host, port, pick, deadline, budget, out, headers: str) -> None:
    """One visitor: keeps its cookies (a browser's visit cookie, as the activity log expects)."""
    reader = writer = None
    jar: dict = {}
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        path = pick()
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            cookies = "; ".join(f"{k}={v}" for k, v in jar.items())
            cookie_line = f"Cookie: {cookies}\r\n" if cookies else ""
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}{cookie_line}"
                "Connection: keep-alive\r\n\r\n".encode()
            )
            await writer.drain()
            status, keep, size = await _read_response(reader, jar, out)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            out["errors"] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        out["latencies"].append((time.perf_counter() - started) * 1000)
        out["status"][status] = out["status"].get(status, 0) + 1
        out["bytes"] += size
        if not keep:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run(
    *,
    host: str,
    port: int,
    paths: list[str],
    seconds: float,
    concurrency: int = 16,
    max_requests: int = 1_000_000,
    zipf: float = 1.0,
    seed: int = 5,
    headers: dict | None = None,
    order: str = "zipf",
) -> dict:
    """Load ``paths`` (picked Zipf-weighted: the first ones most often, as real traffic favours
    a few hot topics; ``order="cycle"``: each in turn, to visit every address once) and return
    requests, rps, latency percentiles and status counts."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError("the load generator only targets loopback addresses")
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) ** zipf for i in range(len(paths))]
    cum, total = [], 0.0
    for x in weights:
        total += x
        cum.append(total)
    import bisect

    turn = [0]

    def pick() -> str:
        if order == "cycle":
            turn[0] += 1
            return paths[(turn[0] - 1) % len(paths)]
        return paths[min(len(paths) - 1, bisect.bisect(cum, rng.random() * total))]

    # A browser's User-Agent: the activity log ignores scripts and bots (and so would skip the
    # visit and view writes a real visitor causes).
    headers = {"User-Agent": BROWSER, "Accept": "text/html", **(headers or {})}
    header_text = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    out: dict = {"latencies": [], "status": {}, "errors": 0, "bytes": 0, "cache": {}}

    async def main() -> float:
        begin = time.perf_counter()
        deadline = begin + seconds
        budget = [max_requests]
        await asyncio.gather(
            *(
                _client(host, port, pick, deadline, budget, out, header_text)
                for _ in range(concurrency)
            )
        )
        return time.perf_counter() - begin

    elapsed = asyncio.run(main())
    lat = out["latencies"]
    ok = sum(n for s, n in out["status"].items() if 200 <= s < 300)
    return {
        "requests": len(lat),
        "ok": ok,
        "errors": out["errors"],
        "status": {str(k): v for k, v in sorted(out["status"].items())},
        "cache": dict(sorted(out["cache"].items())),
        "elapsed_s": round(elapsed, 2),
        "rps": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": pct(lat, 0.50),
        "p95_ms": pct(lat, 0.95),
        "p99_ms": pct(lat, 0.99),
        "max_ms": round(max(lat), 1) if lat else None,
        "mean_kb": round(out["bytes"] / len(lat) / 1024, 1) if lat else None,
        "concurrency": concurrency,
        "distinct_paths": len(paths),
    }
