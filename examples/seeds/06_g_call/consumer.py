# Seed 003, the g.call example.
import logging
from daffi import Global, FG

logging.basicConfig(level=logging.INFO)

if __name__ == '__main__':

    g = Global(host="localhost", port=8888)

    result = g.call.my_awersome_func(a="foo", b="bar") & FG
    print(f"Result = {result}")

    g.join()
