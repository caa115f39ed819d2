"""The HTTP API: starlette routes over the programs service; one module per OpenAPI tag."""
