"""lynn-mcp: an MCP server for Lynn's Outbound (Proactive) API, with a built-in sandbox.

Module map (the folders state the import rules; tests/test_layers.py holds them; docs/architecture.md
walks one row from a file to Lynn and back):

    cli, __main__, demo, doctor   entry points: the console script, the guided demo, the checks
    config                        settings (LYNN_*), the bulk defaults
    errors                        every LynnError and its stable code; the one status table
    signing                       confirmation tokens and sealed resume handles (HMAC)
    redaction/                    the secrets we hold, `redact`, and logging that never prints them
    lynn/                         the Lynn HTTP side: client, models, shapes, operations, dialect,
                                  retry, untrusted, observe; conformance and contract_check
                                  (doctor --contract)
    bulk/                         rows to Lynn and back: readers/, template, checks, file_access,
                                  sources, blocks, loader, waiter, ledger, results_file, resume,
                                  report, loads, stopping
    server/                       the MCP face: build, state, schemas, tools/, results, consent,
                                  audit, tool_errors, argument_check, outbound, apps/, toolsets,
                                  resources, prompts, http, health, telemetry, otel_redaction
    sandbox/                      the Lynn emulator; imports nothing else of lynn_mcp
"""

__version__ = "0.1.0"
