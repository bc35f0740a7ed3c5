"""One module per group of tools (campaigns, contacts, dnd, data), plus what they share."""
