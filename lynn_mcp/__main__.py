from lynn_mcp.cli import main

raise SystemExit(main())
