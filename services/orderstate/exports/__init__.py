"""What the repository publishes from the code: the files of ``schemas/`` (event schemas,
examples, AsyncAPI, OpenAPI) and the README's configuration table. ``orderstate
export-schemas`` and ``orderstate config-reference`` write them; contract tests compare."""
