"""Request and response bodies of the HTTP API as pydantic models, one module per resource. Response models
forbid unknown fields, so a field added to a response without its model fails the contract tests."""
