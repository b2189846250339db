"""Code that calls another node through the generated stubs: what test_consumer.py tests.

python consumer.py [--port 8888]   (with publisher.py running)
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from daffi import Global  # noqa: E402

from examples.connection import parse_args  # noqa: E402
from stubs.publisher import sum_of_two_numbers  # noqa: E402


def code_under_test() -> int:
    """The caller's logic: one remote call."""
    return sum_of_two_numbers(5, 15)


if __name__ == "__main__":
    _, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    with Global(process_name="consumer", **connection) as g:
        g.wait_process("publisher", timeout=10)
        print(f"Result = {code_under_test()}")
