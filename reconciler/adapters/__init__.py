"""The only modules that import pygit2 or kubernetes; they raise reconciler.errors."""
