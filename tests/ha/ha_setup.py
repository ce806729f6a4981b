"""Home Assistant's `axis` library sets up netamp the way HA's config flow and hub do.

Usage: ha_setup.py HOST PORT USER PASSWORD EXPECTED_SERIAL [http|https]
(https as HA's verify_ssl=False option: the device's self-signed certificate is taken.)
Prints one JSON line with what the library learned; exits non-zero on any failure.
"""

import asyncio
import json
import sys

import httpx

import axis
from axis.models.configuration import Configuration


async def main(host: str, port: int, user: str, password: str, serial: str, proto: str) -> None:
    async with httpx.AsyncClient(verify=False) as session:
        device = axis.AxisDevice(Configuration(
            session, host, port=port, username=user, password=password,
            web_proto=proto, verify_ssl=False,
        ))
        # HA's hub: get_axis_api() → vapix.initialize(), then users and groups.
        async with asyncio.timeout(30):
            await device.vapix.initialize()
            await device.vapix.initialize_users()
            await device.vapix.load_user_groups()
        vapix = device.vapix
        assert vapix.api_discovery.initialized, "API discovery did not load"
        assert vapix.basic_device_info.supported, "basic-device-info not listed"
        assert vapix.basic_device_info.initialized, "basic device info did not load"
        assert vapix.params.property_handler.initialized, "Properties parameters did not load"
        assert vapix.serial_number == serial, f"serial {vapix.serial_number!r} != {serial!r}"
        assert vapix.firmware_version, "no firmware version"
        assert vapix.product_number, "no product number"
        assert vapix.product_type, "no product type"
        props = vapix.params.property_handler["0"]
        assert props.api_http_version == 3, props.api_http_version
        assert user in vapix.users, f"{user} not in pwdgrp users"
        rights = str(vapix.access_rights)
        print(json.dumps({
            "serial": vapix.serial_number,
            "firmware": vapix.firmware_version,
            "product_number": vapix.product_number,
            "product_type": vapix.product_type,
            "api_ids": sorted(str(k) for k in vapix.api_discovery.keys()),
            "access_rights": rights,
            "users": sorted(vapix.users.keys()),
        }))


if __name__ == "__main__":
    h, p, u, pw, s = sys.argv[1:6]
    asyncio.run(main(h, int(p), u, pw, s, sys.argv[6] if len(sys.argv) > 6 else "http"))
