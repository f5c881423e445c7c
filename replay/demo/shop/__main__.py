"""``python -m venom_replay.replay.demo.shop --db URL [--port N] [--host H] [--fixed] [--tls]``: serve the shop.

``launch`` starts the shop this way, in its own process, the way a real API under test runs."""

from venom_replay.replay.demo.shop.server import main

if __name__ == "__main__":
    main()
