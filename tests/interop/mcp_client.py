"""Drives the `mcp_server` example with the official MCP Python SDK client.

Usage: python3 mcp_client.py PATH_TO_MCP_SERVER
Prints "ok" and exits 0 when every check passes.
"""

import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def text_of(result):
    assert not result.is_error, f"tool call failed: {result}"
    return result.content[0].text


async def progress(session):
    """`count` reports notifications/progress for the call's progressToken, each
    before the result, in order."""
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    result = await session.call_tool("count", {"to": 5}, progress_callback=on_progress)
    assert text_of(result) == "counted to 5", result
    assert seen == [(n, 5, f"counted {n} of 5") for n in range(1, 6)], seen


async def main(server):
    params = StdioServerParameters(command=server, args=[])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.server_info.name, init

            await session.send_ping()

            listed = await session.list_tools()
            names = sorted(tool.name for tool in listed.tools)
            assert names == ["add", "count", "echo"], names
            for tool in listed.tools:
                assert tool.input_schema["type"] == "object", tool
            # Derived from the arguments' types: required fields, bounds, descriptions.
            schemas = {tool.name: tool.input_schema for tool in listed.tools}
            assert schemas["add"]["required"] == ["a", "b"], schemas["add"]
            assert schemas["count"]["required"] == ["to"], schemas["count"]
            assert schemas["count"]["properties"]["to"]["maximum"] == 10000, schemas["count"]
            assert "$ref" not in str(schemas), schemas

            assert text_of(await session.call_tool("add", {"a": 2, "b": 40})) == "42"
            assert text_of(await session.call_tool("echo", {"text": "héllo \"mcp\""})) == "héllo \"mcp\""

            missing = await session.call_tool("no_such_tool", {})
            assert missing.is_error, missing

            await progress(session)
    print("ok")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
