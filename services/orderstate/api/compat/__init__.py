"""Seven Senders compatibility at the REST edge, in one place.

Seven Senders clients (the Spryker module, the WooCommerce plugin, integrations written from
the 2017 documentation) send what Seven Senders accepted. This package reads that into
orderstate's request models before anything else sees it; the models, ``submit`` and
``apply_batch`` are the same as for every other client.

- ``paths``: ``/v2/order_states``, ``.json`` suffixes, references with '/' in the path.
- ``query``: unknown query parameters are refused by name.
- ``normalise``: per-body rules (legacy names, naive datetimes, locales, empty strings,
  fields accepted and not used, personal data dropped).
- ``profiles``: a client's known quirks, chosen per API key.
- ``reading``: one caller's profile, unknown-field mode and time zone.
- ``ignored``: the X-Orderstate-Ignored-Fields header and its metric.
- ``openapi``: the aliases and request bodies in the OpenAPI document.

``api/routes/body.py`` is the route dependency that reads a request body through all of
that; it sits with the routes because it needs their dependencies (``api/deps.py``), which
in turn decode paths with ``paths``.

docs/sevensenders-compat.md says what each client sends and why each rule exists.
"""
