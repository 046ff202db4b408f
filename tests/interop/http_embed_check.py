"""Runs the http_embed example once and checks it with httpx: the application's own
route, a JSON-RPC call on /rpc with its CORS header, a browser's preflight, and an
origin the layer does not allow.

Usage: python3 tests/interop/http_embed_check.py target/debug/examples/http_embed
(.ci/run builds the example with `--features embed` and runs this).
"""

import subprocess
import sys

import httpx


def main(binary: str) -> None:
    server = subprocess.Popen(
        [binary, "127.0.0.1:0"], stdout=subprocess.PIPE, text=True
    )
    try:
        first = server.stdout.readline().strip()
        assert first.startswith("listening on "), first
        base = "http://" + first.removeprefix("listening on ")
        with httpx.Client(base_url=base, timeout=10) as http:
            page = http.get("/")
            assert page.status_code == 200 and "own page" in page.text, page.text

            origin = {"origin": "https://app.example"}
            call = http.post(
                "/rpc",
                json={"jsonrpc": "2.0", "id": 1, "method": "add", "params": [2, 3]},
                headers=origin,
            )
            assert call.status_code == 200, call
            assert call.json() == {"jsonrpc": "2.0", "id": 1, "result": 5}, call.text
            assert (
                call.headers["access-control-allow-origin"] == "https://app.example"
            ), call.headers

            error = http.post(
                "/rpc",
                json={"jsonrpc": "2.0", "id": 2, "method": "divide", "params": [1, 0]},
            )
            assert error.status_code == 200, error
            assert error.json()["error"]["code"] == -32602, error.text

            preflight = http.options(
                "/rpc",
                headers={
                    **origin,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "content-type",
                },
            )
            assert preflight.status_code == 200, preflight
            assert "post" in preflight.headers["access-control-allow-methods"].lower()

            other = http.post(
                "/rpc",
                json={"jsonrpc": "2.0", "id": 3, "method": "add", "params": [1, 1]},
                headers={"origin": "https://elsewhere.example"},
            )
            # CORS leaves the refusal to the browser: the allowed origin is named,
            # and it is not this one.
            allowed = other.headers.get("access-control-allow-origin")
            assert allowed != "https://elsewhere.example", other.headers
        print("http_embed: route, call, error, preflight and CORS checked")
    finally:
        server.kill()
        server.wait(timeout=10)


if __name__ == "__main__":
    main(sys.argv[1])
