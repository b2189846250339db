# Counterpart the seed leaves out: registers my_awersome_func for "Another fetcher syntax examples" and the g.call example.
import logging
from daffi import Global, callback

logging.basicConfig(level=logging.INFO)


@callback
def my_awersome_func(a: str, b: str) -> str:
    print(f"my_awersome_func called with a={a!r}, b={b!r}", flush=True)
    return a + b


if __name__ == '__main__':

    g = Global(host="localhost", port=8888, init_controller=True, process_name="awersome_publisher")
    g.join()
