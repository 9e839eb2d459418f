"""A PNG bar chart of the run, with no plotting library.

matplotlib would be a heavy new dependency for one chart, so this draws the
bars into an RGB buffer with a built-in 5x7 bitmap font and encodes the PNG
with zlib: transfers per second at the top concurrency for each scenario, the
uniform and the hot pattern side by side, each bar labelled with its value.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

# 5x7 glyphs (9 rows for descenders), rows top to bottom, '#' is ink. Upper case is
# drawn as lower case.
_GLYPHS: dict[str, str] = {
    "a": "...../...../.###./....#/.####/#...#/.####",
    "b": "#..../#..../#.##./##..#/#...#/#...#/####.",
    "c": "...../...../.###./#..../#..../#...#/.###.",
    "d": "....#/....#/.##.#/#..##/#...#/#...#/.####",
    "e": "...../...../.###./#...#/#####/#..../.###.",
    "f": "..##./.#..#/.#.../###../.#.../.#.../.#...",
    "g": "...../...../.####/#...#/#...#/#...#/.####/....#/.###.",
    "h": "#..../#..../#.##./##..#/#...#/#...#/#...#",
    "i": "..#../...../.##../..#../..#../..#../.###.",
    "j": "...#./...../..##./...#./...#./...#./...#./#..#./.##..",
    "k": "#..../#..../#..#./#.#../##.../#.#../#..#.",
    "l": ".##../..#../..#../..#../..#../..#../.###.",
    "m": "...../...../##.#./#.#.#/#.#.#/#...#/#...#",
    "n": "...../...../#.##./##..#/#...#/#...#/#...#",
    "o": "...../...../.###./#...#/#...#/#...#/.###.",
    "p": "...../...../####./#...#/#...#/#...#/####./#..../#....",
    "q": "...../...../.####/#...#/#...#/#...#/.####/....#/....#",
    "r": "...../...../#.##./##..#/#..../#..../#....",
    "s": "...../...../.###./#..../.###./....#/####.",
    "t": ".#.../.#.../###../.#.../.#.../.#..#/..##.",
    "u": "...../...../#...#/#...#/#...#/#..##/.##.#",
    "v": "...../...../#...#/#...#/#...#/.#.#./..#..",
    "w": "...../...../#...#/#...#/#.#.#/#.#.#/.#.#.",
    "x": "...../...../#...#/.#.#./..#../.#.#./#...#",
    "y": "...../...../#...#/#...#/#...#/#...#/.####/....#/.###.",
    "z": "...../...../#####/...#./..#../.#.../#####",
    "0": ".###./#...#/#..##/#.#.#/##..#/#...#/.###.",
    "1": "..#../.##../..#../..#../..#../..#../.###.",
    "2": ".###./#...#/....#/...#./..#../.#.../#####",
    "3": "#####/...#./..#../...#./....#/#...#/.###.",
    "4": "...#./..##./.#.#./#..#./#####/...#./...#.",
    "5": "#####/#..../####./....#/....#/#...#/.###.",
    "6": "..##./.#.../#..../####./#...#/#...#/.###.",
    "7": "#####/....#/...#./..#../.#.../.#.../.#...",
    "8": ".###./#...#/#...#/.###./#...#/#...#/.###.",
    "9": ".###./#...#/#...#/.####/....#/...#./.##..",
    ".": "...../...../...../...../...../.##../.##..",
    ",": "...../...../...../...../.##../..#../.#...",
    "-": "...../...../...../#####/...../...../.....",
    "_": "...../...../...../...../...../...../#####",
    "/": "...../....#/...#./..#../.#.../#..../.....",
    "(": "...#./..#../.#.../.#.../.#.../..#../...#.",
    ")": ".#.../..#../...#./...#./...#./..#../.#...",
    ":": "...../.##../.##../...../.##../.##../.....",
    "=": "...../...../#####/...../#####/...../.....",
    " ": "...../...../...../...../...../...../.....",
}

WHITE = (255, 255, 255)
BLACK = (30, 30, 30)
GREY = (200, 200, 200)
COLOURS = {"uniform": (66, 114, 196), "hot": (237, 125, 49)}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(WHITE) * width * height)

    def rect(self, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
        for row in range(max(0, y), min(self.height, y + h)):
            start = (row * self.width + max(0, x)) * 3
            end = (row * self.width + min(self.width, x + w)) * 3
            if end > start:
                self.pixels[start:end] = bytes(colour) * ((end - start) // 3)

    def text(
        self, x: int, y: int, value: str, scale: int = 2, colour: tuple[int, int, int] = BLACK
    ) -> int:
        """Draw `value` with its top-left at (x, y); returns the x after it."""
        for char in value.lower():
            glyph = _GLYPHS.get(char, _GLYPHS[" "])
            for row, bits in enumerate(glyph.split("/")):
                for column, bit in enumerate(bits):
                    if bit == "#":
                        self.rect(x + column * scale, y + row * scale, scale, scale, colour)
            x += 6 * scale
        return x

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[row * self.width * 3 : (row + 1) * self.width * 3])
            for row in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def text_width(value: str, scale: int = 2) -> int:
    return len(value) * 6 * scale


def render(report: dict[str, Any], labels: dict[str, str]) -> bytes:
    """tps per scenario at the top concurrency, uniform and hot bars side by side."""
    results = report["results"]
    top = max((r["concurrency"] for r in results), default=1)
    rows: list[tuple[str, dict[str, float]]] = []
    for scenario, label in labels.items():
        values = {
            r["mode"]: r["tps"]
            for r in results
            if r["scenario"] == scenario and r["concurrency"] == top
        }
        if values:
            rows.append((label, values))
    label_width = max((text_width(label) for label, _ in rows), default=100) + 24
    width, bar_area, row_height = 1000, 0, 46
    bar_area = width - label_width - 110
    height = 90 + row_height * max(1, len(rows)) + 20
    canvas = Canvas(width, height)
    canvas.text(16, 14, f"transfers (transactions) per second, {top} clients", scale=2)
    legend_x = 16
    for mode, colour in COLOURS.items():
        canvas.rect(legend_x, 44, 16, 14, colour)
        legend_x = canvas.text(legend_x + 24, 45, mode) + 20
    peak = max((v for _, values in rows for v in values.values()), default=1.0) or 1.0
    y = 80
    canvas.rect(label_width, 72, 1, row_height * len(rows) + 8, GREY)
    for label, values in rows:
        canvas.text(12, y + 12, label)
        for offset, mode in enumerate(("uniform", "hot")):
            if mode not in values:
                continue
            length = max(1, int(bar_area * values[mode] / peak))
            bar_y = y + offset * 19
            canvas.rect(label_width + 1, bar_y, length, 16, COLOURS[mode])
            canvas.text(label_width + length + 8, bar_y + 1, f"{values[mode]:,.0f}")
        y += row_height
    return canvas.png()


def write(report: dict[str, Any], labels: dict[str, str], path: Path) -> None:
    path.write_bytes(render(report, labels))
