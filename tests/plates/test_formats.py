"""Plate formats: each region's examples, normalising, confusion-aware correction, errors."""

from __future__ import annotations

import pytest

from plates.formats import (
    CONFUSIONS,
    DEFAULT_FORMATS,
    REGION_GROUPS,
    SWAP_FACTOR,
    FormatMatch,
    PlateFormat,
    correct,
    formats_for,
    normalise,
)


def accepts(region: str, text: str) -> bool:
    return any(f.matches(text) for f in formats_for([region]))


# Hand-made texts in each region's format (normalised: no separators).
ACCEPTED = [
    ("de", "BAB1234"),  # B-AB 1234 (Berlin)
    ("de", "MXY123E"),  # electric
    ("de", "TÜAB12"),  # umlaut in the area code
    ("de", "HHAB12H"),  # historic
    ("fr", "AB123CD"),  # SIV
    ("fr", "1234AB75"),  # FNI
    ("fr", "123ABC2A"),  # FNI, Corsica
    ("it", "FZ456XY"),
    ("es", "1234BCD"),
    ("es", "M1234AB"),  # provincial
    ("nl", "AB1234"),
    ("nl", "1234AB"),
    ("nl", "12AB34"),
    ("nl", "AB12CD"),
    ("nl", "ABCD12"),
    ("nl", "12ABCD"),
    ("nl", "12ABC3"),
    ("nl", "1ABC23"),
    ("nl", "AB123C"),
    ("nl", "A123BC"),
    ("nl", "ABC12D"),
    ("nl", "A12BCD"),
    ("nl", "1AB234"),
    ("nl", "123AB4"),
    ("be", "1ABC123"),
    ("be", "ABC123"),
    ("be", "123ABC"),
    ("pl", "WA12345"),
    ("pl", "KR123AC"),
    ("pl", "WA1AC23"),
    ("pl", "GDAA123"),
    ("pl", "KRA12AC"),
    ("pl", "WWL1234A"),
    ("cz", "1A23456"),
    ("cz", "5AB1234"),
    ("sk", "BA123AB"),
    ("at", "W12345A"),
    ("at", "GU123AB"),
    ("at", "WMAX1"),  # personalised
    ("hr", "ZG1234AB"),
    ("hr", "ST123A"),
    ("hr", "ČK123AB"),
    ("si", "LJA123B"),
    ("si", "MBJK415"),
    ("hu", "ABC123"),
    ("hu", "AAAA123"),
    ("ro", "B123ABC"),
    ("ro", "B12ABC"),
    ("ro", "CJ12ABC"),
    ("pt", "AB12CD"),
    ("pt", "12AB34"),
    ("pt", "1234AB"),
    ("pt", "AB1234"),
    ("gb", "AB12CDE"),
    ("gb", "A123BCD"),
    ("gb", "ABC123D"),
    ("gb", "ABZ1234"),
    ("ch", "ZH123456"),
    ("ch", "GE1"),
    ("se", "ABC123"),
    ("se", "ABC12D"),
    ("dk", "AB12345"),
    ("fi", "ABC123"),
    ("fi", "ÅL1"),
    ("no", "EL12345"),
    ("ie", "251D12345"),
    ("ie", "131KY1"),
    ("ie", "08D1234"),
    ("bg", "CA1234AB"),
    ("bg", "E1234KX"),
    ("gr", "ABE1234"),
    ("gr", "IKH9999"),
    ("lt", "ABC123"),
    ("lv", "AB1234"),
    ("lv", "AB1"),
    ("ee", "123ABC"),
    ("cy", "ABC123"),
    ("mt", "ABC123"),
    ("lu", "AB1234"),
    ("us", "ABC1234"),
    ("us", "7XYZ234"),
    ("us", "1ABC23"),
    ("us", "AB12345"),
    ("us", "A12BCD"),
    ("br", "ABC1234"),
    ("br", "ABC1D23"),  # Mercosul
    ("cn", "皖AY339S"),
    ("cn", "京A12345"),
    ("cn", "粤B1234学"),
    ("cn", "皖AD86766"),  # small new-energy
    ("cn", "沪A12345D"),  # large new-energy
]

REJECTED = [
    ("de", "BAB12345"),  # 5 digits
    ("de", "ABCDE1234"),  # 9 characters
    ("de", "BAB0123"),  # leading 0
    ("fr", "AO123CD"),  # no O in SIV
    ("fr", "AB12CD"),
    ("it", "AB123CU"),  # no U
    ("it", "A123BCD"),
    ("es", "1234ABC"),  # vowels are not used
    ("es", "12345BC"),
    ("nl", "ABC123"),
    ("nl", "1A2B3C"),
    ("be", "1ABC12"),
    ("pl", "WA1234B"),  # no B in a series
    ("pl", "WAA123"),
    ("pl", "WAA1234"),
    ("cz", "AB12345"),
    ("sk", "BA1234AB"),
    ("at", "W123456A"),
    ("hr", "ZG12AB"),
    ("hr", "ZG12345AB"),
    ("si", "XX12345"),  # no such area
    ("si", "LJO123"),  # no O
    ("hu", "AB1234"),
    ("ro", "XX12ABC"),  # no such county
    ("ro", "CJ123ABC"),  # 3 digits only in Bucharest
    ("pt", "ABC123"),
    ("gb", "AB123CDE"),
    ("ch", "XX123"),
    ("ch", "ZH1234567"),
    ("se", "ABC12O"),  # no O last
    ("se", "AIC123"),  # no I
    ("dk", "AB1234"),
    ("fi", "ABCD123"),
    ("no", "E12345"),
    ("ie", "08XX123"),  # no such county
    ("ie", "253D12"),  # half-year is 1 or 2
    ("bg", "CA1234AD"),  # D is no Cyrillic look-alike
    ("gr", "ABC1234"),  # C is no Greek look-alike
    ("gr", "ABE0123"),
    ("lt", "AB123"),
    ("lv", "ABC123"),
    ("ee", "ABC123"),
    ("cy", "AB123"),
    ("mt", "ABC1234"),
    ("lu", "1234"),
    ("us", "ABCDEFG"),  # no digit
    ("us", "1234567"),  # no letter
    ("us", "ABCD12345"),  # 9 characters
    ("us", "A"),
    ("us", "A1"),  # vanity plates are not in the family
    ("us", "7XYZ23Q"),
    ("br", "AB1C234"),
    ("br", "ABC12D3"),
    ("cn", "皖IY339S"),  # no I after the province
    ("cn", "皖A1234"),
    ("cn", "港A12345"),  # not a province
    ("cn", "AA12345"),
]


@pytest.mark.parametrize(("region", "text"), ACCEPTED, ids=[f"{r}-{t}" for r, t in ACCEPTED])
def test_region_accepts(region: str, text: str) -> None:
    assert accepts(region, text)


@pytest.mark.parametrize(("region", "text"), REJECTED, ids=[f"{r}-{t}" for r, t in REJECTED])
def test_region_rejects(region: str, text: str) -> None:
    assert not accepts(region, text)


def test_every_region_has_accepted_and_rejected_examples() -> None:
    assert {r for r, _ in ACCEPTED} == set(DEFAULT_FORMATS)
    assert {r for r, _ in REJECTED} == set(DEFAULT_FORMATS)


def test_groups_name_known_regions_and_no_region() -> None:
    for members in REGION_GROUPS.values():
        assert set(members) <= set(DEFAULT_FORMATS)
        assert len(set(members)) == len(members)
    assert not set(REGION_GROUPS) & set(DEFAULT_FORMATS)


def test_confusions_pair_a_letter_with_a_digit() -> None:
    for letter, digit in CONFUSIONS:
        assert (letter.isalpha(), digit.isdigit()) == (True, True)
    assert len(set(CONFUSIONS)) == len(CONFUSIONS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ab-123-cd", "AB123CD", id="dashes-lower-case"),
        pytest.param(" 12 ab 34 ", "12AB34", id="spaces"),
        pytest.param("AB.123.CD", "AB123CD", id="dots"),
        pytest.param("皖A·Y339S", "皖AY339S", id="middle-dot"),
        pytest.param("AB–123—CD", "AB123CD", id="en-em-dashes"),
        pytest.param("AB\u200b12\tCD", "AB12CD", id="zero-width-and-tab"),
        pytest.param("tü ab 12", "TÜAB12", id="umlaut"),
        pytest.param("AB/12:CD", "AB12CD", id="slash-colon"),
        pytest.param("", "", id="empty"),
        pytest.param(" - · ", "", id="separators-only"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def uniform(text: str, c: float = 0.9) -> tuple[float, ...]:
    return (c,) * len(text)


@pytest.mark.parametrize(
    ("text", "regions", "expected", "region", "swaps"),
    [
        # S read where the format needs a digit; 0 and A stay as the format accepts them.
        pytest.param("RK0S5AN", ["hr"], "RK055AN", "hr", 1, id="croatian"),
        pytest.param("RK0S5AN", ["it"], "RK055AN", "it", 1, id="italian"),
        pytest.param("RKOS5AN", ["it"], "RK055AN", "it", 2, id="italian-two-swaps"),
        pytest.param("2G1234AB", ["hr"], "ZG1234AB", "hr", 1, id="digit-to-letter"),
        pytest.param("8A123CD", ["fr"], "BA123CD", "fr", 1, id="french-8-to-B"),
        # SIV has no O, so the 0 becomes the next likeliest letter, D.
        pytest.param("AB1230D", ["fr"], "AB123DD", "fr", 1, id="french-no-O"),
        pytest.param("皖8·Y339S", ["cn"], "皖BY339S", "cn", 1, id="chinese-authority-letter"),
        pytest.param("rk-0s5·an", ["it"], "RK055AN", "it", 1, id="normalised-first"),
        pytest.param("8812300", ["fr"], None, "", 0, id="needs-four-swaps"),
        pytest.param("AB12", ["it", "hr"], None, "", 0, id="too-short"),
        # J must be a digit, and nothing looks like J.
        pytest.param("AB12JKX", ["it"], None, "", 0, id="J-not-confusable"),
    ],
)
def test_correct(text: str, regions: list[str], expected: str | None, region: str, swaps: int) -> None:
    match = correct(text, uniform(text), formats_for(regions))
    if expected is None:
        assert match is None
    else:
        assert match is not None
        assert (match.text, match.region, match.swaps) == (expected, region, swaps)


def test_max_swaps_bounds_the_search() -> None:
    fr = formats_for(["fr"])
    assert correct("8812300", uniform("8812300"), fr, max_swaps=4) == FormatMatch(
        "BB123DD", (0.81, 0.81, 0.9, 0.9, 0.9, 0.81, 0.81), "fr", 4
    )
    assert correct("8A123CD", uniform("8A123CD"), fr, max_swaps=0) is None


def test_swapped_confidence_is_scaled() -> None:
    chars = (0.9, 0.8, 0.7, 0.5, 0.6, 0.95, 1.0)
    match = correct("RK0S5AN", chars, formats_for(["hr"]))
    assert match is not None
    assert match.chars == pytest.approx((0.9, 0.8, 0.7, 0.5 * SWAP_FACTOR, 0.6, 0.95, 1.0))


@pytest.mark.parametrize(
    ("text", "regions", "region"),
    [
        pytest.param("AB123CD", ["it", "fr"], "it", id="first-region-wins"),
        pytest.param("AB123CD", ["fr", "it"], "fr", id="order-decides"),
        pytest.param("ABC1O34", ["br"], "br", id="mercosul-letter-stays"),
        pytest.param("皖AD86766", ["eu", "us", "cn"], "cn", id="new-energy"),
    ],
)
def test_valid_read_keeps_zero_swaps(text: str, regions: list[str], region: str) -> None:
    chars = tuple(0.5 + 0.05 * i for i in range(len(text)))
    assert correct(text, chars, formats_for(regions)) == FormatMatch(text, chars, region, 0)


# Two one-letter regions that each accept one swap of "55": "S5" or "5S".
TWO_WAYS = {"a": ["[A-Z][0-9]"], "b": ["[0-9][A-Z]"]}


THREE_WAYS = {"a": ["[A-Z]{2}[0-9]", "[0-9][A-Z]{2}", "[A-Z][0-9][A-Z]"]}


@pytest.mark.parametrize(
    ("text", "chars", "custom", "expected", "region", "swaps"),
    [
        pytest.param("55", (0.9, 0.2), TWO_WAYS, "5S", "b", 1, id="low-second-beats-region-order"),
        pytest.param("55", (0.2, 0.9), TWO_WAYS, "S5", "a", 1, id="low-first"),
        pytest.param("55", (0.5, 0.5), TWO_WAYS, "S5", "a", 1, id="tie-leftmost"),
        # Fewest swaps first: one swap at 0.9 beats two swaps.
        pytest.param("55", (0.9, 0.1), {"a": ["[A-Z][0-9]", "[A-Z]{2}"]}, "S5", "a", 1, id="fewest-swaps"),
        # Two swaps: sums 0.8 (0,1), 0.9 (0,2), 0.7 (1,2); then 0.4 (0,1), 0.5 (0,2), 0.7 (1,2).
        pytest.param("555", (0.5, 0.3, 0.4), THREE_WAYS, "5SS", "a", 2, id="lowest-sum-1-2"),
        pytest.param("555", (0.1, 0.3, 0.4), THREE_WAYS, "SS5", "a", 2, id="lowest-sum-0-1"),
        # A real format: nl sidecode 4 (BB12AB) or 2 (8812AB), whichever swap is less sure.
        pytest.param("8B12AB", (0.2, 0.9, 0.9, 0.9, 0.9, 0.9), {}, "BB12AB", "nl", 1, id="nl-first-unsure"),
        pytest.param("8B12AB", (0.9, 0.2, 0.9, 0.9, 0.9, 0.9), {}, "8812AB", "nl", 1, id="nl-second-unsure"),
    ],
)
def test_correction_prefers_low_confidence(
    text: str, chars: tuple[float, ...], custom: dict[str, list[str]], expected: str, region: str, swaps: int
) -> None:
    regions = list(custom) or ["nl"]
    match = correct(text, chars, formats_for(regions, custom))
    assert match is not None
    assert (match.text, match.region, match.swaps) == (expected, region, swaps)


@pytest.mark.parametrize("text", ["", " - · "])
def test_empty_read_gives_none(text: str) -> None:
    assert correct(text, uniform(text), formats_for(["us"])) is None


def test_no_formats_gives_none() -> None:
    assert correct("AB123CD", uniform("AB123CD"), []) is None


@pytest.mark.parametrize(
    ("chars", "max_swaps", "message"),
    [
        pytest.param((0.9,), 3, "1 confidences for 7 characters", id="chars-length"),
        pytest.param(uniform("AB123CD"), -1, "max_swaps must be >= 0, got -1", id="negative-swaps"),
    ],
)
def test_correct_rejects_bad_arguments(chars: tuple[float, ...], max_swaps: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        correct("AB123CD", chars, formats_for(["fr"]), max_swaps=max_swaps)


def test_formats_for_keeps_order_and_patterns() -> None:
    formats = formats_for(["fr", "us"])
    assert [(f.region, f.pattern) for f in formats] == [
        *(("fr", p) for p in DEFAULT_FORMATS["fr"]),
        *(("us", p) for p in DEFAULT_FORMATS["us"]),
    ]


def test_formats_for_expands_groups_in_order() -> None:
    regions = list(dict.fromkeys(f.region for f in formats_for(["eu", "us", "br", "cn"])))
    assert regions == [*REGION_GROUPS["eu"], "us", "br", "cn"]


def test_region_named_twice_keeps_its_first_place() -> None:
    regions = list(dict.fromkeys(f.region for f in formats_for(["fr", "eu", "fr"])))
    assert regions == ["fr", *(r for r in REGION_GROUPS["eu"] if r != "fr")]
    assert len(formats_for(["fr", "eu"])) == len(formats_for(["eu"]))


def test_custom_regexes_replace_or_add_regions() -> None:
    custom = {"fr": ["[0-9]{3}"], "xx": ["X[0-9]", "Y[0-9]"]}
    formats = formats_for(["xx", "fr"], custom)
    expected = [PlateFormat("xx", "X[0-9]"), PlateFormat("xx", "Y[0-9]"), PlateFormat("fr", "[0-9]{3}")]
    assert formats == expected
    match = correct("X5", (0.9, 0.9), formats)
    assert match is not None
    assert match.region == "xx"


def test_unknown_region_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown plate region 'xx'; known: at, be, .*, us, eu") as err:
        formats_for(["fr", "xx"])
    assert "cn" in str(err.value)


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        pytest.param(["[A-Z"], r"plate region 'xx': invalid regex '\[A-Z'", id="does-not-compile"),
        pytest.param(["AB)(?:C"], r"plate region 'xx': invalid regex 'AB\)\(\?:C'", id="unbalanced"),
        pytest.param(["([A-Z])[0-9]"], r"'xx': regex '\(\[A-Z\]\)\[0-9\]' has capturing groups", id="group"),
        pytest.param([""], "plate region 'xx': empty regex", id="empty-regex"),
        pytest.param([], "plate region 'xx': no regexes given", id="no-regexes"),
        pytest.param("[A-Z]", "plate region 'xx': give a list of regexes", id="a-string"),
    ],
)
def test_bad_user_regex_names_region_and_regex(patterns: list[str], message: str) -> None:
    # Checked even though region xx is not asked for.
    with pytest.raises(ValueError, match=message):
        formats_for(["fr"], {"xx": patterns})


def test_plate_format_compiles_once_and_compares_by_text() -> None:
    fmt = PlateFormat("fr", "[A-Z]{2}")
    assert fmt.matches("AB")
    assert not fmt.matches("ABC")
    assert fmt == PlateFormat("fr", "[A-Z]{2}")
    assert hash(fmt) == hash(PlateFormat("fr", "[A-Z]{2}"))
    with pytest.raises(ValueError, match="plate region 'fr': invalid regex"):
        PlateFormat("fr", "[")
