"""The conversion worker side: the pool, the worker entry point, the per-cell pipeline, the network guard."""
