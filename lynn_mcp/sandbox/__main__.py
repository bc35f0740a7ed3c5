"""``python -m lynn_mcp.sandbox``: the same CLI as ``lynn-mcp sandbox``."""

from lynn_mcp.sandbox.runner import main

raise SystemExit(main())
