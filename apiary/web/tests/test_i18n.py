"""The shipped translations are complete and the compiled .mo files match their .po sources."""

import gettext
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

LOCALE = Path(__file__).resolve().parents[2] / "locale"


@pytest.mark.parametrize("language", ["ru", "es"])
def test_translations_are_complete_and_compiled(language):
    po_path = LOCALE / language / "LC_MESSAGES" / "django.po"
    mo_path = po_path.with_suffix(".mo")
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    with mo_path.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)

    messages = [m for m in catalog if m.id]
    assert len(messages) > 50
    for message in messages:
        assert not message.fuzzy, f"fuzzy: {message.id!r}"
        if isinstance(message.id, tuple):  # plural
            assert all(message.string), f"untranslated plural: {message.id!r}"
            singular, plural = message.id
            assert compiled.ngettext(singular, plural, 1) == message.string[0]
        else:
            assert message.string, f"untranslated: {message.id!r}"
            got = (
                compiled.pgettext(message.context, message.id)
                if message.context
                else compiled.gettext(message.id)
            )
            assert got == message.string, f".mo is stale for {message.id!r}: run `make messages`"
