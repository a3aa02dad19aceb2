"""Licence-plate text formats per region, and confusion-aware correction of OCR reads.

A format is a plain regular expression that must match the WHOLE plate text once it is
normalised (upper case, no spaces, dashes, dots or other separators): ``fr`` SIV plates are
``[A-HJ-NP-TV-Z]{2}[0-9]{3}[A-HJ-NP-TV-Z]{2}``, so ``AB-123-CD`` matches as ``AB123CD``.
Patterns use ``(?:...)`` groups only, so users can write their own in a YAML config and all
formats of a list can be tried in one regex call.

OCR engines confuse letters and digits of similar shape (``O``/``0``, ``S``/``5`` ...).
:func:`correct` swaps such characters for their counterparts until a format matches: fewest
swaps first, then the least confident characters first. A swap only helps where a format
demands a letter where a digit was read (or the reverse), so a correction never touches
characters the format accepts as they are.

Example:
    >>> formats = formats_for(["hr"])
    >>> correct("RK0S5AN", (0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9), formats)
    FormatMatch(text='RK055AN', chars=(0.9, 0.9, 0.9, 0.45, 0.9, 0.9, 0.9), region='hr', swaps=1)
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

# A swapped character keeps this share of its confidence: the OCR read another character
# there, so the corrected one is less certain than the read, but the format vouches for its
# class (letter or digit).
SWAP_FACTOR = 0.9

# (letter, digit) pairs that OCR engines are commonly known to confuse (shapes differing by a
# stroke or a corner). E/3 and T/7 are left out: rarer, and every pair added widens the
# search and the chance of a wrong correction. Per digit, letters are listed most likely first
# (a 0 is more often an O than a D or a Q); that order breaks ties between corrections.
CONFUSIONS: tuple[tuple[str, str], ...] = (
    ("O", "0"),
    ("D", "0"),
    ("Q", "0"),
    ("I", "1"),
    ("L", "1"),
    ("T", "1"),
    ("Z", "2"),
    ("A", "4"),
    ("S", "5"),
    ("G", "6"),
    ("B", "8"),
)


def _counterparts(pairs: Sequence[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Map each confusable character to the characters it may really be, most likely first."""
    out: dict[str, tuple[str, ...]] = {}
    for letter, digit in pairs:
        out[letter] = (*out.get(letter, ()), digit)
        out[digit] = (*out.get(digit, ()), letter)
    return out


_COUNTERPARTS = _counterparts(CONFUSIONS)

# Separators dropped by normalise(), besides whitespace, controls, format characters (zero
# widths) and every Unicode dash (category Pd): dots and middle dots as printed on plates
# (CN 皖A·Y339S), and punctuation OCR engines emit for gaps.
_SEPARATORS = frozenset("._·•∙⋅・‧/\\:,;'\"`")
_DROPPED_CATEGORIES = frozenset({"Pd", "Zs", "Zl", "Zp", "Cc", "Cf"})


def _pl_series(shape: str) -> str:
    """Regex of a Polish series shape (``9`` a digit, ``X`` a letter other than B D I O Z).

    Polish series never use B, D, I, O and Z, because they look like digits.
    """
    return "".join("[0-9]" if c == "9" else "[ACEFGHJKLMNPRSTUVWXY]" for c in shape)


_CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_CN_LETTER = "[A-HJ-NP-Z]"  # I and O are not used
_CN_CHAR = "[A-HJ-NP-Z0-9]"

# Region code -> full-match regexes of its standard passenger-car plates (current formats
# and older ones still on the road). Sources: the Wikipedia articles "Vehicle registration
# plates of <country>" and the national rules they cite. Diplomatic, military, trade and
# personalised plates are left out unless noted: they would make every format accept almost
# anything, and then no read would ever be corrected.
DEFAULT_FORMATS: dict[str, tuple[str, ...]] = {
    # Germany (FZV): area code 1-3 letters (umlauts occur: TÜ, MÜ), 1-2 letters, 1-4 digits
    # without a leading 0, optional E (electric) or H (historic); at most 8 characters
    # before the E/H.
    "de": (r"(?=[A-ZÄÖÜ0-9]{2,8}[EH]?\Z)[A-ZÄÖÜ]{1,3}[A-Z]{1,2}[1-9][0-9]{0,3}[EH]?",),
    # France: SIV since 2009, AB-123-CD without I, O, U; FNI (1950-2009) 1234 AB 75, still on
    # older cars: number, 1-3 letters, department 01-95, 2A/2B (Corsica) or 971-976.
    "fr": (
        "[A-HJ-NP-TV-Z]{2}[0-9]{3}[A-HJ-NP-TV-Z]{2}",
        "[0-9]{1,4}[A-Z]{1,3}(?:[0-9]{2}|2[AB]|97[1-6])",
    ),
    # Italy since 1994: AB 123 CD without I, O, Q, U.
    "it": ("[A-HJ-NPR-TV-Z]{2}[0-9]{3}[A-HJ-NPR-TV-Z]{2}",),
    # Spain: since 2000 1234 BCD (consonants only, no Ñ or Q); provincial M-1234-AB (1971-2000).
    "es": ("[0-9]{4}[BCDFGHJKLMNPRSTVWXYZ]{3}", "[A-Z]{1,2}[0-9]{4}[A-Z]{1,2}"),
    # Netherlands: RDW sidecodes 1-14, six characters each.
    "nl": (
        "[A-Z]{2}[0-9]{4}",  # 1  XX-99-99
        "[0-9]{4}[A-Z]{2}",  # 2  99-99-XX
        "[0-9]{2}[A-Z]{2}[0-9]{2}",  # 3  99-XX-99
        "[A-Z]{2}[0-9]{2}[A-Z]{2}",  # 4  XX-99-XX
        "[A-Z]{4}[0-9]{2}",  # 5  XX-XX-99
        "[0-9]{2}[A-Z]{4}",  # 6  99-XX-XX
        "[0-9]{2}[A-Z]{3}[0-9]",  # 7  99-XXX-9
        "[0-9][A-Z]{3}[0-9]{2}",  # 8  9-XXX-99
        "[A-Z]{2}[0-9]{3}[A-Z]",  # 9  XX-999-X
        "[A-Z][0-9]{3}[A-Z]{2}",  # 10 X-999-XX
        "[A-Z]{3}[0-9]{2}[A-Z]",  # 11 XXX-99-X
        "[A-Z][0-9]{2}[A-Z]{3}",  # 12 X-99-XXX
        "[0-9][A-Z]{2}[0-9]{3}",  # 13 9-XX-999
        "[0-9]{3}[A-Z]{2}[0-9]",  # 14 999-XX-9
    ),
    # Belgium: since 2010 1-ABC-123; before, ABC-123 (1973-2008) and 123-ABC (2008-2010).
    "be": ("[1-9][A-Z]{3}[0-9]{3}", "[A-Z]{3}[0-9]{3}", "[0-9]{3}[A-Z]{3}"),
    # Poland since 2000: a 2-letter area code and 5 characters starting with a digit, or a
    # 3-letter code and 4-5 characters; the series patterns of the regulation.
    "pl": (
        "[A-Z]{2}(?:" + "|".join(map(_pl_series, ("99999", "9999X", "999XX", "9X999", "9XX99"))) + ")",
        "[A-Z]{3}(?:"
        + "|".join(
            map(
                _pl_series,
                ("X999", "99XX", "9X99", "99X9", "9XX9", "XX99", "99999", "9999X", "999XX", "9X999", "9XX99"),
            )
        )
        + ")",
    ),
    # Czechia since 2001: 1A2 3456 (digit, region letter, letter or digit, 4 digits).
    "cz": ("[1-9][A-Z][A-Z0-9][0-9]{4}",),
    # Slovakia: BA-123AB (district code until 2022, national series since 2023, same shape).
    "sk": ("[A-Z]{2}[0-9]{3}[A-Z]{2}",),
    # Austria: district code 1-2 letters, then digits + letters (W 12345 A, GU 123 AB) or,
    # personalised, letters + digits (W MAX 1).
    "at": ("[A-Z]{1,2}[0-9]{1,5}[A-Z]{1,3}", "[A-Z]{1,2}[A-Z]{1,5}[0-9]{1,3}"),
    # Croatia: city code (ZG, ST, ČK, ŠI, PŽ, ĐA ...), 3-4 digits, 1-2 letters.
    "hr": ("[A-ZČĆĐŠŽ]{2}[0-9]{3,4}[A-Z]{1,2}",),
    # Slovenia: one of 11 area codes, then up to 6 letters and digits without O (standard
    # series and personalised ones share the block).
    "si": ("(?:CE|GO|KK|KP|KR|LJ|MB|MS|NM|PO|SG)[A-NP-Z0-9]{3,6}",),
    # Hungary: ABC-123 (1990-2022), AA AA-123 since 2022.
    "hu": ("[A-Z]{3}[0-9]{3}", "[A-Z]{4}[0-9]{3}"),
    # Romania: county code, 2 digits (Bucharest: 2-3), 3 letters.
    "ro": (
        "(?:AB|AG|AR|B|BC|BH|BN|BR|BT|BV|BZ|CJ|CL|CS|CT|CV|DB|DJ|GJ|GL|GR|HD|HR|IF|IL|IS|MH|MM"
        "|MS|NT|OT|PH|SB|SJ|SM|SV|TL|TM|TR|VL|VN|VS)[0-9]{2}[A-Z]{3}",
        "B[0-9]{3}[A-Z]{3}",
    ),
    # Portugal: AA-00-AA since 2020; 00-AA-00 (2005), 00-00-AA (1992), AA-00-00 (before).
    "pt": ("[A-Z]{2}[0-9]{2}[A-Z]{2}", "[0-9]{2}[A-Z]{2}[0-9]{2}", "[0-9]{4}[A-Z]{2}", "[A-Z]{2}[0-9]{4}"),
    # United Kingdom: AB12 CDE since 2001; prefix A123 BCD (1983-2001); suffix ABC 123D
    # (1963-1983); Northern Ireland ABZ 1234.
    "gb": (
        "[A-Z]{2}[0-9]{2}[A-Z]{3}",
        "[A-Z][0-9]{1,3}[A-Z]{3}",
        "[A-Z]{3}[0-9]{1,3}[A-Z]",
        "[A-Z]{3}[0-9]{1,4}",
    ),
    # Switzerland: canton code and 1-6 digits.
    "ch": ("(?:AG|AI|AR|BE|BL|BS|FR|GE|GL|GR|JU|LU|NE|NW|OW|SG|SH|SO|SZ|TG|TI|UR|VD|VS|ZG|ZH)[0-9]{1,6}",),
    # Sweden: ABC 123, the last character a letter since 2019; no I, Q, V (nor O last).
    "se": ("[A-HJ-PR-UW-Z]{3}[0-9]{2}[A-HJ-NPR-UW-Z0-9]",),
    # Denmark: AB 12 345.
    "dk": ("[A-Z]{2}[0-9]{5}",),
    # Finland: ABC-123, 2-3 letters (Å, Ä, Ö occur) and 1-3 digits.
    "fi": ("[A-ZÅÄÖ]{2,3}[0-9]{1,3}",),
    # Norway: AB 12345 (EL, EK, EV ... for electric cars).
    "no": ("[A-Z]{2}[0-9]{5}",),
    # Ireland: year, half-year digit since 2013 (251-D-12345), county code, sequence; before
    # 2013 year and county only (08-D-12345).
    "ie": (
        "[0-9]{2}[12](?:C|CE|CN|CW|D|DL|G|KE|KK|KY|L|LD|LH|LM|LS|MH|MN|MO|OY|RN|SO|T|W|WH|WW|WX)[0-9]{1,6}",
        "[0-9]{2}(?:C|CE|CN|CW|D|DL|G|KE|KK|KY|L|LD|LH|LM|LK|LS|MH|MN|MO|OY|RN|SO|TN|TS|W|WD|WH|WW|WX)"
        "[0-9]{1,6}",
    ),
    # Bulgaria: province code, 4 digits, 2 letters, all letters Cyrillic ones that look Latin
    # (read as A B E K M H O P C T Y X).
    "bg": (
        "(?:A|B|BH|BP|BT|C|CA|CB|CC|CH|CM|CO|CT|E|EB|EH|H|K|KH|M|OB|P|PA|PB|PK|PP|T|TX|X|Y)"
        "[0-9]{4}[ABEKMHOPCTYX]{2}",
    ),
    # Greece: ABE-1234 with Greek letters that look Latin.
    "gr": ("[ABEZHIKMNOPTYX]{3}[1-9][0-9]{3}",),
    # Lithuania ABC 123; Latvia AB-1234; Estonia 123 ABC; Cyprus and Malta ABC 123.
    "lt": ("[A-Z]{3}[0-9]{3}",),
    "lv": ("[A-Z]{2}[0-9]{1,4}",),
    "ee": ("[0-9]{3}[A-Z]{3}",),
    "cy": ("[A-Z]{3}[0-9]{3}",),
    "mt": ("[A-Z]{3}[0-9]{3}",),
    # Luxembourg: AB 1234 (the older digit-only numbers are left out: they would accept any
    # run of digits).
    "lu": ("[A-Z]{2}[0-9]{4}",),
    # United States: one family for all states, their common standard serials: ABC 1234 (NY,
    # PA, TX ...), ABC 123, 1ABC234 (CA), 1ABC23 (MA), 123 ABC(D), AB 12345 (IL), A12 BCD
    # (NJ), ABCD 12 (FL). Vanity plates are left out: a family that accepts any mix of letters
    # and digits would match every misread as it stands and leave nothing to correct.
    "us": (
        "[A-Z]{3}[0-9]{3,4}",
        "[0-9][A-Z]{3}[0-9]{2,3}",
        "[0-9]{3}[A-Z]{3,4}",
        "[A-Z]{2}[0-9]{4,5}",
        "[A-Z][0-9]{2}[A-Z]{3}",
        "[A-Z]{4}[0-9]{2,3}",
    ),
    # Brazil: ABC-1234 (before 2018) and Mercosul ABC1D23.
    "br": ("[A-Z]{3}[0-9]{4}", "[A-Z]{3}[0-9][A-Z][0-9]{2}"),
    # China (GA 36-2018): province, authority letter, 5 letters/digits, the last possibly
    # 挂 (trailer), 学 (driving school), 警 (police), 港/澳 (Hong Kong/Macau); new-energy
    # plates have 6: small cars D/F (since 2022 also A B C E / G H J K) + letter or digit + 4
    # digits, large vehicles 5 digits + D/F.
    "cn": (
        f"[{_CN_PROVINCES}]{_CN_LETTER}{_CN_CHAR}{{4}}(?:{_CN_CHAR}|[挂学警港澳])",
        f"[{_CN_PROVINCES}]{_CN_LETTER}[A-HJK]{_CN_CHAR}[0-9]{{4}}",
        f"[{_CN_PROVINCES}]{_CN_LETTER}[0-9]{{5}}[DF]",
    ),
}

# Names that stand for several regions in formats_for(). Europe is ordered roughly by fleet
# size, so a text several countries accept (AB123CD: fr, it, sk, hr ...) gets the likelier one.
REGION_GROUPS: dict[str, tuple[str, ...]] = {
    "eu": (
        "de", "it", "fr", "gb", "pl", "es", "nl", "ro", "be", "cz", "pt", "se", "gr", "at", "hu",
        "ch", "bg", "no", "dk", "fi", "sk", "ie", "lt", "hr", "si", "ee", "lv", "cy", "lu", "mt",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """One region's plate format, compiled once.

    Attributes:
        region: Region code the format belongs to (``fr``, ``us`` ...).
        pattern: Full-match regex over normalised text; ``(?:...)`` groups only.
        regex: ``pattern`` compiled.

    Raises:
        ValueError: Naming the region and the regex, when it is empty, does not compile or
            has capturing groups.
    """

    region: str
    pattern: str
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", _compile(self.region, self.pattern))

    def matches(self, text: str) -> bool:
        """True when the whole of ``text`` (already normalised) has this format."""
        return self.regex.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class FormatMatch:
    """A read that matches a format, possibly after swapping confusable characters.

    Attributes:
        text: Normalised text as corrected.
        chars: Confidence of each character of ``text``; swapped ones times ``SWAP_FACTOR``.
        region: Region of the first format that matched.
        swaps: Number of characters swapped (0 when the read matched as it was).
    """

    text: str
    chars: tuple[float, ...]
    region: str
    swaps: int


def _compile(region: str, pattern: str) -> re.Pattern[str]:
    """Compile one format regex, with errors that name the region and the regex."""
    if not pattern:
        raise ValueError(f"plate region {region!r}: empty regex")
    try:
        re.compile(pattern)
        # Wrapped so that it can stand as one branch of an alternation (see _union).
        regex = re.compile(f"(?:{pattern})")
    except re.error as err:
        raise ValueError(f"plate region {region!r}: invalid regex {pattern!r}: {err}") from None
    if regex.groups:
        raise ValueError(f"plate region {region!r}: regex {pattern!r} has capturing groups; use (?:...)")
    return regex


def normalise(text: str) -> str:
    """Upper-case ``text`` and drop spaces, dashes, dots, middle dots and other separators.

    Example: ``normalise("ab-123 · cd") == "AB123CD"``.
    """
    return _normalise_with(text, (0.0,) * len(text))[0]


def _normalise_with(text: str, chars: Sequence[float]) -> tuple[str, tuple[float, ...]]:
    """Normalise ``text`` and keep each kept character's confidence beside it."""
    out: list[str] = []
    conf: list[float] = []
    for ch, c in zip(text, chars, strict=True):
        if ch.isspace() or ch in _SEPARATORS or unicodedata.category(ch) in _DROPPED_CATEGORIES:
            continue
        upper = ch.upper()  # may be longer than one character (ß -> SS)
        out.append(upper)
        conf.extend([float(c)] * len(upper))
    return "".join(out), tuple(conf)


def correct(
    text: str, chars: Sequence[float], formats: Sequence[PlateFormat], *, max_swaps: int = 3
) -> FormatMatch | None:
    """Match an OCR read to the first format it fits, swapping confusable characters if needed.

    The read is normalised first. Candidates are tried in this order: the read as it is; then
    with 1, 2 ... ``max_swaps`` characters swapped for a counterpart from :data:`CONFUSIONS`;
    among equal counts, the sets of positions whose confidences sum lowest first (ties: the
    leftmost positions, then the likelier counterpart). Each candidate is tried against the
    formats in the given order; the first match wins. A broad format (``us``) accepts most
    reads as they are, so it is best listed only where such plates are expected.

    Cost: one regex call (all formats at once) per candidate; a 10-character read with every
    character confusable has at most 10 + 45 + 120 swap sets, times 3 for each 0 or 1 swapped
    (O, D, Q and I, L, T are all tried).

    Args:
        text: The read, as the OCR gave it.
        chars: Confidence of each character of ``text`` in [0, 1].
        formats: Formats to try, in order of preference.
        max_swaps: Most characters to swap.

    Returns:
        The corrected read, or None when the read is empty or no format matches within
        ``max_swaps`` swaps.

    Raises:
        ValueError: ``chars`` is not as long as ``text``, or ``max_swaps`` is negative.
    """
    if len(chars) != len(text):
        raise ValueError(f"{len(chars)} confidences for {len(text)} characters")
    if max_swaps < 0:
        raise ValueError(f"max_swaps must be >= 0, got {max_swaps}")
    clean, conf = _normalise_with(text, chars)
    if not clean or not formats:
        return None
    ordered = tuple(formats)
    union = _union(ordered)
    for positions, candidate in _candidates(clean, conf, max_swaps):
        match = union.fullmatch(candidate)
        if match is not None and match.lastindex is not None:
            swapped = tuple(c * SWAP_FACTOR if i in positions else c for i, c in enumerate(conf))
            return FormatMatch(candidate, swapped, ordered[match.lastindex - 1].region, len(positions))
    return None


@lru_cache(maxsize=32)
def _union(formats: tuple[PlateFormat, ...]) -> re.Pattern[str]:
    """One regex trying every format in order; group ``n`` marks that ``formats[n - 1]`` matched.

    One call per candidate instead of one per format: measured 2.8 times as fast with the
    63 formats of eu + br + cn, where a failing short match costs little more than the call.
    """
    return re.compile("|".join(f"({f.pattern})" for f in formats))


def _candidates(text: str, conf: Sequence[float], max_swaps: int) -> Iterator[tuple[tuple[int, ...], str]]:
    """Yield ``(swapped positions, text)`` in the order :func:`correct` tries them."""
    yield (), text
    confusable = [i for i, ch in enumerate(text) if ch in _COUNTERPARTS]
    for count in range(1, min(max_swaps, len(confusable)) + 1):
        # sorted() is stable: among equal sums, combinations() order (leftmost first) remains.
        sets = sorted(itertools.combinations(confusable, count), key=lambda p: sum(conf[i] for i in p))
        for positions in sets:
            for replacement in itertools.product(*(_COUNTERPARTS[text[i]] for i in positions)):
                chars = list(text)
                for i, ch in zip(positions, replacement, strict=True):
                    chars[i] = ch
                yield positions, "".join(chars)


def formats_for(
    regions: Sequence[str], custom: Mapping[str, Sequence[str]] | None = None
) -> list[PlateFormat]:
    """The formats of ``regions``, in that order, groups such as ``eu`` expanded.

    Args:
        regions: Region codes or group names (:data:`REGION_GROUPS`); a region named twice
            keeps its first place.
        custom: Region code -> regexes from the user; they replace that region's defaults (or
            a group of that name) or add a new region. All are checked, used or not.

    Returns:
        One :class:`PlateFormat` per regex, regions in the given order.

    Raises:
        ValueError: A region is unknown (the message lists the known ones), or a user regex is
            empty, invalid or has capturing groups (the message names region and regex).
    """
    table: dict[str, tuple[str, ...]] = dict(DEFAULT_FORMATS)
    for region, patterns in (custom or {}).items():
        table[region] = _checked(region, patterns)
    out: list[PlateFormat] = []
    for region in _expand(regions, table):
        out.extend(PlateFormat(region, pattern) for pattern in table[region])
    return out


def _checked(region: str, patterns: Sequence[str]) -> tuple[str, ...]:
    """A user's regexes for ``region``, each compiled once to fail early with a clear error."""
    if isinstance(patterns, str):
        raise ValueError(f"plate region {region!r}: give a list of regexes, got the string {patterns!r}")
    if not patterns:
        raise ValueError(f"plate region {region!r}: no regexes given")
    for pattern in patterns:
        _compile(region, pattern)
    return tuple(patterns)


def _expand(regions: Sequence[str], table: Mapping[str, Sequence[str]]) -> list[str]:
    """Region codes of ``regions`` in order, groups expanded, each once."""
    out: dict[str, None] = {}  # an ordered set
    for name in regions:
        if name in table:
            out[name] = None
        elif name in REGION_GROUPS:
            out.update(dict.fromkeys(REGION_GROUPS[name]))
        else:
            known = ", ".join([*sorted(table), *sorted(REGION_GROUPS)])
            raise ValueError(f"unknown plate region {name!r}; known: {known}")
    return list(out)
