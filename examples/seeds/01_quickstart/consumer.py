# Seed 003, "Example", consumer.py (marked complete).
import logging
from daffi import Global, FG, fetcher, __body_unknown__

logging.basicConfig(level=logging.INFO)


@fetcher(exec_modifier=FG) # (1)
def sum_of_two_numbers(a: int, b: int) -> int:
    __body_unknown__(a, b)


if __name__ == '__main__':

    g = Global(host="localhost", port=8888) # (2)

    result = sum_of_two_numbers(5, 15) # (3)
    print(f"Result = {result}")

    g.join()
