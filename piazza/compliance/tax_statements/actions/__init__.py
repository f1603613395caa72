"""Writes of the tax statements: `runs` (start and resume a generation, from the back office) and
`generate` (what the worker does: plan a run into chunks, write a chunk's versions, email donors)."""
