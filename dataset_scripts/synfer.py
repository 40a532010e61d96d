"""SynFER: procedurally drawn, emoji-like cartoon faces with a known expression.

Every face is a pure function of ``(emotion, seed, size, mode)``: the random
state comes from a stable BLAKE2 hash (Python's ``hash()`` is salted per
process), so a dataset can be regenerated anywhere without storing pixels.

All geometry lives in face-local units (``u`` = half the head width, y grows
downwards) and is drawn on a supersampled canvas that is an integer multiple
of the output size, so every output size shows the same face.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SYNFER_EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "sadness",
    "surprise",
    "anger",
    "fear",
    "disgust",
    "contempt",
)

# Per emotion: (eye styles, brow style, mouth styles, {optional extra: probability}).
# Several styles in a tuple are alternatives picked per seed, for variety.
_SPECS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...], dict[str, float]]] = {
    "neutral": (("open",), "relaxed", ("straight",), {}),
    "happiness": (("open", "curved shut"), "gently arched", ("corners up", "open, corners up"), {"rosy cheeks": 0.5}),
    "sadness": (("open",), "inner ends raised", ("corners down",), {"tear": 0.5}),
    "surprise": (("wide open",), "raised high and arched", ("round open",), {}),
    "anger": (("glaring",), "drawn down toward the centre", ("teeth bared",), {}),
    "fear": (("wide open",), "raised and pulled together", ("stretched open",), {"sweat drop": 0.5}),
    "disgust": (("narrowed",), "lowered", ("wavy, one side of the upper lip raised",), {"nose wrinkles": 1.0}),
    "contempt": (("half-closed",), "one raised", ("one corner raised",), {}),
}

# Brow shape per style: (inner-end lift, outer-end lift, arch, inner ends pulled in).
# Lifts are in ``u``; positive means upwards.
_BROWS: dict[str, tuple[float, float, float, float]] = {
    "relaxed": (0.0, 0.0, 0.02, 0.0),
    "gently arched": (0.04, 0.04, 0.07, 0.0),
    "inner ends raised": (0.16, -0.06, 0.0, 0.02),
    "raised high and arched": (0.20, 0.18, 0.12, 0.0),
    "drawn down toward the centre": (-0.14, 0.12, 0.0, -0.02),
    "raised and pulled together": (0.26, 0.04, 0.0, 0.0),
    "lowered": (-0.06, 0.0, 0.0, 0.0),
    "one raised": (0.14, 0.2, 0.1, 0.0),  # the raised side; the other side is "relaxed"
}

# Skin tones from cartoon yellow to brown; all light enough for dark ink to read.
_SKINS = np.array(
    [(255, 204, 77), (255, 224, 189), (241, 194, 150), (224, 172, 105), (198, 134, 66), (160, 100, 55)], dtype=float
)

_MIN_SUPERSAMPLED_PX = 256


@dataclass(frozen=True)
class Style:
    """How faces look and how their reasoning text reads; ranges are ``(low, high)`` of a uniform draw per person.

    ``mouth_gain`` scales the drawn mouth (its curvature and opening), ``mouth_y`` places it below the face's
    centre (in half head widths); ``max_angle`` is the in-plane rotation
    in degrees; ``noise``, ``blur_chance`` and ``light`` cap the photometric nuisances. ``cue_first_text``: the
    reasoning names the decisive cue, the mouth, first and in one fixed phrase per drawn mouth (see
    :func:`describe`), instead of varied phrasings in a random order.
    """

    head_height: tuple[float, float]
    max_angle: float
    line: tuple[float, float]
    jitter: tuple[float, float]
    mouth_y: tuple[float, float]
    mouth_gain: float
    noise: float
    blur_chance: float
    light: float
    cue_first_text: bool


#: ``default``: the varied look of the tests and the Space examples. ``bold``: for the quickstart's 56 px faces,
#: where ``default``'s cues separating neutral, happiness and sadness are a pixel or two (docs/quickstart.md): a
#: head filling the canvas, thicker strokes, a larger mouth curve, no noise, blur or lighting, little rotation, and
#: reasoning that names the decisive cue first.
STYLES: dict[str, Style] = {
    "default": Style(
        head_height=(0.5, 0.85),
        max_angle=20.0,
        line=(0.08, 0.12),
        jitter=(0.85, 1.15),
        mouth_y=(0.42, 0.52),
        mouth_gain=1.0,
        noise=8.0,
        blur_chance=0.3,
        light=0.25,
        cue_first_text=False,
    ),
    "bold": Style(
        head_height=(0.86, 0.94),
        max_angle=6.0,
        line=(0.13, 0.16),
        jitter=(0.95, 1.05),
        mouth_y=(0.52, 0.58),
        mouth_gain=1.5,
        noise=0.0,
        blur_chance=0.0,
        light=0.0,
        cue_first_text=True,
    ),
}


def _stable_seed(*parts: object) -> int:
    """64-bit seed that is identical across processes and platforms."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _check(emotion: str) -> None:
    if emotion not in _SPECS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(SYNFER_EMOTIONS)}")


def _style(name: str) -> Style:
    if name not in STYLES:
        raise ValueError(f"unknown SynFER style {name!r}; expected one of {', '.join(STYLES)}")
    return STYLES[name]


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _plan(emotion: str, seed: int, style: str = "default") -> dict:
    """Sample every size-independent choice for one face.

    Two streams: the "person" (pose, proportions, colours, photometry) depends on
    ``seed`` only, the expression (style variants, extras, smirk side) on
    ``(emotion, seed)``. So one seed shows the same person under every emotion and
    pixels differ between emotions only where the expression is drawn. ``style`` sets the ranges (:data:`STYLES`).
    """
    _check(emotion)
    look = _style(style)
    expr = np.random.default_rng(_stable_seed("expression", emotion, seed))
    eyes, brows, mouths, extras = _SPECS[emotion]
    geom = {
        "eyes": eyes[expr.integers(len(eyes))],
        "brows": brows,
        "mouth": mouths[expr.integers(len(mouths))],
        "extras": tuple(name for name, p in extras.items() if expr.random() < p),
    }
    person = np.random.default_rng(_stable_seed("person", seed))
    half_h = person.uniform(*look.head_height) / 2  # head height as a share of the canvas
    aspect = person.uniform(1.05, 1.18)
    skin = np.clip(_SKINS[person.integers(len(_SKINS))] + person.uniform(-12, 12, 3), 0, 255)
    bg = person.uniform(0, 255, 3)
    while abs(_luma(bg) - _luma(skin)) < 45:  # keep the head outline visible in grayscale
        bg = person.uniform(0, 255, 3)
    return {
        "geometry": geom,
        "side": int(expr.choice((-1, 1))),  # which side an asymmetric feature uses
        "centre": person.uniform(half_h, 1 - half_h, 2),  # rotation keeps the head in this circle
        "u": half_h / aspect,
        "aspect": aspect,
        "angle": person.uniform(-look.max_angle, look.max_angle),
        "skin": tuple(int(c) for c in skin),
        "bg": tuple(int(c) for c in bg),
        "ink": tuple(int(c) for c in person.uniform(5, 35, 3)),  # dark enough for the darkest skin
        "line": person.uniform(*look.line),
        "eye_x": person.uniform(0.30, 0.42),
        "eye_y": person.uniform(-0.24, -0.12),
        "mouth_y": person.uniform(*look.mouth_y),
        "mouth_w": person.uniform(0.24, 0.34),
        "jitter": person.uniform(*look.jitter, 2),  # size jitter of eyes, mouth
        "noise": person.uniform(0, look.noise),
        "blur": person.uniform(0.002, 0.006) if person.random() < look.blur_chance else 0.0,
        "light": (person.uniform(0, look.light), person.uniform(0, 2 * math.pi)),
        "mouth_gain": look.mouth_gain,
    }


def geometry(emotion: str, seed: int) -> dict:
    """Describe the drawn features: ``{"eyes", "brows", "mouth", "extras"}`` as short phrases (the same in every
    style: a style changes how large they are drawn, not which)."""
    return dict(_plan(emotion, seed)["geometry"])


class _Pen:
    """Draws in face-local units on a supersampled canvas.

    The in-plane rotation is applied to coordinates rather than to the finished
    image: rotating a supersampled bitmap was the single most expensive step.
    """

    def __init__(self, draw: ImageDraw.ImageDraw, plan: dict, px: int, min_width: float):
        self.draw, self.plan = draw, plan
        self.cx, self.cy = plan["centre"] * px
        self.scale = plan["u"] * px
        angle = math.radians(plan["angle"])
        self.cos, self.sin = math.cos(angle) * self.scale, math.sin(angle) * self.scale
        self.width = max(1, round(max(plan["line"] * self.scale, min_width)))
        self.ink = plan["ink"]

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return self.cx + x * self.cos - y * self.sin, self.cy + x * self.sin + y * self.cos

    def stroke(self, pts: Sequence[tuple[float, float]], width: float = 1.0) -> None:
        """Ink polyline with round caps (PIL's line has square ends that look jagged)."""
        w = max(1, round(self.width * width))
        canvas_pts = [self.xy(x, y) for x, y in pts]
        self.draw.line(canvas_pts, fill=self.ink, width=w, joint="curve")
        for px, py in (canvas_pts[0], canvas_pts[-1]):
            self.draw.ellipse((px - w / 2, py - w / 2, px + w / 2, py + w / 2), fill=self.ink)

    def polygon(self, pts: Sequence[tuple[float, float]], fill, outline=None) -> None:
        self.draw.polygon([self.xy(x, y) for x, y in pts], fill=fill, outline=outline)

    def ellipse(self, x: float, y: float, rx: float, ry: float, fill, outline=None, width: float = 1.0) -> None:
        """Filled ellipse; an outline is drawn as a ring by filling a shrunken copy on top."""
        if outline:
            self.polygon(_ellipse_pts(x, y, rx, ry), fill=outline)
            border = max(1, round(self.width * width)) / self.scale
            rx, ry = rx - border, ry - border
        self.polygon(_ellipse_pts(x, y, rx, ry), fill=fill)


def _ellipse_pts(x: float, y: float, rx: float, ry: float, n: int = 48) -> list[tuple[float, float]]:
    angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return list(zip((x + rx * np.cos(angles)).tolist(), (y + ry * np.sin(angles)).tolist()))


def _curve(x0: float, x1: float, y, n: int = 12) -> list[tuple[float, float]]:
    """Sample ``y(t)`` for ``t`` in [-1, 1] between ``x0`` and ``x1``."""
    ts = np.linspace(-1, 1, n)
    return [(x0 + (x1 - x0) * (t + 1) / 2, float(y(t))) for t in ts]


def _drop(pen: _Pen, x: float, y: float, r: float) -> None:
    """Light-blue teardrop (used for tears and sweat), outlined so it survives grayscale."""
    pts = [(x, y - 2.2 * r)] + [(x + r * math.sin(a), y + r * math.cos(a)) for a in np.linspace(-2.2, 2.2, 12)]
    pen.polygon(pts, fill=(150, 210, 255), outline=(30, 90, 190))


def _draw_eyes(pen: _Pen, style: str) -> float:
    """Draw both eyes; return how far above the eye centre the eye reaches (for brow placement)."""
    p = pen.plan
    ex, ey, s = p["eye_x"], p["eye_y"], p["jitter"][0]
    skin = p["skin"]
    for x in (-ex, ex):
        if style == "wide open":
            pen.ellipse(x, ey, 0.19 * s, 0.19 * s, fill=(250, 250, 250), outline=pen.ink, width=0.6)
            pen.ellipse(x, ey, 0.065 * s, 0.065 * s, fill=pen.ink)
        elif style == "narrowed":  # squeezed shut into chevrons pointing at the nose: "> <"
            tip, back = x - math.copysign(0.1 * s, x), x + math.copysign(0.1 * s, x)
            pen.stroke([(tip, ey - 0.08 * s), (back, ey), (tip, ey + 0.08 * s)])
        elif style == "curved shut":
            pen.stroke(_curve(x - 0.12 * s, x + 0.12 * s, lambda t: ey + 0.03 - 0.09 * s * (1 - t * t), 7))
        elif style == "half-closed":
            pen.ellipse(x, ey, 0.11 * s, 0.13 * s, fill=pen.ink)
            pen.polygon([(x - 0.15, ey - 0.2), (x + 0.15, ey - 0.2), (x + 0.15, ey), (x - 0.15, ey)], fill=skin)
            pen.stroke([(x - 0.15 * s, ey), (x + 0.15 * s, ey)], width=1.1)
        elif style == "glaring":  # oval with its top cut off along a lid slanting down to the nose
            pen.ellipse(x, ey, 0.1 * s, 0.13 * s, fill=pen.ink)
            inner, outer = x - math.copysign(0.15, x), x + math.copysign(0.15, x)
            pen.polygon([(inner, ey - 0.2), (outer, ey - 0.2), (outer, ey - 0.1), (inner, ey + 0.01)], fill=skin)
        else:  # "open": emoji-style dark oval with a catch-light
            pen.ellipse(x, ey, 0.09 * s, 0.13 * s, fill=pen.ink)
            pen.ellipse(x - 0.03 * s, ey - 0.05 * s, 0.03 * s, 0.03 * s, fill=(255, 255, 255))
    return {"wide open": 0.19, "narrowed": 0.16, "curved shut": 0.06}.get(style, 0.13) * s


def _draw_brows(pen: _Pen, style: str, eye_top: float) -> None:
    p = pen.plan
    base = p["eye_y"] - eye_top - 0.14
    for side in (-1, 1):
        # An asymmetric brow is raised on the same side as the asymmetric mouth.
        lone = style == "one raised" and side != p["side"]
        inner, outer, arch, pull = _BROWS["relaxed" if lone else style]
        x_in, x_out = side * (0.12 + pull), side * (p["eye_x"] + 0.16)
        pts = _curve(x_in, x_out, lambda t: base - inner + (inner - outer) * (t + 1) / 2 - arch * (1 - t * t), 7)
        pen.stroke(pts)


def _draw_mouth(pen: _Pen, style: str) -> None:
    p = pen.plan
    m, w, s = p["mouth_y"], p["mouth_w"], p["jitter"][1] * p["mouth_gain"]
    ink, side = pen.ink, p["side"]
    if style == "corners up":
        pen.stroke(_curve(-w, w, lambda t: m + 0.14 * s * (1 - t * t)))
    elif style == "open, corners up":  # open grin: flat top with teeth, deep round bottom
        w *= 1.2
        top = _curve(-w, w, lambda t: m - 0.03 * t * t)
        bottom = _curve(w, -w, lambda t: m + 0.24 * s * math.sqrt(1 - t * t))
        pen.polygon(top + bottom, fill=(110, 30, 40), outline=ink)
        teeth = top + _curve(w * 0.8, -w * 0.8, lambda t: m + 0.06)
        pen.polygon(teeth, fill=(250, 250, 250))
        pen.stroke(top + bottom + top[:1], width=0.7)
    elif style == "corners down":
        pen.stroke(_curve(-w, w, lambda t: m + 0.04 - 0.14 * s * (1 - t * t)))
    elif style == "round open":
        pen.ellipse(0, m + 0.03, 0.13 * s, 0.18 * s, fill=(90, 20, 30), outline=ink, width=0.7)
    elif style == "teeth bared":
        w, h = w * 1.1, 0.15 * s
        angles = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        box = [
            (w * math.copysign(abs(cos) ** 0.3, cos), m + h * math.copysign(abs(sin) ** 0.3, sin))
            for cos, sin in zip(np.cos(angles), np.sin(angles))
        ]  # superellipse: a rounded rectangle
        pen.polygon(box, fill=(250, 250, 250))
        pen.stroke(box + box[:1], width=0.6)
        pen.stroke([(-w, m), (w, m)], width=0.35)
        for x in (-w / 3, w / 3):
            pen.stroke([(x, m - h), (x, m + h)], width=0.35)
    elif style == "stretched open":  # wide oval with a trembling (wavy) outline
        w *= 1.35
        pts = [
            (w * math.cos(a), m + 0.13 * s * math.sin(a) * (1 + 0.25 * math.sin(6 * a)))
            for a in np.linspace(0, 2 * math.pi, 32, endpoint=False)
        ]
        pen.polygon(pts, fill=(60, 15, 25), outline=ink)
    elif style == "wavy, one side of the upper lip raised":
        pen.stroke(_curve(-w, w, lambda t: m + 0.06 * math.sin(2 * math.pi * t) - 0.1 * side * t, 16))
    elif style == "one corner raised":
        pen.stroke(_curve(-w, w, lambda t: m - 0.18 * s * max(0.0, side * t) ** 2))
        pen.stroke([(side * w * 0.95, m - 0.27 * s), (side * w * 1.12, m - 0.14 * s)], width=0.6)  # dimple
    else:  # "straight"
        pen.stroke([(-w, m), (w, m)])


def _draw_extras(pen: _Pen, extras: tuple[str, ...]) -> None:
    p = pen.plan
    if "tear" in extras:
        _drop(pen, p["side"] * p["eye_x"], p["eye_y"] + 0.3, 0.06)
    if "sweat drop" in extras:
        _drop(pen, p["side"] * 0.68, -0.5, 0.07)
    if "nose wrinkles" in extras:
        for y in (-0.04, 0.05):
            pen.stroke(_curve(-0.1, 0.1, lambda t: y + 0.03 * t * t, 5), width=0.6)


def _render(plan: dict, px: int, min_width: float) -> Image.Image:
    """Draw the planned face on a ``px``-square canvas with strokes at least ``min_width`` wide."""
    img = Image.new("RGB", (px, px), plan["bg"])
    pen = _Pen(ImageDraw.Draw(img), plan, px, min_width)
    geom, skin = plan["geometry"], plan["skin"]
    outline = tuple(int(c * 0.55) for c in skin)
    pen.ellipse(0, 0, 1.0, plan["aspect"], fill=skin, outline=outline, width=0.8)
    if "rosy cheeks" in geom["extras"]:
        blush = tuple(int(0.5 * c + 0.5 * b) for c, b in zip(skin, (255, 110, 130)))
        for x in (-0.55, 0.55):
            pen.ellipse(x, plan["eye_y"] + 0.32, 0.14, 0.09, fill=blush)
    eye_top = _draw_eyes(pen, geom["eyes"])
    _draw_brows(pen, geom["brows"], eye_top)
    pen.stroke(_curve(-0.06, 0.06, lambda t: 0.16 + 0.04 * (1 - t * t), 5), width=0.7)  # nose
    _draw_mouth(pen, geom["mouth"])
    _draw_extras(pen, geom["extras"])
    return img


def _photometric(img: Image.Image, plan: dict, rng: np.random.Generator) -> Image.Image:
    """Blur, a linear lighting ramp and Gaussian pixel noise, all at the output size.

    Noise is per pixel but shared by the channels (luma noise): drawing a third as
    many normals is the cheapest way to keep a face well under 10 ms.
    """
    size = img.width
    if plan["blur"]:
        img = img.filter(ImageFilter.BoxBlur(plan["blur"] * size))
    strength, direction = plan["light"]
    ramp = np.linspace(-strength, strength, size, dtype=np.float32)
    light = 1 + math.cos(direction) * ramp[None, :] + math.sin(direction) * ramp[:, None]
    noise = rng.standard_normal((size, size), dtype=np.float32) * np.float32(plan["noise"])
    arr = np.array(img, dtype=np.float32)  # in-place maths below: temporaries cost more than the arithmetic
    if arr.ndim == 3:
        light, noise = light[..., None], noise[..., None]
    arr *= light
    arr += noise
    return Image.fromarray(np.clip(arr, 0, 255, out=arr).astype(np.uint8), img.mode)


def draw_face(emotion: str, seed: int, size: int = 224, *, mode: str = "RGB", style: str = "default") -> Image.Image:
    """Draw one ``size``x``size`` face showing ``emotion``; identical output for identical arguments.

    ``seed`` picks the person (pose, colours, proportions, noise), shared by all
    emotions. ``mode`` is ``"RGB"`` or ``"L"`` (grayscale, as in FER2013/FERPlus).
    ``style`` is a name in :data:`STYLES` (``"bold"``: the quickstart's small faces).
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    plan = _plan(emotion, seed, style)
    factor = max(2, math.ceil(_MIN_SUPERSAMPLED_PX / size))  # integer factor: reduce() is a cheap box filter
    # Strokes of at least 1.25 output pixels: thinner ones fade into noise at FER2013-like 48 px.
    img = _render(plan, size * factor, 1.25 * factor).reduce(factor)
    if mode == "L":
        img = img.convert("L")  # before the photometric step, which then touches one channel
    return _photometric(img, plan, np.random.default_rng(_stable_seed("noise", seed, size, mode)))


def item_seed(seed: int, index: int) -> int:
    """Seed of item ``index`` in the stream ``iter_faces(..., seed=seed)`` (for ``describe``/``geometry``)."""
    return _stable_seed("item", seed, index)


def iter_faces(
    n_per_class: int,
    seed: int = 0,
    size: int = 224,
    emotions: Sequence[str] = SYNFER_EMOTIONS,
    mode: str = "RGB",
    style: str = "default",
) -> Iterator[tuple[int, str, Image.Image]]:
    """Yield ``(index, emotion, image)`` cycling through ``emotions`` ``n_per_class`` times.

    Item ``index`` is drawn with ``item_seed(seed, index)``, so streams with
    different ``seed`` (e.g. train=0, test=1) share no faces.
    """
    for emotion in emotions:
        _check(emotion)
    for index in range(n_per_class * len(emotions)):
        emotion = emotions[index % len(emotions)]
        yield index, emotion, draw_face(emotion, item_seed(seed, index), size, mode=mode, style=style)


# Alternative phrasings per geometry value; none names the expression itself, so
# the text can serve as reasoning that precedes the answer.
_PHRASES: dict[str, tuple[str, ...]] = {
    "open": ("the eyes are open", "the eyes are open and steady"),
    "glaring": (
        "the eyes glare, their upper lids pressed down toward the nose",
        "the eyes are hard and narrowed under tense upper lids",
    ),
    "curved shut": (
        "the eyes are squeezed into upward-curving arcs",
        "the eyes close into crescent shapes as the cheeks push up",
    ),
    "wide open": (
        "the eyes are opened wide, showing white all around the pupils",
        "the eyes are large and round with small pupils",
    ),
    "narrowed": ("the eyes are squeezed into tight squints", "the eyes are screwed nearly shut"),
    "half-closed": (
        "the upper eyelids droop halfway over the eyes",
        "the eyes are half-lidded, giving a heavy-lidded look",
    ),
    "relaxed": ("the eyebrows rest flat and relaxed", "the brows lie level without tension"),
    "gently arched": ("the eyebrows are softly arched", "the brows lift slightly in a gentle curve"),
    "inner ends raised": (
        "the inner ends of the eyebrows are pulled up while the outer ends slope down",
        "the brows tilt upward toward the middle of the forehead",
    ),
    "raised high and arched": (
        "the eyebrows are raised high in rounded arches",
        "the brows shoot up, curved high above the eyes",
    ),
    "drawn down toward the centre": (
        "the eyebrows are pulled down and together into a V",
        "the brows slant sharply down toward the nose",
    ),
    "raised and pulled together": (
        "the eyebrows are lifted and drawn together, the inner ends highest",
        "the brows rise and bunch toward the centre of the forehead",
    ),
    "lowered": ("the eyebrows are lowered over the eyes", "the brows press down toward the eyes"),
    "one raised": ("one eyebrow is raised while the other stays level", "the brows are uneven, with only one lifted"),
    "straight": ("the mouth is a straight, level line", "the lips are closed in a flat horizontal line"),
    "corners up": ("the mouth corners turn up in a curved arc", "both corners of the lips are lifted upward"),
    "open, corners up": (
        "the mouth is open wide with the corners pulled up, showing the upper teeth",
        "the lips part in a broad upturned curve that reveals the teeth",
    ),
    "corners down": ("the mouth corners turn down", "the lips curve downward at both ends"),
    "round open": ("the mouth hangs open in a round O shape", "the jaw drops, leaving a small round opening"),
    "teeth bared": (
        "the lips are pulled back to show clenched teeth",
        "the mouth is a tense rectangle of bared, clenched teeth",
    ),
    "stretched open": (
        "the mouth is stretched open sideways with trembling lips",
        "the lips pull wide and horizontal around an open mouth",
    ),
    "wavy, one side of the upper lip raised": (
        "the mouth twists into a wavy line with the upper lip raised on one side",
        "the lips are crooked and wavy, one side of the upper lip curling up",
    ),
    "one corner raised": (
        "only one corner of the mouth is raised, the other stays flat",
        "the mouth is lopsided, lifted on a single side",
    ),
    "rosy cheeks": ("the cheeks are raised and flushed", "the cheeks lift and glow pink"),
    "tear": ("a tear runs down one cheek", "a teardrop sits below one eye"),
    "sweat drop": ("a bead of sweat appears on the forehead", "a drop of sweat hangs at the temple"),
    "nose wrinkles": ("the nose is wrinkled", "creases bunch up across the bridge of the nose"),
}

_CLOSINGS = (
    "Taken together, these cues point to one clear expression.",
    "These facial action cues are consistent with a single expression.",
    "Reading the mouth, eyes and brows together identifies the expression.",
)


# The cue-first reasoning's opening: one phrase per drawn mouth, each starting "the mouth", so that the words
# that tell the expressions apart come right after it, and decoding cannot commit to a phrasing shared by several.
_MOUTH_FIRST: dict[str, str] = {
    "straight": "the mouth is a straight, level line",
    "corners up": "the mouth curves up at both corners, lips closed",
    "open, corners up": "the mouth curves up at both corners, open over the teeth",
    "corners down": "the mouth curves down at both corners",
    "round open": "the mouth is a small round O",
    "teeth bared": "the mouth is a tense rectangle of bared teeth",
    "stretched open": "the mouth is stretched wide open, its lips trembling",
    "wavy, one side of the upper lip raised": "the mouth is a wavy line, the upper lip raised on one side",
    "one corner raised": "the mouth is raised at one corner only",
}


def describe(emotion: str, seed: int, style: str = "default") -> str:
    """Two-to-three-sentence reasoning about the drawn features, without naming the expression.

    The ``default`` style varies the phrasing and the order (mouth or eyes first); a style with ``cue_first_text``
    (``bold``) always opens with the mouth, the cue that decides between the SynFER expressions, in one phrase per
    drawn mouth, then the eyes and brows.
    """
    geom = geometry(emotion, seed)
    if _style(style).cue_first_text:
        rest = f"{_PHRASES[geom['eyes']][0]}, and {_PHRASES[geom['brows']][0]}"
        if geom["extras"]:
            rest += "; " + " and ".join(_PHRASES[extra][0] for extra in geom["extras"])
        mouth = _MOUTH_FIRST[geom["mouth"]]
        return f"{mouth[0].upper()}{mouth[1:]}. {rest[0].upper()}{rest[1:]}."
    rng = np.random.default_rng(_stable_seed("text", emotion, seed))

    def say(key: str) -> str:
        options = _PHRASES[key]
        return options[rng.integers(len(options))]

    upper = f"{say(geom['eyes'])}, and {say(geom['brows'])}"
    lower = say(geom["mouth"])
    if geom["extras"]:
        lower += "; " + " and ".join(say(e) for e in geom["extras"])
    first, second = (lower, upper) if rng.random() < 0.5 else (upper, lower)
    return f"{first[0].upper()}{first[1:]}. {second[0].upper()}{second[1:]}. {_CLOSINGS[rng.integers(len(_CLOSINGS))]}"


def save_grid(
    path: str | Path,
    emotions: Sequence[str] = SYNFER_EMOTIONS,
    per_class: int = 6,
    size: int = 96,
    seed: int = 0,
    *,
    mode: str = "RGB",
    style: str = "default",
) -> Image.Image:
    """Write a PNG with one labelled row per emotion (the first items of ``iter_faces``) and return it."""
    font = ImageFont.load_default(size=max(10, min(size // 4, 20)))
    label_w = max(round(font.getlength(e)) for e in emotions) + 12
    pad = 4
    grid = Image.new(mode, (label_w + per_class * (size + pad), len(emotions) * (size + pad)), "white")
    draw = ImageDraw.Draw(grid)
    for index, emotion, face in iter_faces(per_class, seed, size, emotions, mode, style):
        row, col = index % len(emotions), index // len(emotions)
        top = row * (size + pad)
        grid.paste(face, (label_w + col * (size + pad), top))
        draw.text((6, top + size / 2), emotion, fill="black", font=font, anchor="lm")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return grid
