"""The REST contract, one source for server and client: messages, endpoints, conversions."""
