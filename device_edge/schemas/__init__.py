"""Pydantic models of the edge's JSON contract; the OpenAPI document is generated from them."""
