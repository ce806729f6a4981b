"""Home Assistant's `axis` library receives netamp's events the way HA's hub does
(RTSP metadata stream; axis 60 has no websocket client).

Usage: ha_events.py HOST HTTP_PORT USER PASSWORD SECONDS [STOP_PORT]
Prints `playing` once the stream runs, then one JSON line per event, until SECONDS pass
or an IO/Port change of STOP_PORT arrives.
"""

import asyncio
import json
import logging
import os
import sys

import httpx

import axis
from axis.models.configuration import Configuration
from axis.rtsp import Signal


async def main(host: str, port: int, user: str, password: str, seconds: float, stop: str | None) -> None:
    async with httpx.AsyncClient(verify=False) as session:
        device = axis.AxisDevice(Configuration(session, host, port=port, username=user, password=password))
        events: asyncio.Queue = asyncio.Queue()
        playing = asyncio.Event()
        device.enable_events()
        device.event.subscribe(events.put_nowait)
        device.stream.connection_status_callback.append(lambda s: playing.set() if s == Signal.PLAYING else None)
        device.stream.start()
        await asyncio.wait_for(playing.wait(), 10)
        print("playing", flush=True)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                ev = await asyncio.wait_for(events.get(), left)
            except TimeoutError:
                break
            print(json.dumps({"topic": ev.topic, "id": ev.id, "state": ev.state,
                              "tripped": ev.is_tripped, "operation": str(ev.operation)}), flush=True)
            if stop is not None and ev.topic == "tns1:Device/tnsaxis:IO/Port" and ev.id == stop \
                    and str(ev.operation) == "Changed":
                break
        device.stream.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG if os.environ.get("NETAMP_DEBUG") else logging.WARNING)
    h, p, u, pw, s = sys.argv[1:6]
    asyncio.run(main(h, int(p), u, pw, float(s), sys.argv[6] if len(sys.argv) > 6 else None))
