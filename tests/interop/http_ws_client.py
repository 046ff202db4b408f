"""httpx and websockets (Python clients we did not write) against
`spec_server --http`: every example of the JSON-RPC 2.0 specification over HTTP
POST and over WebSocket on the same port and path, notifications, batches, and the
HTTP status codes and limits.

Usage: http_ws_client.py PATH_TO_SPEC_SERVER

Starts `spec_server --http 127.0.0.1:0`, reads the address from its first line, and
prints "ok" when every check passed.
"""

import asyncio
import json
import subprocess
import sys

import httpx
import websockets

TIMEOUT = 10

# The specification's examples (section 7): a request and the answer it gets, or
# None for what gets no answer.
EXAMPLES = [
    ({"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1},
     {"jsonrpc": "2.0", "result": 19, "id": 1}),
    ({"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2},
     {"jsonrpc": "2.0", "result": -19, "id": 2}),
    ({"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3},
     {"jsonrpc": "2.0", "result": 19, "id": 3}),
    ({"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4},
     {"jsonrpc": "2.0", "result": 19, "id": 4}),
    ({"jsonrpc": "2.0", "method": "update", "params": [1, 2, 3, 4, 5]}, None),
    ({"jsonrpc": "2.0", "method": "foobar"}, None),
    ({"jsonrpc": "2.0", "method": "foobar", "id": "1"},
     {"jsonrpc": "2.0", "error": {"code": -32601}, "id": "1"}),
    ({"jsonrpc": "2.0", "method": 1, "params": "bar"},
     {"jsonrpc": "2.0", "error": {"code": -32600}, "id": None}),
    ([], {"jsonrpc": "2.0", "error": {"code": -32600}, "id": None}),
]

BATCH = [
    {"jsonrpc": "2.0", "method": "sum", "params": [1, 2, 4], "id": "1"},
    {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
    {"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": "2"},
    {"foo": "boo"},
    {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
    {"jsonrpc": "2.0", "method": "get_data", "id": "9"},
]


def matches(answer, expected):
    """The answer has what the spec shows (an error's message is free text)."""
    if isinstance(expected, dict):
        return isinstance(answer, dict) and all(
            k in answer and matches(answer[k], v) for k, v in expected.items()
        )
    return answer == expected


def check_batch(answers):
    by_id = {a["id"]: a for a in answers}
    assert len(answers) == 5, answers
    assert by_id["1"]["result"] == 7, answers
    assert by_id["2"]["result"] == 19, answers
    assert by_id["5"]["error"]["code"] == -32601, answers
    assert by_id["9"]["result"] == ["hello", 5], answers
    assert by_id[None]["error"]["code"] == -32600, answers


def over_http(base):
    with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
        def post(body, **kw):
            return http.post("/", content=json.dumps(body), headers={"content-type": "application/json"}, **kw)

        for request, expected in EXAMPLES:
            response = post(request)
            if expected is None:
                assert response.status_code == 202 and response.content == b"", (request, response)
            else:
                assert response.status_code == 200, (request, response)
                assert response.headers["content-type"] == "application/json", response.headers
                assert matches(response.json(), expected), (request, response.json())
        # Invalid JSON is answered -32700, still with 200.
        response = http.post("/", content=b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
                             headers={"content-type": "application/json"})
        assert response.status_code == 200 and response.json()["error"]["code"] == -32700, response.text
        check_batch(post(BATCH).json())
        # A batch of notifications: nothing to answer.
        response = post([{"jsonrpc": "2.0", "method": "notify_sum", "params": [1, 2, 4]},
                         {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}])
        assert response.status_code == 202 and response.content == b"", response
        # HTTP/1.1 keep-alive: the same client made all of these on pooled connections.

        # The status codes.
        response = http.get("/")
        assert response.status_code == 405 and response.headers["allow"] == "POST", response
        response = http.post("/", content=b"{}", headers={"content-type": "text/plain"})
        assert response.status_code == 415, response
        response = http.post("/", content=b" " * (2 << 20), headers={"content-type": "application/json"})
        assert response.status_code == 413, response
        assert response.json()["error"]["code"] == -32600, response.text
        response = http.get("/health")
        assert response.status_code == 200 and response.text == "ok", response
        response = http.post("/nowhere", content=b"{}", headers={"content-type": "application/json"})
        assert response.status_code == 404, response


async def over_websocket(url):
    async with websockets.connect(url, open_timeout=TIMEOUT) as ws:
        async def exchange(body):
            await ws.send(json.dumps(body))
            return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))

        for request, expected in EXAMPLES:
            if expected is None:
                # Not answered: the next message belongs to the next request.
                await ws.send(json.dumps(request))
                continue
            answer = await exchange(request)
            assert matches(answer, expected), (request, answer)
        check_batch(await exchange(BATCH))
        # Pipelined: several requests sent before any answer is read, each answered.
        for i in range(10):
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "sum", "params": [i, 1], "id": i}))
        answers = [json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) for _ in range(10)]
        assert sorted(a["result"] for a in answers) == [i + 1 for i in range(10)], answers


def main():
    server = subprocess.Popen([sys.argv[1], "--http", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline().strip()
        assert first.startswith("listening on "), first
        addr = first[len("listening on "):]
        over_http(f"http://{addr}")
        asyncio.run(over_websocket(f"ws://{addr}/"))
        print("ok")
    finally:
        server.kill()
        server.wait(timeout=TIMEOUT)


if __name__ == "__main__":
    main()
