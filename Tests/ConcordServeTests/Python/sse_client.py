"""SSE clients for the concord serve tests, built on httpx + httpx-sse (an SSE client library).

  sse_client.py collect URL --until EVENT_ID [--last-event-id ID] [--stop-after N] [--timeout S]
      one client: reads until the event whose JSON id is EVENT_ID (or N events, or the timeout),
      prints {"events": [{"sse_id", "type", "id", "data"}...], "notices": [...], "ended": reason}
  sse_client.py many URL --clients C --until EVENT_ID [--timeout S]
      C clients at once on one URL, each reading until EVENT_ID; prints {"clients": [[event ids]...]}
"""
import argparse
import asyncio
import json
import sys

import httpx
from httpx_sse import aconnect_sse


async def read(client, url, until, last_event_id=None, stop_after=None, timeout=30.0):
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events, notices, ended = [], [], "timeout"
    try:
        async with asyncio.timeout(timeout):
            async with aconnect_sse(client, "GET", url, headers=headers) as source:
                source.response.raise_for_status()
                async for sse in source.aiter_sse():
                    # The server's notices (reset, end) carry no id of their own; SSE clients report the last one seen.
                    if sse.event in ("reset", "end") or not sse.id:
                        notices.append({"type": sse.event, "data": sse.data})
                        if sse.event == "end":
                            ended = "end"
                            break
                        continue
                    try:
                        eid = json.loads(sse.data).get("id")
                    except ValueError:
                        eid = None
                    events.append({"sse_id": sse.id, "type": sse.event, "id": eid, "data": sse.data})
                    if eid == until:
                        ended = "until"
                        break
                    if stop_after and len(events) >= stop_after:
                        ended = "stop-after"
                        break
            if ended == "timeout":
                ended = "closed"
    except TimeoutError:
        pass
    return {"events": events, "notices": notices, "ended": ended}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["collect", "many"])
    ap.add_argument("url")
    ap.add_argument("--until")
    ap.add_argument("--last-event-id")
    ap.add_argument("--stop-after", type=int)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    limits = httpx.Limits(max_connections=a.clients + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(a.timeout, connect=10.0), limits=limits) as client:
        if a.mode == "collect":
            out = await read(client, a.url, a.until, a.last_event_id, a.stop_after, a.timeout)
        else:
            results = await asyncio.gather(*[read(client, a.url, a.until, None, None, a.timeout) for _ in range(a.clients)])
            out = {"clients": [[e["id"] for e in r["events"]] for r in results], "ended": [r["ended"] for r in results]}
    json.dump(out, sys.stdout)


asyncio.run(main())
