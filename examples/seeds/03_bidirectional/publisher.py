# Seed 003, "Another example with bidirectional communication", publisher.py (marked complete).
# publisher.py
import asyncio
import logging
from daffi import Global, callback, fetcher, __body_unknown__, FG

logging.basicConfig(level=logging.INFO)


@callback  # (1)
def sum_of_two_numbers(a: int, b: int) -> int:
    return a + b


@fetcher(FG)
async def consumer_time() -> float:
    __body_unknown__()


async def runner(): # (2)
    for _ in range(10):
        current_consumer_time = consumer_time()
        print(f"Current consumer time: {current_consumer_time}")

        await asyncio.sleep(3)


if __name__ == '__main__':
    g = Global(host="localhost", port=8888, init_controller=True, process_name="publisher")  # (3)

    g.wait_process("consumer") # (4)

    asyncio.run(runner()) # (5)

    g.stop()
