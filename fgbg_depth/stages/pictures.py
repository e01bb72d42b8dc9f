"""The inputs of a run as one process uses them: each background and cut-out decoded once, each
cut-out mirrored and reduced once per frame size, in the forms the compositing paths paste."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..assets import SourceFile, open_background, open_foreground
from ..codecs import encode_jpeg
from ..compose import Silhouette, bleed_colours, fit_background, reduce_foreground
from ..resample import Resampler


class Pictures:
    """Decoded backgrounds and cut-outs of one process, made on first use and kept."""

    def __init__(self, backgrounds: tuple[SourceFile, ...], foregrounds: tuple[SourceFile, ...], size: int):
        self.backgrounds, self.foregrounds, self.size = backgrounds, foregrounds, size
        self.resampler = Resampler()
        self._bg_pixels: dict[tuple[int, int], np.ndarray] = {}
        self._bg_jpeg: dict[int, bytes] = {}
        self._bg_images: dict[tuple[int, int], Image.Image] = {}
        self._bg_rgbx: dict[tuple[int, int], np.ndarray] = {}
        self._fg: dict[int, Image.Image] = {}
        self._fg_reduced: dict[tuple[int, int, bool], Image.Image] = {}
        self._fg_premultiplied: dict[tuple[int, int, bool], Image.Image] = {}
        self._fg_colours: dict[tuple[int, int, bool], Image.Image] = {}
        # the last cut-out ready to paste: a shard made in cut-out order (ShardWorker.build) asks for
        # the same one many times running
        self._last_pasteable: tuple[tuple, tuple[Image.Image, Silhouette]] | None = None

    # -- backgrounds ----------------------------------------------------------------------------
    def background(self, bg_id: int, res: int) -> np.ndarray:
        key = (bg_id, res)
        if key not in self._bg_pixels:
            self._bg_pixels[key] = fit_background(open_background(self.backgrounds[bg_id].path), res)
        return self._bg_pixels[key]

    def background_image(self, bg_id: int, res: int) -> Image.Image:
        """`background` as a Pillow image (made once), for Pillow's compositing."""
        key = (bg_id, res)
        if key not in self._bg_images:
            self._bg_images[key] = Image.fromarray(self.background(bg_id, res), "RGB")
        return self._bg_images[key]

    def background_rgbx(self, bg_id: int, res: int) -> np.ndarray:
        """`background` with four bytes a pixel (RGBX, the fourth 255), made once: what
        compose.paste_cutout pastes onto a copy of."""
        key = (bg_id, res)
        if key not in self._bg_rgbx:
            rgb = self.background(bg_id, res)
            rgbx = np.full((*rgb.shape[:2], 4), 255, np.uint8)
            rgbx[..., :3] = rgb
            rgbx.flags.writeable = False  # shared by every sample: each pastes onto a copy
            self._bg_rgbx[key] = rgbx
        return self._bg_rgbx[key]

    def background_jpeg(self, bg_id: int) -> bytes:
        """The `bg` column's bytes: the background at the output size, encoded once."""
        if bg_id not in self._bg_jpeg:
            self._bg_jpeg[bg_id] = encode_jpeg(self.background(bg_id, self.size))
        return self._bg_jpeg[bg_id]

    # -- cut-outs -------------------------------------------------------------------------------
    def foreground(self, fg_id: int) -> Image.Image:
        if fg_id not in self._fg:
            self._fg[fg_id] = open_foreground(self.foregrounds[fg_id].path)
        return self._fg[fg_id]

    def aspect(self, fg_id: int) -> float:
        fg = self.foreground(fg_id)
        return fg.width / fg.height

    def foreground_for(self, fg_id: int, res: int, flip: bool) -> Image.Image:
        """The cut-out mirrored as asked and pre-reduced to fit a res×res frame, made once per process:
        every sample's resize then starts from a small picture (a mip level, in effect)."""
        key = (fg_id, res, flip)
        if key not in self._fg_reduced:
            self._fg_reduced[key] = reduce_foreground(self.foreground(fg_id), res, flip)
        return self._fg_reduced[key]

    def pasteable(self, fg_id: int, res: int, flip: bool, w: int, h: int) -> tuple[Image.Image, Silhouette]:
        """`premultiplied_cutout` and its `Silhouette`, the last pair kept: neither is changed by
        pasting, so samples in a row that paste the same cut-out at the same size share them."""
        key = (fg_id, res, flip, w, h)
        if self._last_pasteable is None or self._last_pasteable[0] != key:
            cut, pixels = self.resampler.resize_pixels(self.premultiplied_mip(fg_id, res, flip), w, h)
            # alpha > 0: each pixel read as one little-endian word, its alpha the top byte
            self._last_pasteable = (key, (cut, Silhouette(np.greater(pixels.view("<u4")[..., 0], 0xFFFFFF))))
        return self._last_pasteable[1]

    def premultiplied_mip(self, fg_id: int, res: int, flip: bool) -> Image.Image:
        """`foreground_for` premultiplied (RGBa), made once per process: what each sample's cut-out is
        resized from."""
        key = (fg_id, res, flip)
        if key not in self._fg_premultiplied:
            self._fg_premultiplied[key] = self.foreground_for(fg_id, res, flip).convert("RGBa")
        return self._fg_premultiplied[key]

    def premultiplied_cutout(self, fg_id: int, res: int, flip: bool, w: int, h: int) -> Image.Image:
        """`foreground_for` at w×h, premultiplied (RGBa: colour·alpha, so a resize mixes no colour of
        a transparent pixel in, and no dark fringe appears), as Pillow pastes it over a frame (the
        over operator: frame·(1 − alpha) + colour) and motion blur averages it: resample.py's resize
        of `premultiplied_mip`."""
        return self.resampler.resize(self.premultiplied_mip(fg_id, res, flip), w, h)

    def scene_cutout(self, fg_id: int, res: int, flip: bool, w: int, h: int) -> Image.Image:
        """A scene's cut-out at w×h (RGBX, its fourth band the alpha): `foreground_for`'s alpha, and
        its colours carried past the silhouette (compose.bleed_colours, made once per process). Every
        pixel then has a colour that belongs to the object, for the blends that look past its edge
        (feathering, Poisson); pasted with its alpha it shows no dark fringe either."""
        key = (fg_id, res, flip)
        if key not in self._fg_colours:
            mip = self.foreground_for(fg_id, res, flip)
            # one 4-band picture: resample.py resizes its bands each on its own (no premultiplying), so
            # one resize gives the colours and the alpha. Kept labelled RGBa, the form the resizer
            # reads without a copy (the bands are not premultiplied: it is only ever resized)
            self._fg_colours[key] = Image.merge("RGBa", (*bleed_colours(mip).split(), mip.getchannel("A")))
        return self.resampler.resize(self._fg_colours[key], w, h, mode="RGBX")
