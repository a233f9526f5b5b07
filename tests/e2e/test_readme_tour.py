"""The README's tour says what the pages say: each text it quotes is the one the browser tests find there."""

import re
from pathlib import Path

from .tour import QUOTED

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_tour_quotes_the_pages_word_for_word():
    text = README.read_text()
    tour = text[text.index("### A first tour") : text.index("## Configuration")]
    tour = " ".join(tour.split())
    missing = [quote for quote in QUOTED if quote not in tour]
    assert not missing, f"the README's tour does not say, as the pages do: {missing}"
    for picture in re.findall(r"\]\((docs/[^)]+\.png)\)", tour):
        assert (README.parent / picture).is_file(), f"{picture} is not in docs/ (make docs-screenshots)"
