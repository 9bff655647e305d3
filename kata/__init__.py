"""ipc-kata: the application (CLI, TUI, quiz engine, progress store)."""
