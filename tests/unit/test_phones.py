import pytest

from cdr.phones import country_of, to_e164


@pytest.mark.parametrize(
    "number,region,e164,country",
    [
        ("+27820001234", "US", "+27820001234", "ZA"),
        ("0820001234", "ZA", "+27820001234", "ZA"),
        ("27820001234", "ZA", "+27820001234", "ZA"),  # country code without "+"
        ("0027820001234", "ZA", "+27820001234", "ZA"),  # international prefix
        ("2125550187", "US", "+12125550187", "US"),
        ("442079460321", "IL", "+442079460321", "GB"),  # Voicenter sends the country prefix without "+"
        ("972722776772", "IL", "+972722776772", "IL"),
        ("0722123456", "RO", "+40722123456", "RO"),
        ("+447700900123", "ZA", "+447700900123", "GB"),  # outside assigned ranges: the code's country
        ("1001", "US", "1001", None),  # an extension stays as sent
        (" anonymous ", "US", "anonymous", None),
        ("", "US", None, None),
        (None, "US", None, None),
    ],
)
def test_e164_and_country(number, region, e164, country):
    assert to_e164(number, region) == e164
    assert country_of(number, region) == country
