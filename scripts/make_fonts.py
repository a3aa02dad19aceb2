"""Make the small plate fonts shipped in synth/fonts/ (run once; the results are committed).

Sources (Debian packages): fonts-dejavu-core (DejaVu Sans Condensed Bold, Bitstream Vera
licence) and fonts-noto-cjk (Noto Sans CJK SC Bold, SIL Open Font License 1.1). Only the
glyphs plates need are kept, so the files stay a few tens of KB.

    apt-get install -y fonts-dejavu-core fonts-noto-cjk
    .venv/bin/pip install fonttools
    .venv/bin/python scripts/make_fonts.py
"""

from __future__ import annotations

import string
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

OUT = Path(__file__).resolve().parent.parent / "synth" / "fonts"
LATIN_SRC = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf")
CJK_SRC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
# Province abbreviations of Chinese plates plus special-use characters.
CJK_CHARS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼警学使领港澳挂"
LATIN_CHARS = string.ascii_letters + string.digits + " -.·'"


def _subset(font: TTFont, chars: str, out: Path) -> None:
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    font.save(out)
    print(f"{out.name}: {out.stat().st_size / 1024:.0f} KB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    _subset(TTFont(LATIN_SRC), LATIN_CHARS, OUT / "plate-latin.ttf")
    collection = TTCollection(CJK_SRC)
    sc = next(f for f in collection.fonts if "SC" in f["name"].getDebugName(1))
    _subset(sc, CJK_CHARS + string.ascii_uppercase + string.digits, OUT / "plate-cjk.otf")


if __name__ == "__main__":
    main()
