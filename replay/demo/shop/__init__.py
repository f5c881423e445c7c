"""The bundled demo API: a small shop with planted sequence bugs, run in its own process.

``python -m venom_replay.replay.demo.shop --db sqlite:///tmp/shop.db --port 8000 [--fixed]``

Data lives in SQLite (WAL mode, one connection per request) or PostgreSQL (one connection per
request), with the same SQL for both; the schema is created on start when absent and an ``admin``
user (password ``admin-pass``) is seeded. Every endpoint speaks JSON and, except ``POST /login``,
needs ``Authorization: Bearer <token>``. ``GET /ui/`` is a small web front end over the same API
(``ui``: it keeps the token in a browser cookie); ``--tls`` serves HTTPS with a self-signed
certificate made at start-up (``tls``).

    POST   /login                          {username, password} -> {token, user_id, role}
    GET    /me                             the caller, with the role it has now
    POST   /users            (admin)       {username, password} -> 201 user (role member)
    GET    /users            (admin)       {"users": [...]}
    PUT    /groups/admins/members/{user_id}     (admin) promote to admin
    DELETE /groups/admins/members/{user_id}     (admin) demote to member (also oneself: step down)
    POST   /products         (admin)       {name, price, stock} -> 201 product, Location header
    GET    /products                       {"products": [...]}
    GET    /products/{product_id}
    PATCH  /products/{product_id} (admin)  {price?, stock?}
    DELETE /products/{product_id} (admin)  204 (soft delete)
    POST   /orders                         {product_id, quantity} -> 201 order (stock taken)
    GET    /orders                         {"orders": [...]}: the caller's orders
    GET    /orders/{order_id}
    POST   /orders/{order_id}/pay          {method} -> pending -> paid
    POST   /orders/{order_id}/refund       {reason?} -> paid -> refunded (refunded = amount)
    POST   /orders/{order_id}/cancel       pending -> cancelled (stock given back)
    DELETE /orders/{order_id}              204 (soft delete)

Planted sequence bugs (``fixed=False``; the correct twin ``fixed=True`` has none):

- double refund: a refunded order can be refunded again; ``refunded`` grows past ``amount``.
  (POST /orders/{id}/refund twice.)
- read after delete: ``GET /orders/{id}`` of a deleted order still answers 200.
- deleted item still listed: ``GET /orders`` and ``GET /products`` keep deleted rows.
- access after demotion: a token remembers the role its user had at login, so a demoted user's
  old token still performs admin writes (DELETE /groups/admins/members/{me}, then POST /products).

Each bug is one changed condition, the way such bugs look in real code; each is marked ``BUG`` where
it sits (``context``, ``products``, ``orders``, ``payments``).

The package: ``app`` builds the WSGI app from one blueprint per resource (``users`` for logins,
users and the admins group; ``products``; ``orders``; ``payments`` for paying and refunding), which
share ``context`` (the transaction, the caller, the errors) and ``database`` (SQLite or
PostgreSQL). ``bugs`` describes the planted bugs for the demo's verdict, ``process`` starts the shop
in a child process and ``server`` is what that child runs.
"""

from venom_replay.replay.demo.shop.app import create_app
from venom_replay.replay.demo.shop.bugs import PLANTED_BUGS, PlantedBug
from venom_replay.replay.demo.shop.database import ADMIN_PASSWORD, ADMIN_USERNAME
from venom_replay.replay.demo.shop.process import ShopProcess, launch
from venom_replay.replay.demo.shop.server import main, serve

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USERNAME",
    "PLANTED_BUGS",
    "PlantedBug",
    "ShopProcess",
    "create_app",
    "launch",
    "main",
    "serve",
]
