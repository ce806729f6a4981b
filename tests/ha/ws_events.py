"""A websocket event client in the VAPIX form (as Kane610's newer `axis` releases and
VMS drivers use it): token from wssession.cgi, events:configure, then events:notify.

Usage: ws_events.py HOST PORT USER PASSWORD TOPIC_FILTER SECONDS
Prints the configure reply and every notification as JSON lines until SECONDS pass.
"""

import json
import sys
import time

import httpx
from websockets.sync.client import connect


def main(host: str, port: str, user: str, password: str, topic: str, seconds: float) -> None:
    token = httpx.get(f"http://{host}:{port}/axis-cgi/wssession.cgi", auth=httpx.DigestAuth(user, password)).text.strip()
    assert token.isdigit(), token
    with connect(f"ws://{host}:{port}/vapix/ws-data-stream?sources=events&wssession={token}") as ws:
        ws.send(json.dumps({"apiVersion": "1.0", "context": "netamp-test", "method": "events:configure",
                            "params": {"eventFilterList": [{"topicFilter": topic}]}}))
        print(ws.recv(), flush=True)
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                print(ws.recv(timeout=left), flush=True)
            except TimeoutError:
                break


if __name__ == "__main__":
    main(*sys.argv[1:6], float(sys.argv[6]))
