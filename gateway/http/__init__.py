"""The HTTP side of the gateway: the aiohttp app, its middleware, problem documents, the route table with its
typed request and response models, and the OpenAPI document generated from them. Route modules call the
concerns (cases, ingest, accounts, webhooks, console, storage); no concern imports anything from here."""
