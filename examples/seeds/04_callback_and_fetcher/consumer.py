# Seed 003, callback_and_fetcher example, consumer.py.
# consumer.py
import asyncio
import logging
from daffi import Global, callback_and_fetcher, FG

logging.basicConfig(level=logging.INFO)

PROCESS_NAME = "consumer"


@callback_and_fetcher
async def get_process_name() -> str:
    return PROCESS_NAME


async def runner():
    for _ in range(10):
        remote_process_name = get_process_name() & FG
        print(f"{PROCESS_NAME} called {remote_process_name!r}")

        await asyncio.sleep(3)


if __name__ == "__main__":

    g = Global(host="localhost", port=8888, process_name="consumer")

    g.wait_process("publisher")

    asyncio.run(runner())

    g.stop()
