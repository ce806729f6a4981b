"""Home Assistant's `axis` library lists netamp's ports and switches an output.

Usage: ha_io.py HOST PORT USER PASSWORD OUTPUT_ID
With io-port-management in API discovery the library uses portmanagement.cgi; without it,
param.cgi + port.cgi. Prints one JSON line; exits non-zero on failure.
"""

import asyncio
import json
import sys

import httpx

import axis
from axis.models.configuration import Configuration


async def main(host: str, port: int, user: str, password: str, output: str) -> None:
    async with httpx.AsyncClient(verify=False) as session:
        device = axis.AxisDevice(Configuration(session, host, port=port, username=user, password=password))
        async with asyncio.timeout(30):
            await device.vapix.initialize()
        vapix = device.vapix
        ports = vapix.ports
        via = "port_management" if vapix.io_port_management.supported else "port_cgi"
        listed = {}
        for pid, p in ports.items():
            listed[pid] = {"name": p.name, "direction": str(getattr(p, "direction", ""))}
        assert output in listed, f"output {output} not listed: {listed}"
        await ports.close(output)  # close the circuit: active for a normally-open port
        await asyncio.sleep(0.2)
        await ports.open(output)
        print(json.dumps({"via": via, "ports": listed}))


if __name__ == "__main__":
    h, p, u, pw, o = sys.argv[1:6]
    asyncio.run(main(h, int(p), u, pw, o))
