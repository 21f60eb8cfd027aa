"""Every country: ISO 3166 code, English name (pycountry) and calling code (libphonenumber)."""

import phonenumbers
import pyarrow as pa
import pycountry


def model(dbt, session):
    dbt.config(materialized="table")
    codes, names, calling = [], [], []
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        codes.append(country.alpha_2)
        names.append(getattr(country, "common_name", None) or country.name)
        code = phonenumbers.country_code_for_region(country.alpha_2)
        calling.append(f"+{code}" if code else None)
    return pa.table(
        {
            "country_code": pa.array(codes, pa.string()),
            "country_name": pa.array(names, pa.string()),
            "calling_code": pa.array(calling, pa.string()),
        }
    )
