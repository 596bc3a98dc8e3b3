"""lusomix: European-Portuguese-first pretraining corpora from web archives.

Layers (imports go down only): ``pipeline`` (orchestration, CLI) → ``stages`` (datatrove steps, stage
configs, Parquet schemas) → ``filters`` (pure per-document logic, shipped models).
"""

__version__ = "0.1.0"
