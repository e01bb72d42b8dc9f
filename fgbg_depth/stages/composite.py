"""Compositing: a sample id → its composite, mask and box (and, with scene options, alpha,
instances, per-object records and blend) at a square resolution."""

from __future__ import annotations

import numpy as np

from ..blend import CUTOUT_KIND, draw_blend
from ..compose import paste_cutout
from ..plan import place_foreground, placement_boxes
from ..scene import Composite, compose_scene, scene_objects
from .job import Job
from .pictures import Pictures


class Compositor:
    """Composites of a job's samples, from one process's `Pictures`."""

    def __init__(self, job: Job, pictures: Pictures):
        self.job, self.pictures = job, pictures
        self._one_object = job.scene.is_default  # asked once: each sample's compose reads it
        self._boxes: dict[int, tuple[int, int, int, int]] = {}  # output-size boxes cutout_order drew, until used

    def box(self, sample_id: int, res: int) -> tuple[int, int, int, int]:
        """The own object's box (x, y, w, h) of a default-scene sample in a res×res frame."""
        fg_id = self.job.plan.decode(int(sample_id))[1]
        return place_foreground(self.job.plan.seed, int(sample_id), self.pictures.aspect(fg_id)).box(res)

    def cutout_order(self, ids) -> list[int]:
        """Positions in `ids` ordered by the cut-out each sample pastes (foreground, mirrored, width,
        height): made in this order, the samples that share a resized cut-out come one after another,
        and Pictures resizes it once for them. The boxes drawn here are kept for `compose`."""
        size, aspect, seed = self.job.size, self.pictures.aspect, self.job.plan.seed
        ids = np.asarray(ids, dtype=np.int64)
        _, fg, flip, _ = self.job.plan.decode(ids)
        aspects = [aspect(f) for f in fg.tolist()]
        boxes = placement_boxes(seed, ids, aspects, size)
        if boxes is None:  # ids or a seed the array form does not cover: a placement each
            boxes = np.array([self.box(i, size) for i in ids.tolist()], np.int64).reshape(-1, 4)
        self._boxes.update(zip(ids.tolist(), map(tuple, boxes.tolist())))
        # a stable sort on (cut-out, mirrored, width, height), as sorted() on those tuples
        return np.lexsort((boxes[:, 3], boxes[:, 2], flip, fg)).tolist()

    def compose(self, sample_id: int, res: int, with_mask: bool = True) -> Composite:
        """One sample composited at res×res: the picture, its mask (unless not wanted: a device
        model's input needs none), the own object's box there, and the scene's columns."""
        job, pictures = self.job, self.pictures
        bg_id, fg_id, flip, _ = job.plan.decode(int(sample_id))
        if self._one_object:  # one object pasted as it is: the bytes of every earlier dataset
            box = self._boxes.pop(int(sample_id), None) if res == job.size else None
            x, y, w, h = box or self.box(sample_id, res)
            cutout, silhouette = pictures.pasteable(fg_id, res, bool(flip), w, h)
            composite, mask = paste_cutout(pictures.background_rgbx(bg_id, res), cutout,
                                           silhouette.opaque if with_mask else None, x, y)
            return Composite(composite, mask, (x, y, w, h), silhouette=silhouette)
        objects = scene_objects(job.plan.seed, int(sample_id), int(fg_id), bool(flip), len(job.foregrounds),
                                pictures.aspect, job.scene.objects)
        blend = draw_blend(job.scene.blend, job.plan.seed, int(sample_id))
        make = {"bled": pictures.scene_cutout, "premultiplied": pictures.premultiplied_cutout}[CUTOUT_KIND[blend.mode]]
        cutout = lambda f, fl, w, h: make(f, res, fl, w, h)  # noqa: E731
        return compose_scene(pictures.background_image(bg_id, res), objects, cutout, blend, res / job.size, job.scene)

    def batch(self, ids) -> list[Composite]:
        """The samples at the output size, in order."""
        return [self.compose(i, self.job.size) for i in ids]

    def model_inputs(self, ids, made: list[Composite], input_size,
                     with_images: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(composites, masks or None) at a depth backend's input size (None: any size), reusing the
        output-size composites `made` when the sizes agree. Masks go to priors (planar) only: a
        device model takes none, so its inputs are composited without one. Without images (None in
        their place) for a prior that reads the masks alone."""
        size = self.job.size
        if input_size is None or tuple(input_size) == (size, size):
            big = made
        elif input_size[0] != input_size[1]:
            raise ValueError("depth backends with non-square inputs are not supported")
        else:
            big = [self.compose(i, input_size[0], with_mask=not self.job.runs_model) for i in ids]
        images = np.stack([b.image[..., :3] for b in big]) if with_images else None  # RGB, not RGBX
        if any(b.mask is None for b in big):
            return images, None
        # a scene of several objects hands the instance map: the planar prior stands each on its own foot
        return images, np.stack([b.instances if b.instances is not None else b.mask for b in big])
