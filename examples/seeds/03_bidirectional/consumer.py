# Seed 003, "Another example with bidirectional communication", consumer.py (marked complete).
# consumer.py
import asyncio
import logging
from datetime import datetime
from daffi import Global, FG, fetcher, __body_unknown__, callback

logging.basicConfig(level=logging.INFO)


@callback # (1)
async def consumer_time() -> float:
    return datetime.utcnow().timestamp()


@fetcher(FG)  # (2)
async def sum_of_two_numbers(a: int, b: int) -> int:
    __body_unknown__(a, b)


async def runner():  # (3)
    for _ in range(10):
        result = sum_of_two_numbers(5, 15)
        print(f"Result = {result}")

        await asyncio.sleep(3)


if __name__ == "__main__":

    g = Global(host="localhost", port=8888, process_name="consumer")  # (4)

    g.wait_process("publisher")  # (5)

    asyncio.run(runner())  # (6)

    g.stop()
