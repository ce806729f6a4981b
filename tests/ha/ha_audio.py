"""Transmits a clip the way Home Assistant's `axis` library does (newer releases'
`TransmitAudioRequest`, which axis 60 on PyPI does not have yet): httpx, Digest,
`Content-Type: audio/axis-mulaw-128`, the whole clip in one body with its length, a 5 s
read timeout that is swallowed because the device may answer only when playback ends.
Also reads the `Audio` parameters its `AudioParam` model needs.

usage: ha_audio.py HOST PORT USER PASSWORD BODY_FILE
prints one JSON line: status, the Audio parameters seen."""

import asyncio
import json
import sys

import httpx


async def main() -> None:
    host, port, user, password, body_file = sys.argv[1:6]
    base = f"http://{host}:{port}"
    auth = httpx.DigestAuth(user, password)
    audio = open(body_file, "rb").read()
    async with httpx.AsyncClient(auth=auth) as client:
        params = await client.post(
            f"{base}/axis-cgi/param.cgi",
            data={"action": "list", "group": "root.Audio,root.Properties.Audio"},
        )
        status = None
        try:
            r = await client.post(
                f"{base}/axis-cgi/audio/transmit.cgi",
                content=audio,
                headers={"Content-Type": "audio/axis-mulaw-128"},
                timeout=httpx.Timeout(10, read=5),
            )
            status = r.status_code
        except httpx.ReadTimeout:
            status = "read-timeout"
    seen = dict(
        line.split("=", 1) for line in params.text.splitlines() if "=" in line
    )
    print(json.dumps({"status": status, "params": seen}))


asyncio.run(main())
