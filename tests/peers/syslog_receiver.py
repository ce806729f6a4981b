#!/usr/bin/env python3
"""A syslog server for the remote syslog test: RFC 5426 over UDP and RFC 5425 over TLS
(octet-counted frames, Python's ssl). Prints each message as one JSON line
({"via": "udp"|"tls", "message": ...}). First line: {"udp": N, "tls": N}.

usage: syslog_receiver.py CERT KEY
"""
import json
import socket
import ssl
import sys
import threading

lock = threading.Lock()


def emit(via, message):
    with lock:
        print(json.dumps({"via": via, "message": message.decode("utf-8", "replace")}),
              flush=True)


def udp_loop(sock):
    while True:
        data, _ = sock.recvfrom(65536)
        emit("udp", data)


def tls_client(conn):
    buf = b""
    with conn:
        while True:
            try:
                chunk = conn.recv(65536)
            except (ssl.SSLError, OSError):
                return
            if not chunk:
                return
            buf += chunk
            # RFC 5425 §4.3: MSG-LEN SP SYSLOG-MSG, repeated.
            while b" " in buf:
                head, rest = buf.split(b" ", 1)
                if not head.isdigit():
                    emit("tls-bad-frame", buf)
                    return
                n = int(head)
                if len(rest) < n:
                    break
                emit("tls", rest[:n])
                buf = rest[n:]


def tls_loop(listener, ctx):
    while True:
        raw, _ = listener.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            continue
        threading.Thread(target=tls_client, args=(conn,), daemon=True).start()


udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", 0))
tcp.listen(8)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
threading.Thread(target=udp_loop, args=(udp,), daemon=True).start()
print(json.dumps({"udp": udp.getsockname()[1], "tls": tcp.getsockname()[1]}), flush=True)
tls_loop(tcp, ctx)
