"""Paper-form result tables: our runs (from work_dirs) beside published reference rows."""
from .published import PUBLISHED
from .tables import COLUMNS, build_tables, collect, to_markdown, write_csv

__all__ = ['COLUMNS', 'PUBLISHED', 'build_tables', 'collect', 'to_markdown', 'write_csv']
