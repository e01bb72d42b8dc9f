"""The stages of one shard, each a module of its own, in the order a sample goes through them:

    job.py        Job: everything any process needs to make any shard of a run (small, picklable)
    pictures.py   Pictures: the inputs decoded once per process, cut-outs ready at each frame size
    composite.py  Compositor: a sample's composite, mask (and scene columns) at a resolution
    depthmap.py   depth in stored uint16 units at the output size, from any backend
    encode.py     Piece: composites and depth encoded (JPEG / PNG) with their channel sums
    assemble.py   a shard's Arrow table from its pieces, in row order

`worker.ShardWorker` runs them for a shard in one process; the engines run the same functions
spread over processes or a cluster. A new column is one entry in `contract`, where `encode` makes
its cells (and sums), which `assemble` lays out by the schema.
"""
