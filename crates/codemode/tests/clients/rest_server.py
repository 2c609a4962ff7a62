"""The REST API that rest_api.yaml describes, for codemode's OpenAPI tests: it checks the
credentials each secured operation needs, says back what arrived (the path still encoded),
fails, redirects, and answers large, textual and binary bodies. GET /_seen lists every request
it had (method, raw path, headers), so a test can tell what was sent and what never was.

Usage: python rest_server.py. Prints {"port": N} once listening on 127.0.0.1, then serves
until killed.
"""

import base64
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BEARER = "t0ken-b"
HEADER_KEY = "k3y-h"
QUERY_KEY = "k3y-q"
COOKIE_KEY = "k3y-c"
BASIC = ("ada", "pa55")
CLIENT = ("client-1", "s3cret")
MACHINE_TOKEN = "t0ken-cc"

seen = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=None, media="application/json", headers=()):
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", media)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def cookies(self):
        jar = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            if "=" in part:
                name, value = part.strip().split("=", 1)
                jar[name] = urllib.parse.unquote(value)
        return jar

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        raw = self.path
        path, _, query = raw.partition("?")
        args = urllib.parse.parse_qs(query)
        body = self.read_body()
        if path != "/_seen":
            seen.append({"method": self.command, "path": raw, "headers": dict(self.headers.items())})
        auth = self.headers.get("Authorization") or ""
        secured = {
            "/secure/bearer": auth == f"Bearer {BEARER}",
            "/secure/header-key": self.headers.get("X-Api-Key") == HEADER_KEY,
            "/secure/query-key": args.get("api_key") == [QUERY_KEY],
            "/secure/cookie-key": self.cookies().get("session") == COOKIE_KEY,
            "/secure/basic": auth
            == "Basic " + base64.b64encode(":".join(BASIC).encode()).decode(),
            "/secure/machine": auth == f"Bearer {MACHINE_TOKEN}",
        }
        if path == "/_seen":
            return self.answer(200, seen)
        if path in secured:
            if not secured[path]:
                return self.answer(401, {"message": "bad credentials"})
            return self.answer(200, {"ok": True, "scheme": path.rsplit("/", 1)[1]})
        if path == "/token" and self.command == "POST":
            form = urllib.parse.parse_qs(body.decode())
            client = "Basic " + base64.b64encode(":".join(CLIENT).encode()).decode()
            if auth != client or form.get("grant_type") != ["client_credentials"]:
                return self.answer(401, {"error": "invalid_client"})
            return self.answer(
                200, {"access_token": MACHINE_TOKEN, "token_type": "Bearer", "expires_in": 3600}
            )
        if path.startswith("/echo/"):
            return self.answer(
                200,
                {
                    "method": self.command,
                    "path": path,
                    "query": query,
                    "note": self.headers.get("X-Note"),
                    "session": self.cookies().get("session"),
                },
            )
        if path == "/items" and self.command == "POST":
            item = json.loads(body or b"null")
            if self.headers.get("Content-Type") != "application/json":
                return self.answer(415, {"message": "JSON only"})
            return self.answer(201, {"id": 7, **item})
        if path.startswith("/items/"):
            if self.command == "DELETE":
                return self.answer(204)
            return self.answer(404, {"message": f"no item {path.rsplit('/', 1)[1]}"})
        if path == "/form":
            form = urllib.parse.parse_qs(body.decode())
            return self.answer(200, {k: v[0] for k, v in form.items()})
        if path == "/redirect/inside":
            return self.answer(302, headers=[("Location", "/echo/landed")])
        if path == "/redirect/outside":
            port = self.server.server_address[1]
            return self.answer(302, headers=[("Location", f"http://localhost:{port}/echo/away")])
        if path == "/redirect/loop":
            return self.answer(302, headers=[("Location", "/redirect/loop")])
        if path == "/big":
            size = int(args.get("bytes", ["0"])[0])
            return self.answer(200, json.dumps("x" * size).encode())
        if path == "/text":
            return self.answer(200, b"hello, plainly", media="text/plain; charset=utf-8")
        if path == "/image":
            return self.answer(200, b"\x89PNG\r\n\x1a\n" + bytes(92), media="image/png")
        return self.answer(404, {"message": f"nothing at {path}"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
server.serve_forever()
