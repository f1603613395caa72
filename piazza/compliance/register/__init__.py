"""The donor register (rules F1, F2, F5, F14, F15; issue 13). See docs/dev/register.md.

`compute` derives the entries from `compliance.contributions.contribution_lines` (pure functions
over lines and parameters); `actions` materialises and publishes them; `queries` reads the board;
`pdf` renders and signs the export for the Chamber of Deputies (F5).
"""
