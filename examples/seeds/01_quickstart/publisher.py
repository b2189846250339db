# Seed 003, "Example", publisher.py (marked complete).
import logging
from daffi import Global, callback

logging.basicConfig(level=logging.INFO)


@callback # (1)
def sum_of_two_numbers(a: int, b: int) -> int:
    return a + b


if __name__ == '__main__':
    
    g = Global(host="localhost", port=8888, init_controller=True) # (2)
    g.join() # (3)
