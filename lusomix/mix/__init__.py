"""Training mixes: ``recipe`` (which documents, with what weight), ``build`` (plan, scatter, shard and the
manifest, polars and pyarrow, memory bounded), ``hashing`` (the stable hashes behind every draw and the
global shuffle). Not a datatrove step: a mix is a global operation over a run's docs/.
"""
