"""SMS segment counting against hand-counted GSM 03.38 cases."""

from pipeline.editorial.sms import count


def test_short_gsm_text_is_one_segment():
    """A plain ASCII text up to 160 characters is one GSM-7 SMS."""
    result = count("a" * 160)
    assert (result.encoding, result.units, result.segments) == ("GSM-7", 160, 1)


def test_long_gsm_text_uses_153_per_part():
    """161 to 306 septets take two parts, 307 takes three."""
    assert count("a" * 161).segments == 2
    assert count("a" * 306).segments == 2
    assert count("a" * 307).segments == 3


def test_extension_characters_count_two():
    """Each of {}[]~^|€\\ costs two septets."""
    result = count("{}[]~^|€\\")
    assert result.encoding == "GSM-7"
    assert result.characters == 9 and result.units == 18


def test_escape_pair_is_not_split_across_parts():
    """152 septets then a euro sign do not fit the first 153-septet part together."""
    assert count("a" * 159 + "€").segments == 2  # 161 septets
    assert count("a" * 152 + "€" + "a" * 152).segments == 3  # pair pushed to part two


def test_curly_apostrophe_forces_ucs2_and_is_named():
    """A typographic apostrophe switches to UCS-2 and is named with its code point."""
    result = count("It’s cold")
    assert result.encoding == "UCS-2"
    assert result.trigger_note == "’ (U+2019) forces UCS-2"


def test_ucs2_limits():
    """UCS-2 holds 70 units in one SMS and 67 per part after that."""
    assert count("é" + "ж" * 69).segments == 1
    assert count("ж" * 71).segments == 2
    assert count("ж" * 134).segments == 2
    assert count("ж" * 135).segments == 3


def test_emoji_counts_two_utf16_units():
    """An emoji outside the BMP is a surrogate pair: two UCS-2 units."""
    result = count("☔🌧")
    assert result.characters == 2 and result.units == 3


def test_degree_sign_is_not_gsm():
    """The degree sign is outside GSM-7 (a common surprise in weather texts)."""
    assert count("40°F").ucs2_trigger == "°"


def test_empty_text_is_zero_segments():
    """Nothing to send costs nothing."""
    assert count("").segments == 0
