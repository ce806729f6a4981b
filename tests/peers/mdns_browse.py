"""Browses mDNS/DNS-SD with python-zeroconf (the library Home Assistant discovers with)
and prints each service found as one JSON line: type, name, port, addresses, TXT.

usage: mdns_browse.py SECONDS TYPE...
MDNS_INTERFACES (comma-separated addresses) limits where it asks, as a browser on another
host of the LAN would: one that also asks on loopback gets loopback's address back.
"""
import json
import os
import sys
import time

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf


class Printer(ServiceListener):
    def __init__(self, zc):
        self.zc = zc

    def add_service(self, zc, type_, name):
        info = zc.get_service_info(type_, name, timeout=3000)
        if info is None:
            return
        print(json.dumps({
            "type": type_,
            "name": name,
            "server": info.server,
            "port": info.port,
            "addresses": info.parsed_addresses(),
            "properties": {k.decode(): (v or b"").decode() for k, v in info.properties.items()},
        }), flush=True)

    def update_service(self, zc, type_, name):
        pass

    def remove_service(self, zc, type_, name):
        pass


def main():
    seconds = float(sys.argv[1])
    interfaces = os.environ.get("MDNS_INTERFACES")
    zc = Zeroconf(interfaces=interfaces.split(",")) if interfaces else Zeroconf()
    listener = Printer(zc)
    browsers = [ServiceBrowser(zc, t, listener) for t in sys.argv[2:]]
    time.sleep(seconds)
    for b in browsers:
        b.cancel()
    zc.close()


main()
