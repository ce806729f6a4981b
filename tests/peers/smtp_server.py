#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for the e-mail recipient test: STARTTLS required, AUTH
required after it. Prints each message as one JSON line (from, to, tls, auth, data).
First line: {"ready": true}.

usage: smtp_server.py PORT CERT KEY USER PASSWORD
"""
import json
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, user, password = sys.argv[1:6]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                          "tls": session.ssl is not None,
                          "auth": bool(session.authenticated),
                          "data": envelope.content.decode("utf-8", "replace")}), flush=True)
        return "250 OK delivered"


def authenticate(server, session, envelope, mechanism, data):
    ok = (isinstance(data, LoginPassword) and data.login == user.encode()
          and data.password == password.encode())
    return AuthResult(success=ok)


controller = Controller(Handler(), hostname="127.0.0.1", port=int(port), tls_context=ctx,
                        require_starttls=True, authenticator=authenticate, auth_required=True)
controller.start()
print(json.dumps({"ready": True}), flush=True)
threading.Event().wait()
