"""The annual tax statement (dichiarazione per la detrazione, DL 149/2013 art. 11; rules F7, F8).

`figures` computes a statement from the contribution lines of a year (pure, no database writes);
`actions` writes versions and runs; `tasks` are the worker's thin entry points; `pdf` draws a
stored statement; `queries` are the reads of the back office and of Il mio spazio; `views` the
back office pages. See docs/dev/tax_statements.md.
"""
