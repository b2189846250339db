# Seed 003, "Example", consumer.py with args_from_body=True (marked complete).
import logging
from typing import Tuple
from daffi import Global, FG, fetcher

logging.basicConfig(level=logging.INFO)


@fetcher(exec_modifier=FG, args_from_body=True) # (1)
def sum_of_two_numbers(multiplier: int) -> Tuple[int, int]:
    arg1 = 5 * multiplier
    arg2 = 10 * multiplier
    return arg1, arg2


if __name__ == '__main__':

    g = Global(host="localhost", port=8888)

    result = sum_of_two_numbers(multiplier=2)
    print(f"Result = {result}")

    g.join()
