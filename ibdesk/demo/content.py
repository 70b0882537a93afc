"""Synthetic but realistic content for demo clinics: Swedish names and real media files.

The files are made in memory (numpy + Pillow + wave) so the demo needs no data set: X-ray
like 8- and 16-bit grayscale images, colour photos, a short WAV and a one-page PDF.
"""

from __future__ import annotations

import io
import math
import random
import wave
from dataclasses import dataclass

import numpy as np
from PIL import Image

FEMALE = (
    "Anna",
    "Eva",
    "Maria",
    "Karin",
    "Kristina",
    "Lena",
    "Sara",
    "Emma",
    "Ingrid",
    "Märta",
    "Åsa",
    "Birgitta",
    "Elsa",
    "Linnéa",
    "Ebba",
    "Maja",
    "Astrid",
    "Sofia",
    "Agnes",
    "Ylva",
    "Göta",
    "Malin",
    "Britt-Marie",
    "Alice",
    "Saga",
)
MALE = (
    "Lars",
    "Erik",
    "Anders",
    "Johan",
    "Per",
    "Karl",
    "Nils",
    "Björn",
    "Mikael",
    "Göran",
    "Åke",
    "Sören",
    "Olof",
    "Oskar",
    "Hugo",
    "Lucas",
    "William",
    "Elias",
    "Ture",
    "Jöns",
    "Mattias",
    "Leif",
    "Sven-Åke",
    "Noah",
    "Ali",
)
LAST = (
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Jönsson",
    "Lindberg",
    "Öberg",
    "Åberg",
    "Ström",
    "Söderström",
    "Hägglund",
    "Ågren",
    "Lindqvist",
    "Björk",
    "Sjöberg",
    "Wallin",
    "Engström",
    "Nyström",
    "Holmström",
    "Åkesson",
    "Östlund",
    "Mäkinen",
    "Al-Hassan",
    "Nguyen",
)
STREETS = (
    "Storgatan",
    "Kyrkogatan",
    "Drottninggatan",
    "Skolvägen",
    "Björkvägen",
    "Ängsvägen",
    "Strandvägen",
    "Östra Långgatan",
    "Södra Vägen",
    "Järnvägsgatan",
    "Fältvägen",
    "Åsvägen",
    "Sjögatan",
    "Tallstigen",
    "Kvarngatan",
)
CITIES = (
    ("Stockholm", "11"),
    ("Göteborg", "41"),
    ("Malmö", "21"),
    ("Uppsala", "75"),
    ("Västerås", "72"),
    ("Örebro", "70"),
    ("Linköping", "58"),
    ("Umeå", "90"),
    ("Jönköping", "55"),
    ("Luleå", "97"),
    ("Östersund", "83"),
    ("Växjö", "35"),
)
SET_DESCRIPTIONS = (
    "Årskontroll",
    "Akutbesök",
    "Rotbehandling",
    "Kariesutredning",
    "Tandreglering",
    "Implantat, uppföljning",
    "Parodontal status",
    "Helstatus",
    "Visdomstand 38",
    "Estetisk konsultation",
)
COMMENTS = (
    "",
    "",
    "",
    "Karies distalt",
    "Apikal uppklarning",
    "Fraktur?",
    "Kontroll",
    "Bettfel",
    "Före behandling",
    "Efter behandling",
    "Rotfyllning 46",
)
NOTES = (
    "",
    "",
    "",
    "Tandvårdsrädd",
    "Allergi: latex",
    "Blodförtunnande medicin",
    "Behöver tolk (arabiska)",
    "Föredrar morgontider",
)


@dataclass(frozen=True)
class MadeFile:
    """A media file made in memory."""

    data: bytes
    extension: str
    width: int | None = None
    height: int | None = None
    bit_depth: int | None = None


def _xray(rng: random.Random, width: int, height: int, bits: int, teeth: int) -> np.ndarray:
    nprng = np.random.default_rng(rng.getrandbits(32))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = 0.15 + 0.1 * (y / height)
    for i in range(teeth):
        cx = width * (i + 0.5 + rng.uniform(-0.1, 0.1)) / teeth
        cy = height * rng.uniform(0.45, 0.55)
        rx, ry = width / teeth * 0.38, height * rng.uniform(0.32, 0.42)
        tooth = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
        image = np.where(tooth, 0.55 + 0.25 * np.exp(-(((x - cx) / rx) ** 2)), image)
        pulp = ((x - cx) / (rx * 0.25)) ** 2 + ((y - cy) / (ry * 0.7)) ** 2 < 1
        image = np.where(pulp, image - 0.25, image)
    image = image + nprng.normal(0, 0.03, image.shape)
    top = (1 << bits) - 1
    dtype = np.uint16 if bits > 8 else np.uint8
    return np.clip(image * top, 0, top).astype(dtype)


def xray_png(rng: random.Random, *, panoramic: bool) -> MadeFile:
    """Make an X-ray-like PNG: intraoral 16-bit (12 bits used) or panoramic 8-bit."""
    if panoramic:
        width, height, bits, teeth = 1024, 512, 8, 16
    else:
        width, height = rng.choice(((640, 480), (480, 640)))
        bits, teeth = 16, 3
    pixels = _xray(rng, width, height, 12 if bits == 16 else 8, teeth)
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return MadeFile(buffer.getvalue(), "png", width, height, bits)


def photo_jpeg(rng: random.Random) -> MadeFile:
    """Make an intraoral-photo-like colour JPEG."""
    width, height = 800, 600
    nprng = np.random.default_rng(rng.getrandbits(32))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    gum = np.stack([180 + 40 * np.sin(x / 90), 70 + 20 * np.cos(y / 70), 80 + 0 * x], axis=-1)
    mouth = ((x - width / 2) / (width * 0.42)) ** 2 + ((y - height / 2) / (height * 0.3)) ** 2 < 1
    teeth = mouth & (np.abs(y - height / 2) < height * 0.12)
    rgb = np.where(teeth[..., None], np.array([235, 228, 205], dtype=np.float32), gum)
    rgb = rgb + nprng.normal(0, 6, rgb.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return MadeFile(buffer.getvalue(), "jpg", width, height, 8)


def wav_note(rng: random.Random) -> MadeFile:
    """Make a short spoken-note-like WAV (a few tones, 8 kHz mono)."""
    rate, seconds = 8000, rng.uniform(1.0, 2.0)
    pitch = rng.uniform(180, 260)
    samples = bytearray()
    for i in range(int(rate * seconds)):
        value = int(
            9000
            * math.sin(2 * math.pi * pitch * i / rate)
            * math.sin(math.pi * i / (rate * seconds))
        )
        samples += value.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(samples))
    return MadeFile(buffer.getvalue(), "wav")


def pdf_document(rng: random.Random, title: str) -> MadeFile:
    """Make a one-page PDF (a scanned-referral look) with Pillow."""
    page = Image.new("L", (620, 877), 250)
    pixels = np.array(page)
    for row in range(120, 800, 28):
        length = rng.randint(300, 520)
        pixels[row : row + 6, 50 : 50 + length] = 60
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PDF", title=title, resolution=72.0)
    return MadeFile(buffer.getvalue(), "pdf")
