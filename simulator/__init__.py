"""The fleet simulator: thousands of simulated players driving a running stack over HTTP.

An operator tool, not part of the server: it speaks only the public contracts (the console's
GraphQL API, the device edge's REST API, the CSV export) and imports nothing from `core`,
`device_edge` or `graphql_api`, so it exercises exactly what real players and consoles see.

Entry points: `signage simulate ...` (see `simulator.cli`) or `python -m simulator ...`.
"""
