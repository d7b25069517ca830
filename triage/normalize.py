"""Text normalisation applied before segmentation, identically at training and classification time.

The aim is that two messages that mean the same to an agent look the same to the model:
full-width and half-width forms, Traditional and Simplified characters, upper and lower case
Latin, and the concrete order number, phone number, amount or link a customer pasted.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

# Placeholder tokens are lower-case ASCII words so that both segmenters keep them whole.
ORDER = " xorder "
PHONE = " xphone "
MONEY = " xmoney "
URL = " xurl "
EMAIL = " xemail "
NUMBER = " xnum "
EMOJI = " xemoji "
PLACEHOLDERS = frozenset(t.strip() for t in (ORDER, PHONE, MONEY, URL, EMAIL, NUMBER, EMOJI))

MAX_CLASSIFY_CHARS = 2000
"""Longer texts are truncated to this many characters before classification (documented in the README)."""

_URL_RE = re.compile(r"(?:https?://|www\.)[^\s\u4e00-\u9fff]+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_RE = re.compile(r"(?<![\d])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_MONEY_RE = re.compile(r"(?:[¥$]\s*\d+(?:\.\d+)?|\d+(?:\.\d+)?\s*(?:元|块钱|块|rmb|人民币))", re.IGNORECASE)
# Order, tracking and other reference numbers: a run of digits (maybe with a letter prefix) of 4 or more.
_REFERENCE_RE = re.compile(
    r"(?<![a-z0-9])(?!(?:12315|12345)(?![a-z0-9]))[a-z]{0,4}\d[\d-]{3,}[a-z0-9]*(?![a-z0-9])", re.IGNORECASE
)
_NUMBER_RE = re.compile(r"(?<![\d.])(?!(?:12315|12345|110)(?![\d.]))\d+(?:\.\d+)?")
_EMOJI_RE = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d]+|\\[[\u4e00-\u9fff]{1,4}\\]")
_SPACE_RE = re.compile(r"\s+")
# Control and format characters (including bidi marks and NUL) carry no meaning for triage.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})

# Characters whose single-character Traditional->Simplified mapping in zhconv's table is not the
# one a shop's customers mean (帳號 is 账号, not 帐号).
_TRADITIONAL_OVERRIDES = {"帳": "账", "託": "托", "製": "制", "裡": "里", "麼": "么", "髮": "发"}


TRADITIONAL_TABLE_PATH = Path(__file__).with_name("traditional_simplified.json")
"""zhconv's single-character Traditional->Simplified mappings, shipped so that classification does not
import zhconv's whole phrase dictionary at start-up. Regenerate it after upgrading zhconv with
``python -c "from triage.normalize import write_traditional_table; write_traditional_table()"``."""


def zhconv_character_mappings() -> dict[str, str]:
    """The single-character entries of zhconv's ``zh-cn`` dictionary (what the shipped table holds)."""
    import zhconv.zhconv as zh

    mapping = zh.getdict("zh-cn")
    return {src: dst for src, dst in sorted(mapping.items()) if len(src) == 1 and len(dst) == 1}


def write_traditional_table(path: Path = TRADITIONAL_TABLE_PATH) -> int:
    """Regenerate the shipped character table from the installed zhconv; returns its number of entries."""
    mapping = zhconv_character_mappings()
    path.write_text(json.dumps(mapping, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    return len(mapping)


@lru_cache(maxsize=1)
def _traditional_table() -> dict[int, str]:
    """Character-level Traditional->Simplified table, built once.

    Read from the shipped ``traditional_simplified.json``; if that file is missing, built from
    zhconv's dictionary directly (the same entries, slower to load). A character table
    (str.translate) costs microseconds; zhconv's phrase matcher costs about a hundred times more
    and buys nothing for triage features.
    """
    try:
        mapping: dict[str, str] = json.loads(TRADITIONAL_TABLE_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        mapping = zhconv_character_mappings()
    table = {ord(src): dst for src, dst in mapping.items()}
    table.update({ord(src): dst for src, dst in _TRADITIONAL_OVERRIDES.items()})
    return table


def to_simplified(text: str) -> str:
    return text.translate(_traditional_table())


def _strip_controls(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(
        " " if ch in "\t\n\r" else ch
        for ch in text
        if ch in "\t\n\r" or unicodedata.category(ch) not in _CONTROL_CATEGORIES
    )


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def fold(text: str) -> str:
    """The first half of normalisation: width, script and case folded; nothing replaced."""
    text = _strip_controls(unicodedata.normalize("NFKC", text[:MAX_CLASSIFY_CHARS]))
    return to_simplified(text).lower()


def normalize(text: str) -> str:
    """Return the canonical form of ``text`` that features are computed from.

    NFKC folds full-width letters, digits and punctuation to half-width; then Latin is
    lower-cased, Traditional characters are mapped to Simplified, and references the model
    should not memorise (links, e-mail addresses, phone and order numbers, amounts, other
    numbers, emoji) become placeholder tokens. Complaint hotlines (12315 消费者投诉, 12345 政务
    服务热线) stay as they are: they say something about the message.
    """
    text = _URL_RE.sub(URL, fold(text))
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _PHONE_RE.sub(PHONE, text)
    text = _MONEY_RE.sub(MONEY, text)
    text = _REFERENCE_RE.sub(ORDER, text)
    text = _NUMBER_RE.sub(NUMBER, text)
    text = _EMOJI_RE.sub(EMOJI, text)
    return _SPACE_RE.sub(" ", text).strip()
