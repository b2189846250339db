"""A unit test of consumer.py's caller code: no controller, no publisher, typed by the stubs.

pytest examples/testing_callers/test_consumer.py   (and mypy --strict checks it)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from daffi.testing import fake_nodes  # noqa: E402

from examples.testing_callers.consumer import code_under_test  # noqa: E402
from stubs.publisher import sum_of_two_numbers  # noqa: E402


def test_code_under_test() -> None:
    with fake_nodes() as nodes:
        nodes.add("publisher").serve(sum_of_two_numbers, lambda a, b: a + b)  # mypy checks the lambda
        assert code_under_test() == 20
        assert nodes["publisher"].calls(sum_of_two_numbers) == [((5, 15), {})]
