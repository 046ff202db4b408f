"""websockets and httpx (Python clients we did not write) against `streams --http`,
with hand-written frames: a subscription's 10,000 items in order and its closing
notification, an unsubscribe that stops an endless one (true, then false for the
same id), two subscriptions interleaved on one connection; over HTTP POST, the
items as a `text/event-stream` (httpx), and a call refused without that Accept.

Usage: streams_ws_client.py PATH_TO_STREAMS

Starts `streams --http 127.0.0.1:0`, reads the address from its first line, and
prints "ok" when every check passed.
"""

import asyncio
import json
import subprocess
import sys
import urllib.request

import httpx
import websockets

TIMEOUT = 20


async def receive(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def subscribe(ws, call_id, start, count):
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": call_id,
                              "method": "subscribe_count", "params": [start, count]}))
    answer = await receive(ws)
    assert answer.get("id") == call_id and isinstance(answer.get("result"), str), answer
    return answer["result"]


async def checks(address):
    async with websockets.connect(f"ws://{address}/", max_size=None) as ws:
        # Every item, in order, then the close.
        sub = await subscribe(ws, 1, 100, 10_000)
        for n in range(100, 10_100):
            item = await receive(ws)
            assert item == {"jsonrpc": "2.0", "method": "count",
                            "params": {"subscription": sub, "result": n}}, item
        closed = await receive(ws)
        assert closed["params"] == {"subscription": sub, "closed": "ended"}, closed

        # An endless one (count 2^63): read a few, unsubscribe, and the items stop
        # (those already on the way may still come before the answer).
        endless = await subscribe(ws, 2, 0, 2 ** 63)
        for n in range(5):
            item = await receive(ws)
            assert item["params"]["result"] == n, item
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3,
                                  "method": "unsubscribe_count", "params": [endless]}))
        while True:
            message = await receive(ws)
            if "id" in message:
                assert message == {"jsonrpc": "2.0", "id": 3, "result": True}, message
                break
            assert message["params"]["subscription"] == endless, message
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 4,
                                  "method": "unsubscribe_count", "params": [endless]}))
        message = await receive(ws)
        assert message == {"jsonrpc": "2.0", "id": 4, "result": False}, message

        # Two at once on one connection: each in order, told apart by their ids
        # (each id's answer comes before its first item).
        for call_id, start in ((5, 0), (6, 1000)):
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": call_id,
                                      "method": "subscribe_count", "params": [start, 500]}))
        ids = {}
        seen = {}
        ended = set()
        while len(ended) < 2:
            message = await receive(ws)
            if "id" in message:
                ids[message["id"]] = message["result"]
                seen[message["result"]] = []
                continue
            params = message["params"]
            assert params["subscription"] in seen, message
            if "closed" in params:
                ended.add(params["subscription"])
            else:
                seen[params["subscription"]].append(params["result"])
        assert seen[ids[5]] == list(range(0, 500)), seen[ids[5]][:10]
        assert seen[ids[6]] == list(range(1000, 1500)), seen[ids[6]][:10]

    # Over HTTP POST with Accept: text/event-stream, the answer and the items are
    # events of the response.
    call = {"jsonrpc": "2.0", "id": 8, "method": "subscribe_count", "params": [40, 1000]}
    headers = {"Accept": "application/json, text/event-stream"}
    events = []
    with httpx.Client(timeout=TIMEOUT) as http:
        with http.stream("POST", f"http://{address}/", json=call, headers=headers) as response:
            assert response.status_code == 200, response
            assert response.headers["content-type"] == "text/event-stream", response.headers
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[len("data: "):]))
    assert events[0]["id"] == 8, events[0]
    sub = events[0]["result"]
    assert [e["params"]["result"] for e in events[1:-1]] == list(range(40, 1040)), events[1:4]
    assert all(e["params"]["subscription"] == sub for e in events[1:]), events[-1]
    assert events[-1]["params"] == {"subscription": sub, "closed": "ended"}, events[-1]

    # Without it, the items would have nowhere to go: a clear error.
    request = urllib.request.Request(
        f"http://{address}/",
        data=json.dumps({"jsonrpc": "2.0", "id": 7, "method": "subscribe_count",
                         "params": [0, 3]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        answer = json.loads(response.read())
    assert answer["error"]["code"] == -32601, answer
    assert "WebSocket" in answer["error"]["message"], answer


def main(binary):
    server = subprocess.Popen([binary, "--http", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline().strip()
        assert first.startswith("listening on "), first
        asyncio.run(checks(first.removeprefix("listening on ")))
        print("ok")
    finally:
        server.kill()
        server.wait(timeout=10)


if __name__ == "__main__":
    main(sys.argv[1])
