"""python-lsp-jsonrpc (the JSON-RPC layer of python-lsp-server) against spec_server.

Usage: lsp_jsonrpc_client.py PATH_TO_SPEC_SERVER

Starts the server over stdio with Content-Length framing, as an LSP client would, and
drives it with the library's own stream reader/writer and Endpoint: string (uuid) ids,
positional and named params, notifications, errors. Prints "ok" when every check
passed; any failure raises.
"""

import subprocess
import sys
import threading

from pylsp_jsonrpc.endpoint import Endpoint
from pylsp_jsonrpc.exceptions import JsonRpcException
from pylsp_jsonrpc.streams import JsonRpcStreamReader, JsonRpcStreamWriter

TIMEOUT = 10


def expect_error(future, code):
    try:
        future.result(timeout=TIMEOUT)
    except JsonRpcException as err:
        assert err.code == code, f"expected {code}, got {err.code}: {err.message}"
        return err
    raise AssertionError(f"expected error {code}")


def main():
    server = subprocess.Popen(
        [sys.argv[1], "--framing", "content-length"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    writer = JsonRpcStreamWriter(server.stdin)
    reader = JsonRpcStreamReader(server.stdout)
    # The server sends us no requests: an empty dispatcher.
    endpoint = Endpoint({}, writer.write)
    listener = threading.Thread(target=reader.listen, args=(endpoint.consume,), daemon=True)
    listener.start()
    try:
        assert endpoint.request("subtract", [42, 23]).result(timeout=TIMEOUT) == 19
        assert endpoint.request("subtract", [23, 42]).result(timeout=TIMEOUT) == -19
        named = endpoint.request("subtract", {"subtrahend": 23, "minuend": 42})
        assert named.result(timeout=TIMEOUT) == 19
        assert endpoint.request("sum", [1, 2, 4]).result(timeout=TIMEOUT) == 7
        assert endpoint.request("get_data").result(timeout=TIMEOUT) == ["hello", 5]
        # Notifications get no answer; the next call is still answered.
        endpoint.notify("update", [1, 2, 3, 4, 5])
        endpoint.notify("notify_hello", [7])
        # Many calls in flight at once, answered in any order, matched by id.
        futures = [endpoint.request("subtract", [n, 1]) for n in range(200)]
        assert [f.result(timeout=TIMEOUT) for f in futures] == [n - 1 for n in range(200)]
        expect_error(endpoint.request("foobar"), -32601)
        expect_error(endpoint.request("subtract", ["a", "b"]), -32602)
        # A 64 KiB frame full of escapes is read whole and answered (wrong type: -32602).
        text = 'a "quoted" line\n' * 4096
        err = expect_error(endpoint.request("subtract", [text, 1]), -32602)
        assert "minuend" in err.message or "invalid" in err.message.lower(), err.message
        assert endpoint.request("subtract", [3, 1]).result(timeout=TIMEOUT) == 2
    finally:
        server.stdin.close()
        server.wait(timeout=TIMEOUT)
    assert server.returncode == 0, f"server exited with {server.returncode}"
    print("ok")


if __name__ == "__main__":
    main()
