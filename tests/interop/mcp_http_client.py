"""The official MCP Python SDK's Streamable HTTP client (and httpx, for what the
SDK does not show) against `mcp_server --http`: revision 2025-11-25 with
`Mcp-Session-Id` sessions, and the stateless revision 2026-07-28.

Usage: mcp_http_client.py PATH_TO_MCP_SERVER

Starts `mcp_server --http 127.0.0.1:0`, reads the address from its first line, and
prints "ok" when every check passed.
"""

import json
import subprocess
import sys
import warnings

import anyio
import httpx
from mcp import Client

MODERN = "2026-07-28"
JSON_AND_EVENTS = "application/json, text/event-stream"


def text_of(result):
    assert not result.is_error, f"tool call failed: {result}"
    return result.content[0].text


async def tools(client):
    listed = await client.list_tools()
    names = sorted(tool.name for tool in listed.tools)
    assert names == ["add", "count", "echo"], names
    for tool in listed.tools:
        assert tool.input_schema["type"] == "object", tool
    assert text_of(await client.call_tool("add", {"a": 2, "b": 40})) == "42"
    assert text_of(await client.call_tool("echo", {"text": "héllo \"mcp\""})) == "héllo \"mcp\""
    missing = await client.call_tool("no_such_tool", {})
    assert missing.is_error, missing
    # Progress comes as events of the call's event stream, before its result; with
    # a pause, the first events come long before the result is ready.
    for pause_ms in (0, 50):
        seen = []

        async def on_progress(progress, total, message):
            seen.append((progress, total))

        result = await client.call_tool("count", {"to": 4, "pause_ms": pause_ms},
                                        progress_callback=on_progress)
        assert text_of(result) == "counted to 4", result
        assert seen == [(n, 4) for n in range(1, 5)], seen


async def sdk(url):
    # 2025-11-25: initialize, a session, notifications/initialized (202), DELETE
    # at the end.
    async with Client(url, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25", client.protocol_version
        assert client.server_info.name == "rpc-mcp-example", client.server_info
        with warnings.catch_warnings():
            # ping is gone from the 2026 revision; this client speaks 2025-11-25.
            warnings.simplefilter("ignore")
            await client.send_ping()
        await tools(client)
    # The default: server/discover finds the stateless revision, then plain POSTs
    # with the routing headers and the envelope in params._meta.
    async with Client(url) as client:
        assert client.protocol_version == MODERN, client.protocol_version
        await tools(client)
    async with Client(url, mode=MODERN) as client:
        await tools(client)


def modern(method, params=None, id=1, **headers):
    params = dict(params or {})
    params["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    message = {"jsonrpc": "2.0", "method": method, "params": params}
    if id is not None:
        message["id"] = id
    sent = {"Accept": JSON_AND_EVENTS, "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return message, sent


def raw(url):
    with httpx.Client(timeout=10) as http:
        post = lambda body, headers: http.post(url, json=body, headers=headers)

        # Stateless requests, and what their headers must agree with.
        body, headers = modern("tools/call", {"name": "echo", "arguments": {"text": "hi"}}, Mcp_Name="echo")
        answer = post(body, headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["content"][0]["text"] == "hi", answer.text
        assert "mcp-session-id" not in answer.headers

        body, headers = modern("tools/call", {"name": "echo", "arguments": {"text": "hi"}}, Mcp_Name="add")
        answer = post(body, headers)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == -32020, answer.text

        body, headers = modern("tools/list", Mcp_Method="tools/call")
        answer = post(body, headers)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == -32020, answer.text

        body, headers = modern("tools/list")
        del body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]
        answer = post(body, headers)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == -32602, answer.text

        body, headers = modern("no/such/method")
        answer = post(body, headers)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == -32601, answer.text

        body, headers = modern("notifications/whatever", id=None)
        answer = post(body, headers)
        assert answer.status_code == 202 and answer.text == "", answer.text

        body, headers = modern("tools/list")
        answer = post([body], headers)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == -32600, answer.text

        body, headers = modern("tools/list")
        headers["MCP-Protocol-Version"] = "1999-01-01"
        answer = post(body, headers)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == -32022, answer.text
        assert MODERN in answer.json()["error"]["data"]["supported"], answer.text

        # Sessions of 2025-11-25.
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "httpx", "version": "0"}}}
        answer = post(init, {"Accept": JSON_AND_EVENTS})
        assert answer.status_code == 200, answer.text
        session = answer.headers["mcp-session-id"]
        assert len(session) == 32, session
        in_session = {"Accept": JSON_AND_EVENTS, "Mcp-Session-Id": session,
                      "MCP-Protocol-Version": "2025-11-25"}
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        answer = post(note, in_session)
        assert answer.status_code == 202 and answer.text == "", answer.text
        listed = post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, in_session)
        assert listed.status_code == 200 and len(listed.json()["result"]["tools"]) == 3, listed.text
        # Progress over the session: notifications/progress events, then the result.
        counted = post({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
            "name": "count", "arguments": {"to": 3}, "_meta": {"progressToken": "t1"}}}, in_session)
        assert counted.headers["content-type"] == "text/event-stream", counted.headers
        events = [json.loads(line.removeprefix("data: ")) for line in counted.text.splitlines()
                  if line.startswith("data: ")]
        assert [e.get("method") for e in events] == ["notifications/progress"] * 3 + [None], events
        assert [e["params"]["progress"] for e in events[:3]] == [1, 2, 3], events
        assert all(e["params"]["progressToken"] == "t1" for e in events[:3]), events
        assert events[3]["id"] == 5 and events[3]["result"]["content"][0]["text"] == "counted to 3", events
        # Without a token, or accepting only JSON: the result alone, as JSON.
        quiet = post({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {
            "name": "count", "arguments": {"to": 3}}}, in_session)
        assert quiet.headers["content-type"] == "application/json", quiet.headers
        json_only = dict(in_session, Accept="application/json")
        quiet = post({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "count", "arguments": {"to": 3}, "_meta": {"progressToken": 7}}}, json_only)
        assert quiet.json()["result"]["content"][0]["text"] == "counted to 3", quiet.text
        without = post({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, {"Accept": JSON_AND_EVENTS})
        assert without.status_code == 400, without.text
        get = http.get(url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": session})
        assert get.status_code == 405, get.status_code
        ended = http.delete(url, headers={"Mcp-Session-Id": session})
        assert ended.status_code == 204, ended.status_code
        gone = post({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, in_session)
        assert gone.status_code == 404, gone.text

        # Web pages from other origins, and other hosts, are refused.
        answer = post(init, {"Accept": JSON_AND_EVENTS, "Origin": "https://evil.example"})
        assert answer.status_code == 403, answer.text
        answer = post(init, {"Accept": JSON_AND_EVENTS, "Origin": "http://localhost:6274"})
        assert answer.status_code == 200, answer.text
        answer = post(init, {"Accept": JSON_AND_EVENTS, "Host": "attacker.example"})
        assert answer.status_code == 421, answer.text


def main(server):
    process = subprocess.Popen([server, "--http", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("listening on "), first
        url = f"http://{first.removeprefix('listening on ')}/mcp"
        anyio.run(sdk, url)
        raw(url)
    finally:
        process.kill()
        process.wait()
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
