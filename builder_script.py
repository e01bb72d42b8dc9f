"""fgbg-depth as a `datasets` builder, for making the dataset in-process without the CLI.

    from builder_script import FgBgDepth
    builder = FgBgDepth(placements=2, seed=7, depth="planar")
    builder.download_and_prepare()
    ds = builder.as_dataset()                      # train / test, row for row what the CLI writes
    stream = builder.as_streaming_dataset()        # generated lazily, nothing prepared first
    builder.channel_stats["train"]["fg_bg"]["mean"]

It yields Arrow tables shard by shard from the same plan and shard code as `fgbg-depth generate`.
(`datasets` 5.x does not run loading scripts from the Hub; the published dataset is Parquet + card.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import datasets

from fgbg_depth.assets import default_backgrounds, default_foregrounds, list_image_files, list_inputs
from fgbg_depth.contract import FORMAT_VERSION, features
from fgbg_depth.generate import GenerateOptions, prepare
from fgbg_depth.scene import SceneOptions
from fgbg_depth.stats import split_stats
from fgbg_depth.worker import ShardWorker

_DESCRIPTION = ("Synthetic compositing data: transparent cut-outs pasted onto backgrounds, with the pasted "
                "object's mask and a depth map. `description` holds the per-channel stats and depth_scale (metres "
                "per depth unit) as JSON once prepared.")


@dataclass
class FgBgDepthConfig(datasets.BuilderConfig):
    """The generation arguments, named like the CLI's flags."""

    backgrounds: str | None = None
    foregrounds: str | None = None
    placements: int = 20
    size: int = 160
    depth: str = "planar"
    depth_weights: str | None = None
    depth_model: str | None = None
    depth_revision: str | None = None
    precision: str = "float32"
    depth_input_size: int = 448
    seed: int = 0
    test_fraction: float = 0.3
    split_by: str = "sample"
    shard_rows: int | None = None
    blend: str = "none"
    alpha: bool = False
    objects: int = 1

    def create_config_id(self, config_kwargs, custom_features=None) -> str:
        """The cache key also covers the input files (names, sizes, times): new inputs at the same path
        must not be answered from the cache; so do the depth source as resolved, and the versions of
        the code that decide the bytes (the format, a blend's version), as the CLI's fingerprint does."""
        listed = []
        for spec, role in ((self.backgrounds or default_backgrounds(), "backgrounds"),
                           (self.foregrounds or default_foregrounds(), "foregrounds")):
            try:
                files, _ = list_image_files(spec, role)
                listed += [(name, path.stat().st_size, path.stat().st_mtime_ns) for name, path in files]
            except Exception:  # reported properly when the builder validates the inputs
                listed.append((spec, None, None))
        version = hashlib.sha256(repr(listed).encode()).hexdigest()[:16]
        depth = hashlib.sha256(repr(self.depth_identity()).encode()).hexdigest()[:16]
        code = {"format_version": FORMAT_VERSION,
                **SceneOptions(self.blend, self.alpha, self.objects).versions()}
        return super().create_config_id({**config_kwargs, "inputs": version, "depth_source": depth, "code": code},
                                        custom_features)

    def depth_identity(self) -> list:
        """What the depth backend will really be, for the cache key: the backend `auto` and the
        environment pick, a Hub model's revision resolved to its commit (a branch moves on), and the
        names, sizes and times of a weights file or a model folder. What cannot be resolved is keyed
        by the arguments as given: preparing the dataset then says what is wrong, in one line."""
        from fgbg_depth.depth.model_hub import fetch_model
        from fgbg_depth.generate import resolve_depth
        try:
            choice = resolve_depth(self.options())
        except Exception:
            return [self.depth]
        identity = [choice.name, sorted((k, str(v)) for k, v in choice.options.items())]
        for key in ("model", "weights"):
            value = choice.options.get(key)
            if not value:
                continue
            path = Path(value).expanduser()
            if path.is_file() or path.is_dir():
                files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
                identity += [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
            elif key == "model":  # a Hub id: fetched here once, as preparing would (cached after)
                try:
                    identity.append(fetch_model(value, choice.options.get("revision")).revision)
                except Exception:
                    pass
        return identity

    def options(self) -> GenerateOptions:
        return GenerateOptions(out="", backgrounds=self.backgrounds, foregrounds=self.foregrounds,
                               placements=self.placements, size=self.size, depth=self.depth,
                               depth_weights=self.depth_weights, depth_model=self.depth_model,
                               depth_revision=self.depth_revision, precision=self.precision,
                               depth_input_size=self.depth_input_size, test_fraction=self.test_fraction,
                               split_by=self.split_by, seed=self.seed, shard_rows=self.shard_rows,
                               blend=self.blend, alpha=self.alpha, objects=self.objects, progress=False)


class FgBgDepth(datasets.ArrowBasedBuilder):
    BUILDER_CONFIG_CLASS = FgBgDepthConfig
    BUILDER_CONFIGS = [
        FgBgDepthConfig(name="default", description="bundled sample inputs, planar depth prior"),
        FgBgDepthConfig(name="depth-anything", depth="depth-anything",
                        description="Depth Anything V2 metric depth (depth_model: a Hub id or folder; by default "
                                    "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf, downloaded once)"),
        FgBgDepthConfig(name="densedepth", depth="densedepth",
                        description="DenseDepth NYU depth; needs depth_weights (or FGBG_DEPTH_WEIGHTS)"),
    ]
    DEFAULT_CONFIG_NAME = "default"

    def _info(self):
        scene = SceneOptions(self.config.blend, self.config.alpha, self.config.objects)
        # the foregrounds' categories (ImageFolder's folder rule), from their names alone: nothing is decoded here
        categories = list_inputs(self.config.foregrounds or default_foregrounds(), "foregrounds").category_names
        return datasets.DatasetInfo(description=_DESCRIPTION, features=datasets.Features.from_dict(
            features(self.config.depth != "none", scene, categories)))

    def _prepared(self):
        if getattr(self, "_prep", None) is None:
            self._prep = prepare(self.config.options())
            self._shard_stats = {}
        return self._prep

    def _split_generators(self, dl_manager):
        plan = self._prepared().job.plan
        return [datasets.SplitGenerator(name=split, gen_kwargs={"shards": plan.shards(split)})
                for split in plan.split_names]

    def _generate_tables(self, shards):
        prep = self._prepared()
        worker = ShardWorker(prep.job, backend=prep.backend)
        for spec in shards:
            table, acc = worker.build(spec)
            self._shard_stats[(spec.split, spec.index)] = acc
            yield datasets.builder.Key(spec.index, 0), table

    def _download_and_prepare(self, dl_manager, verification_mode, **prepare_split_kwargs):
        super()._download_and_prepare(dl_manager, verification_mode, **prepare_split_kwargs)
        self.info.description = json.dumps({"channel_stats": self.channel_stats,
                                            "depth_scale": self._prepared().job.depth_scale})

    @property
    def channel_stats(self) -> dict:
        """{split: {column: {"mean", "std", "count"}}}, as in the card's YAML; computed from the shards
        this builder made, or from the prepared info, or (if neither) by generating the rows."""
        try:
            return json.loads(self.info.description)["channel_stats"]
        except (TypeError, ValueError, KeyError):
            pass
        prep = self._prepared()
        plan = prep.job.plan
        specs = plan.all_shards()
        missing = [s for s in specs if (s.split, s.index) not in self._shard_stats]
        if missing:
            worker = ShardWorker(prep.job, backend=prep.backend)
            for spec in missing:
                self._shard_stats[(spec.split, spec.index)] = worker.build(spec)[1]
        results = [{"split": s.split, "index": s.index, "stats": self._shard_stats[(s.split, s.index)]} for s in specs]
        return split_stats(results, prep.job.with_depth, prep.job.depth_scale)
