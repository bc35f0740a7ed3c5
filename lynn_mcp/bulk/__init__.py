"""Rows from files (or inline) to Lynn and back into a report, built only from `LynnClient` calls.
Never imports `mcp` or `lynn_mcp.server`: progress goes out through a callback.

- `readers/`: rows from CSV/.cpg/.xlsx/JSON files (one module per format) in constant memory.
- `results_file`: the per-row results CSV, in row order, safe to open in Excel.
- `template`: a template's columns, the header check, the phone column, the Json Request text.
- `checks`: each row against a template (phones, duplicates) or the blacklist's columns.
- `file_access`: which files the tools may read (LYNN_FILE_ROOT).
- `sources`: checked file paths, inline rows, template columns.
- `waiter`: THE task waiter (the one polling loop).
- `blocks`: a load's rows, checked, in blocks: one chunk to send and the local rejections around it.
- `ledger`: every row's one outcome (tally, results file, resume state) and the load's report.
- `loader`: the bulk engine: chunks sent with bounded concurrency, their tasks awaited.
- `resume`: signed, self-contained resume handles.
- `report`: the shared `LoadReport` result and its tally.
- `loads`: the three operations wired up: campaign data, DnD, .cpg upload.
- `stopping`: the deadline that ends running loads early (the server shutting down), as a timeout.
"""
