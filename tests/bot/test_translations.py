"""The Russian and Kazakh catalogs cover the template, keep its placeholders and commands,
and the compiled .mo files the bot loads are up to date with their .po sources."""

from __future__ import annotations

import gettext
import re
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, make_i18n

TRANSLATED = ("ru", "kk")
TEMPLATE = LOCALES_DIR / "messages.pot"

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
COMMAND = re.compile(r"(?<![\w/])/[a-z][a-z_]*")
LITERAL_TOKEN = re.compile(r"\bCUSTOMER_ID\b|\bHH:MM\b|\bTEXT\b")

REFRESH = (
    "run: pybabel update -i bot/locales/messages.pot -d bot/locales -D messages "
    "&& pybabel compile -d bot/locales -D messages"
)


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"


def mo_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / "messages.mo"


def forms(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def template_messages() -> list[Message]:
    return [message for message in read_catalog(TEMPLATE) if message.id]


def pairs(locale: str) -> list[tuple[str, str]]:
    """(source, translation) for every template msgid, each plural form on its own."""
    catalog = read_catalog(po_path(locale), locale)
    result = []
    for source in template_messages():
        translated = catalog.get(source.id)
        assert translated is not None, f"{locale}: no entry for {source.id!r}; {REFRESH}"
        sources = forms(source.id)
        for index, text in enumerate(forms(translated.string)):
            result.append((sources[min(index, len(sources) - 1)], text))
    return result


def test_template_is_not_empty() -> None:
    assert len(template_messages()) > 50


@pytest.mark.parametrize("locale", TRANSLATED)
def test_catalog_has_exactly_the_template_messages(locale: str) -> None:
    catalog = read_catalog(po_path(locale), locale)
    expected = {message.id for message in template_messages()}
    present = {message.id for message in catalog if message.id}
    assert present - expected == set(), f"{locale}: msgids not in the template; {REFRESH}"
    assert expected - present == set(), f"{locale}: template msgids missing; {REFRESH}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_and_not_fuzzy(locale: str) -> None:
    catalog = read_catalog(po_path(locale), locale)
    assert not catalog.fuzzy, f"{locale}: the header is still marked fuzzy"
    problems = []
    for source in template_messages():
        translated = catalog.get(source.id)
        if translated is None:
            problems.append(f"missing: {source.id!r}")
            continue
        if translated.fuzzy:
            problems.append(f"fuzzy: {source.id!r}")
        strings = forms(translated.string)
        if not strings or not all(text.strip() for text in strings):
            problems.append(f"empty: {source.id!r}")
    assert problems == []


@pytest.mark.parametrize("locale", TRANSLATED)
def test_placeholders_are_kept_and_formattable(locale: str) -> None:
    problems = []
    for source, text in pairs(locale):
        wanted = set(PLACEHOLDER.findall(source))
        found = set(PLACEHOLDER.findall(text))
        if found != wanted:
            problems.append(f"{source!r}: placeholders {sorted(found)} != {sorted(wanted)}")
            continue
        if wanted:
            values = {name.strip("{}"): "x" for name in wanted}
            try:
                text.format(**values)
            except (KeyError, IndexError, ValueError) as error:
                problems.append(f"{source!r}: {text!r} does not format: {error!r}")
    assert problems == []


@pytest.mark.parametrize("locale", TRANSLATED)
def test_commands_and_literal_tokens_are_kept(locale: str) -> None:
    problems = []
    for source, text in pairs(locale):
        for command in set(COMMAND.findall(source)):
            if not re.search(rf"(?<![\w/]){re.escape(command)}(?!\w)", text):
                problems.append(f"{source!r}: {command} missing in {text!r}")
        for token in set(LITERAL_TOKEN.findall(source)):
            if token not in text:
                problems.append(f"{source!r}: {token} missing in {text!r}")
    assert problems == []


@pytest.mark.parametrize("locale", TRANSLATED)
def test_line_breaks_are_kept(locale: str) -> None:
    problems = [
        f"{source!r}: {source.count(chr(10))} line breaks, translation {text.count(chr(10))}"
        for source, text in pairs(locale)
        if source.count("\n") != text.count("\n")
    ]
    assert problems == []


def test_command_pattern_finds_commands_only() -> None:
    assert COMMAND.findall("/phone CUSTOMER_ID [HH:MM] TEXT, /{command} 12 {stars}/5 e/mail") == [
        "/phone"
    ]


@pytest.mark.parametrize("locale", TRANSLATED)
def test_compiled_mo_is_up_to_date(locale: str) -> None:
    committed_path = mo_path(locale)
    assert committed_path.exists(), f"{committed_path} is missing; {REFRESH}"
    with committed_path.open("rb") as fp:
        committed = gettext.GNUTranslations(fp)

    buffer = BytesIO()
    write_mo(buffer, read_catalog(po_path(locale), locale))
    buffer.seek(0)
    fresh = gettext.GNUTranslations(buffer)

    # The "" entry is the header, which also names the Babel version; compare the messages.
    committed_messages = {key: value for key, value in committed._catalog.items() if key != ""}
    fresh_messages = {key: value for key, value in fresh._catalog.items() if key != ""}
    assert fresh_messages, f"{locale}: the .po compiles to no messages"
    stale = sorted(
        str(key)
        for key in committed_messages.keys() | fresh_messages.keys()
        if committed_messages.get(key) != fresh_messages.get(key)
    )
    assert stale == [], f"{committed_path} differs from its .po; {REFRESH}"
    for source in template_messages():
        if isinstance(source.id, str):
            assert committed.gettext(source.id) == fresh.gettext(source.id)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("ru", "Ваши обращения:"), ("kk", "Сіздің өтінімдеріңіз:"), ("en", "Your tickets:")],
    ids=["ru", "kk", "en"],
)
def test_bot_i18n_serves_the_translation(locale: str, expected: str) -> None:
    i18n = make_i18n()
    assert i18n.gettext("Your tickets:", locale=locale) == expected
