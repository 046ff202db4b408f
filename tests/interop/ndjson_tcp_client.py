"""jsonrpcclient (a Python JSON-RPC client library) over newline-delimited TCP
against spec_server.

Usage: ndjson_tcp_client.py PATH_TO_SPEC_SERVER

Starts `spec_server --tcp 127.0.0.1:0`, reads the address from its first line, and
sends requests, notifications and a batch built by jsonrpcclient, one JSON text per
line, parsing the answers with jsonrpcclient. Prints "ok" when every check passed.
"""

import json
import socket
import subprocess
import sys

from jsonrpcclient import Error, Ok, notification_json, parse_json, request_json

TIMEOUT = 10


def main():
    server = subprocess.Popen(
        [sys.argv[1], "--tcp", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = server.stdout.readline().strip()
        assert first.startswith("listening on "), first
        host, port = first[len("listening on "):].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            lines = sock.makefile("rwb")

            def exchange(text):
                lines.write(text.encode() + b"\n")
                lines.flush()
                return parse_json(lines.readline().decode())

            answer = exchange(request_json("subtract", params=(42, 23)))
            assert isinstance(answer, Ok) and answer.result == 19, answer
            answer = exchange(request_json("subtract", params={"minuend": 42, "subtrahend": 23}))
            assert isinstance(answer, Ok) and answer.result == 19, answer
            answer = exchange(request_json("get_data"))
            assert isinstance(answer, Ok) and answer.result == ["hello", 5], answer
            # A notification is not answered: the next line belongs to the next call.
            lines.write(notification_json("notify_hello", params=[7]).encode() + b"\n")
            answer = exchange(request_json("sum", params=[1, 2, 4]))
            assert isinstance(answer, Ok) and answer.result == 7, answer
            answer = exchange(request_json("foobar"))
            assert isinstance(answer, Error) and answer.code == -32601, answer
            # A batch as the library builds its elements; answers matched by id.
            batch = [
                json.loads(request_json("sum", params=[1, 2, 4])),
                json.loads(notification_json("notify_hello", params=[7])),
                json.loads(request_json("subtract", params=[42, 23])),
                json.loads(request_json("get_data")),
            ]
            answers = exchange(json.dumps(batch))
            by_id = {a.id: a for a in answers}
            assert len(by_id) == 3, answers
            assert by_id[batch[0]["id"]].result == 7
            assert by_id[batch[2]["id"]].result == 19
            assert by_id[batch[3]["id"]].result == ["hello", 5]
            # Invalid JSON: a parse error with id null, and the connection goes on.
            answer = exchange('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')
            assert isinstance(answer, Error) and answer.code == -32700, answer
            answer = exchange(request_json("subtract", params=(1, 1)))
            assert isinstance(answer, Ok) and answer.result == 0, answer
    finally:
        server.kill()
        server.wait(timeout=TIMEOUT)
    print("ok")


if __name__ == "__main__":
    main()
