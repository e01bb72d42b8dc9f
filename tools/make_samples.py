"""Render the bundled sample inputs: 8 background scenes and 8 RGBA cut-outs.

Everything is drawn from code (no photos), so the files are the project's own and ship under CC0.
Run from the repository root:  python tools/make_samples.py
The output is deterministic for a given Pillow/NumPy version; the committed files are what the
package uses, this script only documents how they were made.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1] / "fgbg_depth" / "samples"
BG_SIZE = 384
SS = 2  # supersampling factor for anti-aliased edges


def vertical_gradient(w, h, top, bottom):
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    top = np.asarray(top, float)
    bottom = np.asarray(bottom, float)
    return np.broadcast_to(top + (bottom - top) * t, (h, w, 3)).copy()


def add_noise(arr, rng, amount):
    return arr + rng.normal(0.0, amount, arr.shape[:2])[..., None]


def to_image(arr):
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def perspective_floor(arr, horizon, color_a, color_b, rng, planks=True):
    """Fill rows below the horizon with a receding floor: stripes converge on the vanishing point."""
    h, w, _ = arr.shape
    ys, xs = np.mgrid[horizon:h, 0:w]
    depth = (h - horizon) / np.maximum(ys - horizon, 1)  # 1 at the bottom, grows to the horizon
    u = (xs - w / 2) / np.maximum(ys - horizon, 1) * 8  # lateral coordinate on the plane
    stripe = (np.floor(u) % 2 if planks else (np.floor(u) + np.floor(depth * 4)) % 2)
    base = np.where(stripe[..., None] > 0, np.asarray(color_a, float), np.asarray(color_b, float))
    fade = np.clip(1.0 - 0.5 / depth, 0.5, 1.0)[..., None]  # darker near the camera
    arr[horizon:] = base * fade + rng.normal(0, 6, base.shape[:2])[..., None]


def bg_living_room(rng):
    s = BG_SIZE
    arr = vertical_gradient(s, s, (222, 206, 176), (196, 178, 150))
    perspective_floor(arr, 230, (150, 100, 60), (128, 84, 50), rng)
    im = to_image(add_noise(arr, rng, 2))
    d = ImageDraw.Draw(im)
    d.rectangle([40, 50, 150, 170], fill=(250, 250, 245), outline=(120, 90, 60), width=6)
    d.rectangle([48, 58, 142, 162], fill=(150, 200, 240))
    d.line([95, 58, 95, 162], fill=(120, 90, 60), width=4)
    d.rectangle([230, 120, 360, 225], fill=(90, 110, 140))  # sofa back
    d.rectangle([220, 180, 370, 240], fill=(70, 90, 120))
    d.polygon([(60, 300), (300, 300), (340, 370), (20, 370)], fill=(160, 40, 50))  # rug
    return im


def bg_beach(rng):
    s = BG_SIZE
    arr = vertical_gradient(s, s, (110, 170, 235), (200, 225, 245))
    arr[150:215] = vertical_gradient(s, 65, (30, 110, 160), (60, 160, 190))
    arr[215:] = vertical_gradient(s, s - 215, (225, 205, 160), (240, 222, 180))
    im = to_image(add_noise(arr, rng, 4))
    d = ImageDraw.Draw(im)
    d.ellipse([300, 30, 350, 80], fill=(255, 245, 200))
    for x in range(-20, s, 60):
        d.arc([x, 205, x + 70, 225], 200, 340, fill=(245, 250, 255), width=2)
    return im


def bg_meadow(rng):
    s = BG_SIZE
    arr = vertical_gradient(s, s, (120, 180, 240), (215, 230, 245))
    im = to_image(arr)
    d = ImageDraw.Draw(im)
    d.ellipse([-100, 140, 250, 330], fill=(90, 140, 80))
    d.ellipse([150, 150, 500, 320], fill=(105, 155, 85))
    arr = np.asarray(im, float)
    grass = vertical_gradient(s, s - 200, (110, 170, 70), (70, 130, 40))
    arr[200:] = add_noise(grass, rng, 10)
    im = to_image(arr)
    d = ImageDraw.Draw(im)
    for cx, cy in ((60, 40), (250, 60)):
        for dx in (0, 25, 50):
            d.ellipse([cx + dx, cy, cx + dx + 45, cy + 30], fill=(250, 250, 252))
    return im


def bg_street(rng):
    s = BG_SIZE
    arr = vertical_gradient(s, s, (170, 200, 230), (225, 230, 235))
    im = to_image(arr)
    d = ImageDraw.Draw(im)
    for i, x in enumerate(range(-10, s, 70)):
        top = 60 + (i * 37) % 70
        d.rectangle([x, top, x + 66, 200], fill=(140 + (i * 29) % 80, 120 + (i * 17) % 60, 110))
        for wy in range(top + 12, 190, 26):
            for wx in (x + 10, x + 38):
                d.rectangle([wx, wy, wx + 16, wy + 14], fill=(60, 80, 110))
    d.rectangle([0, 200, s, s], fill=(90, 90, 95))
    d.polygon([(0, 200), (60, 200), (0, 260)], fill=(170, 165, 160))
    d.polygon([(s, 200), (s - 60, 200), (s, 260)], fill=(170, 165, 160))
    for k in range(6):
        y0 = 205 + k * k * 6
        y1 = y0 + 4 + k * 3
        half = 2 + k * 2
        d.polygon([(s / 2 - half, y0), (s / 2 + half, y0), (s / 2 + half * 1.3, y1), (s / 2 - half * 1.3, y1)],
                  fill=(235, 220, 120))
    return to_image(add_noise(np.asarray(im, float), rng, 4))


def bg_office(rng):
    s = BG_SIZE
    arr = vertical_gradient(s, s, (235, 238, 240), (210, 215, 220))
    perspective_floor(arr, 210, (180, 180, 175), (160, 160, 158), rng, planks=False)
    im = to_image(arr)
    d = ImageDraw.Draw(im)
    d.rectangle([20, 40, 140, 120], fill=(250, 250, 250), outline=(90, 90, 90), width=3)  # whiteboard
    d.line([35, 70, 120, 60], fill=(40, 90, 200), width=3)
    d.line([35, 90, 100, 95], fill=(200, 50, 50), width=3)
    d.rectangle([200, 150, 360, 165], fill=(120, 85, 55))  # desk
    d.rectangle([210, 165, 220, 215], fill=(80, 60, 40))
    d.rectangle([340, 165, 350, 215], fill=(80, 60, 40))
    d.rectangle([250, 110, 310, 150], fill=(30, 30, 35))  # monitor
    return to_image(add_noise(np.asarray(im, float), rng, 3))


def bg_forest(rng):
    s = BG_SIZE
    arr = vertical_gradient(s, s, (150, 190, 160), (90, 130, 90))
    arr[220:] = vertical_gradient(s, s - 220, (100, 85, 55), (80, 65, 40))
    im = to_image(add_noise(arr, rng, 8))
    d = ImageDraw.Draw(im)
    d.polygon([(170, 220), (214, 220), (300, s), (90, s)], fill=(150, 125, 85))  # path
    for i in range(14):
        x = (i * 53 + 17) % s
        width = 8 + (i * 7) % 18
        bottom = 215 + (i * 13) % 50
        d.rectangle([x, 0, x + width, bottom], fill=(70 - i % 3 * 10, 50, 35))
        d.ellipse([x - 35, -30 + (i * 11) % 40, x + width + 35, 90 + (i * 11) % 40], fill=(40, 95 + i % 4 * 12, 45))
    return to_image(add_noise(np.asarray(im, float), rng, 5))


def bg_kitchen(rng):
    s = BG_SIZE
    arr = np.zeros((s, s, 3))
    arr[:] = (230, 232, 228)
    ys, xs = np.mgrid[0:200, 0:s]
    grout = ((ys % 32) < 2) | ((xs % 32) < 2)
    arr[:200][grout] = (170, 170, 165)
    perspective_floor(arr, 250, (60, 60, 70), (220, 220, 215), rng, planks=False)
    im = to_image(add_noise(arr, rng, 2))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 200, s, 250], fill=(200, 190, 170))  # counter front
    d.rectangle([0, 192, s, 204], fill=(60, 55, 50))  # worktop
    for x in range(10, s, 96):
        d.rectangle([x, 210, x + 86, 246], outline=(150, 140, 120), width=2)
        d.line([x + 30, 228, x + 56, 228], fill=(120, 120, 120), width=3)
    return im


def bg_desert(rng):
    s = BG_SIZE
    arr = vertical_gradient(s, s, (250, 170, 110), (255, 220, 160))
    im = to_image(arr)
    d = ImageDraw.Draw(im)
    d.ellipse([150, 120, 230, 200], fill=(255, 240, 200))
    d.polygon([(0, 190), (80, 120), (150, 170), (240, 100), (340, 180), (s, 150), (s, 210), (0, 210)],
              fill=(150, 90, 90))
    arr = np.asarray(im, float)
    arr[205:] = add_noise(vertical_gradient(s, s - 205, (210, 150, 90), (225, 170, 110)), rng, 7)
    im = to_image(arr)
    d = ImageDraw.Draw(im)
    for k in range(5):
        y = 230 + k * 30
        d.arc([-50, y, s + 50, y + 60], 190, 350, fill=(195, 135, 80), width=2)
    return im


def canvas(w, h):
    return Image.new("RGBA", (w * SS, h * SS), (0, 0, 0, 0))


def finish(im):
    w, h = im.size
    return im.resize((w // SS, h // SS), Image.Resampling.LANCZOS)


def shaded(d, box, color, shade=0.6, steps=24, shape="ellipse"):
    """Draw a shape lit from the upper left by stacking shrinking, lightening copies."""
    x0, y0, x1, y1 = box
    for i in range(steps):
        t = i / steps
        k = 1.0 - shade + shade * t
        c = tuple(int(min(255, v * k + 40 * t * t)) for v in color) + (255,)
        inset_x = (x1 - x0) * 0.35 * t
        inset_y = (y1 - y0) * 0.35 * t
        b = [x0 + inset_x * 0.6, y0 + inset_y * 0.6, x1 - inset_x * 1.4, y1 - inset_y * 1.4]
        getattr(d, shape)(b, fill=c)


def fg_ball(_rng):
    im = canvas(200, 200)
    shaded(ImageDraw.Draw(im), [10, 10, 390, 390], (220, 60, 40))
    return finish(im)


def fg_chair(_rng):
    im = canvas(180, 260)
    d = ImageDraw.Draw(im)
    wood, dark = (150, 95, 55, 255), (110, 68, 38, 255)
    d.rectangle([40, 20, 320, 60], fill=wood)
    d.rectangle([40, 20, 70, 300], fill=dark)
    d.rectangle([290, 20, 320, 300], fill=dark)
    for y in (100, 170):
        d.rectangle([70, y, 290, y + 20], fill=wood)
    d.polygon([(20, 290), (340, 290), (360, 330), (0, 330)], fill=(170, 110, 65, 255))
    for x in (20, 320):
        d.rectangle([x, 330, x + 24, 510], fill=dark)
    for x in (60, 290):
        d.rectangle([x, 330, x + 18, 480], fill=wood)
    return finish(im)


def fg_plant(_rng):
    im = canvas(200, 280)
    d = ImageDraw.Draw(im)
    for i in range(11):
        a = math.radians(-160 + i * 14)
        cx, cy = 200 + math.cos(a) * 120, 260 + math.sin(a) * 170
        d.line([200, 330, cx, cy], fill=(40, 100, 40, 255), width=8)
        d.ellipse([cx - 40, cy - 22, cx + 40, cy + 22], fill=(50 + i * 8, 140 + i * 5, 60, 255))
    d.polygon([(110, 330), (290, 330), (260, 550), (140, 550)], fill=(190, 100, 60, 255))
    d.rectangle([100, 320, 300, 350], fill=(170, 85, 50, 255))
    return finish(im)


def fg_lamp(_rng):
    im = canvas(150, 300)
    d = ImageDraw.Draw(im)
    d.polygon([(70, 20), (230, 20), (280, 150), (20, 150)], fill=(245, 225, 160, 255))
    d.polygon([(90, 30), (150, 30), (130, 140), (50, 140)], fill=(255, 245, 210, 255))
    d.rectangle([142, 150, 158, 560], fill=(60, 60, 65, 255))
    d.ellipse([70, 545, 230, 595], fill=(45, 45, 50, 255))
    return finish(im)


def fg_bottle(_rng):
    im = canvas(110, 280)
    d = ImageDraw.Draw(im)
    shaded(d, [20, 150, 200, 560], (40, 130, 70), shade=0.5, shape="rounded_rectangle_like")
    return finish(im)


def fg_box(_rng):
    im = canvas(220, 220)
    d = ImageDraw.Draw(im)
    d.polygon([(40, 120), (260, 120), (260, 420), (40, 420)], fill=(200, 150, 90, 255))
    d.polygon([(40, 120), (140, 40), (400, 40), (260, 120)], fill=(225, 180, 120, 255))
    d.polygon([(260, 120), (400, 40), (400, 330), (260, 420)], fill=(165, 120, 70, 255))
    d.line([(150, 120), (150, 220)], fill=(230, 220, 200, 255), width=12)
    d.line([(150, 120), (260, 50)], fill=(235, 225, 205, 255), width=12)
    return finish(im)


def fg_dog(_rng):
    im = canvas(260, 200)
    d = ImageDraw.Draw(im)
    fur, dark = (180, 130, 80, 255), (120, 80, 45, 255)
    for x in (120, 170, 340, 390):
        d.rounded_rectangle([x, 200, x + 36, 390], 14, fill=dark)
    d.ellipse([90, 110, 440, 260], fill=fur)
    d.ellipse([360, 40, 500, 170], fill=fur)  # head
    d.ellipse([455, 100, 515, 140], fill=dark)  # snout
    d.polygon([(370, 50), (395, 0), (420, 60)], fill=dark)  # ear
    d.ellipse([430, 80, 446, 96], fill=(20, 20, 20, 255))
    d.line([(100, 160), (20, 90)], fill=fur, width=22)  # tail
    return finish(im)


def fg_cone(_rng):
    im = canvas(160, 220)
    d = ImageDraw.Draw(im)
    d.polygon([(160, 10), (60, 380), (260, 380)], fill=(245, 110, 30, 255))
    d.polygon([(130, 120), (190, 120), (215, 210), (105, 210)], fill=(245, 245, 245, 255))
    d.polygon([(90, 270), (230, 270), (245, 325), (75, 325)], fill=(245, 245, 245, 255))
    d.rectangle([20, 380, 300, 420], fill=(220, 90, 20, 255))
    return finish(im)


def _rounded_rectangle_like(self, box, fill):
    x0, y0, x1, y1 = box
    self.rounded_rectangle(box, radius=(x1 - x0) / 3, fill=fill)
    neck_w = (x1 - x0) * 0.3
    cx = (x0 + x1) / 2
    self.rectangle([cx - neck_w / 2, y0 - 130, cx + neck_w / 2, y0 + 10], fill=fill)


ImageDraw.ImageDraw.rounded_rectangle_like = _rounded_rectangle_like

BACKGROUNDS = [bg_beach, bg_desert, bg_forest, bg_kitchen, bg_living_room, bg_meadow, bg_office, bg_street]
FOREGROUNDS = [fg_ball, fg_bottle, fg_box, fg_chair, fg_cone, fg_dog, fg_lamp, fg_plant]


def main():
    (ROOT / "backgrounds").mkdir(parents=True, exist_ok=True)
    (ROOT / "foregrounds").mkdir(parents=True, exist_ok=True)
    for i, make in enumerate(BACKGROUNDS):
        im = make(np.random.default_rng(i)).filter(ImageFilter.GaussianBlur(0.6))
        im.save(ROOT / "backgrounds" / f"{make.__name__[3:]}.jpg", quality=88, optimize=True)
    for i, make in enumerate(FOREGROUNDS):
        make(np.random.default_rng(100 + i)).save(ROOT / "foregrounds" / f"{make.__name__[3:]}.png", optimize=True)


if __name__ == "__main__":
    main()
