"""Streams items to every node that registered `collect` (STREAM), then asks what they got.

python sender.py --receivers 2 [--port 8888]
"""

import argparse
import logging
import os

from daffi import BROADCAST, STREAM, Global, __body_unknown__, fetcher

logging.basicConfig(level=logging.INFO)

SENTENCE = "the quick brown fox jumps over the lazy dog"


def parse_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict]:
    """Add the connection options and return (arguments, keyword arguments for Global).

    --port (or DAFFI_PORT) selects TCP on --host (DAFFI_HOST, default localhost);
    otherwise --unix-sock-path (DAFFI_UNIX_SOCK_PATH) or the default UNIX socket is used.
    """
    parser.add_argument("--host", default=os.environ.get("DAFFI_HOST", "localhost"))
    parser.add_argument("--port", type=int, default=os.environ.get("DAFFI_PORT"))
    parser.add_argument("--unix-sock-path", default=os.environ.get("DAFFI_UNIX_SOCK_PATH"))
    args = parser.parse_args()
    if args.port:
        return args, {"host": args.host, "port": args.port}
    if args.unix_sock_path:
        return args, {"unix_sock_path": args.unix_sock_path}
    return args, {}


@fetcher(STREAM)
def collect(word: str, position: int) -> None:
    __body_unknown__(word, position)


@fetcher(BROADCAST)
def received_words() -> str:
    __body_unknown__()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receivers", type=int, default=2, help="wait for receiver-1 .. receiver-N")
    args, connection = parse_args(parser)

    with Global(process_name="sender", **connection) as g:
        for i in range(1, args.receivers + 1):
            g.wait_process(f"receiver-{i}", timeout=30)

        words = SENTENCE.split()
        # Each tuple is unpacked into (word, position); a generator works as well as a list.
        collect((word, position) for position, word in enumerate(words))
        print(f"streamed {len(words)} items", flush=True)

        # STREAM returns once every receiver has processed every item.
        for name, text in sorted(received_words().items()):
            print(f"{name} has: {text}", flush=True)
