"""One module per resource, and ``body``: the request body of every write, read through the
compatibility rules (api/compat)."""
