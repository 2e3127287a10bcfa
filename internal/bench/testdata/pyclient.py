"""A streaming client in Python for the CPU benchmark (BenchmarkClientCPUPython).

It does per chunk what the Python bench_serving client does, as
shared/reference/bench-serving.md describes it: asyncio with aiohttp,
a semaphore of `streams`, one POST per request to /v1/completions with
stream true and include_usage, every SSE line stripped of "data: ",
parsed with json.loads, and timed with perf_counter (TTFT at the first
chunk with choices, then one ITL a chunk). It shares one session (the
kinder choice for Python: no new connection per request). It prints the
CPU it used (getrusage of this process) and the chunks it read, as JSON.

usage: pyclient.py BASE_URL MODEL STREAMS REQUESTS OUTPUT_LEN
"""

import asyncio
import json
import resource
import sys
import time

import aiohttp


async def one(session, url, body, out):
    start = time.perf_counter()
    last = start
    ttft = 0.0
    itls = []
    chunks = 0
    async with session.post(url, json=body) as resp:
        if resp.status != 200:
            out["failed"] += 1
            return
        async for raw in resp.content:
            line = raw.strip()
            if not line:
                continue
            text = line.decode("utf-8")
            if text.startswith("data: "):
                text = text[len("data: "):]
            if text == "[DONE]":
                break
            data = json.loads(text)
            if data.get("choices"):
                now = time.perf_counter()
                if ttft == 0.0:
                    ttft = now - start
                else:
                    itls.append(now - last)
                last = now
                chunks += 1
    out["chunks"] += chunks
    out["ttfts"].append(ttft)
    out["itls"].extend(itls)


async def main():
    base, model = sys.argv[1], sys.argv[2]
    streams, requests, out_len = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    url = base.rstrip("/") + "/v1/completions"
    body = {
        "model": model,
        "prompt": "hello " * 32,
        "max_tokens": out_len,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }
    out = {"chunks": 0, "failed": 0, "ttfts": [], "itls": []}
    sem = asyncio.Semaphore(streams)
    timeout = aiohttp.ClientTimeout(total=None)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def limited():
            async with sem:
                await one(session, url, body, out)

        r0 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(*(limited() for _ in range(requests)))
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    itls = sorted(out["itls"])
    ttfts = sorted(out["ttfts"])
    print(json.dumps({
        "chunks": out["chunks"],
        "failed": out["failed"],
        "cpu_s": cpu,
        "median_ttft_ms": 1000 * ttfts[len(ttfts) // 2] if ttfts else 0,
        "median_itl_ms": 1000 * itls[len(itls) // 2] if itls else 0,
    }))


asyncio.run(main())
