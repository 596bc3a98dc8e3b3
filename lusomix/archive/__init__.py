"""Reading web archives: WARC/ARC records and what to do when their bytes are damaged.

``records`` walks a file record by record and names the spans it could not read; ``resync`` finds where
the next record starts after one.
"""
