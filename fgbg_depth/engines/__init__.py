"""Engines run `ShardWorker.make` over the plan's shards: `local` (process pool) or `ray`."""
