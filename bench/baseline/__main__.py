"""``python -m bench.baseline``: serve the naive bot until SIGTERM."""

import logging
import os

from aiohttp import web

from bench.baseline.bot import build


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    web.run_app(
        build(os.environ),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "3000")),
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
