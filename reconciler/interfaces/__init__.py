"""What people and programs talk to: the CLI (and later the HTTP server)."""
