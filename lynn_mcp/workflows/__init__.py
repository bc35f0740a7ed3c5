"""Composite work built only from `LynnClient` calls (no MCP here: progress goes through a callback).

- `waiter`: THE task waiter (the one polling loop).
- `sources`: checked file paths, inline rows, template columns.
- `loader`: the chunked, bounded, accounted bulk engine.
- `resume`: signed, self-contained resume handles.
- `report`: the shared `LoadReport` result and its tally.
- `bulk`: the three operations wired up: campaign data, DnD, .cpg upload.
"""
