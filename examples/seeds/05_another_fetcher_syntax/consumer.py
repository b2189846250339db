# Seed 003, "Another fetcher syntax examples".
import logging
from daffi import Global, fetcher, __body_unknown__, FG, BROADCAST, STREAM

logging.basicConfig(level=logging.INFO)

stream_values = [("a", "b"), ("c", "d"), ("f", "g"), ("y", "z")]


@fetcher
def my_awersome_func(a: str, b: str) -> str:
    __body_unknown__(a, b)
    

if __name__ == '__main__':

    g = Global(host="localhost", port=8888)
    
    # Trigger one `my_awersome_func` callback on remote and wait for result
    result = my_awersome_func(a="foo", b="bar") & FG
    print(f"Result = {result}")

    # Trigger all `my_awersome_func` callbacks registered on remote nodes (broadcast)
    my_awersome_func(a="foo", b="bar") & BROADCAST

    # Stream to all `my_awersome_func` callbacks registered on remote nodes
    my_awersome_func(stream_values) & STREAM
    g.join()
