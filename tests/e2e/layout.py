"""What every page must do at a laptop's width (1024 px) and a desktop's (1440 px): never scroll sideways, and
show its primary actions where a person can press them (inside the window, not cut off by a box that scrolls,
not covered by something else)."""

from playwright.sync_api import Locator, Page

WIDTHS = (1024, 1440)
HEIGHT = 900

# Centre the element vertically in the window (never scrolling anything sideways: a button that is only
# reachable by scrolling a table sideways is hidden), then say what is wrong with where it is, or "".
WHERE_IT_IS = """el => {
  const first = el.getBoundingClientRect();
  window.scrollBy(0, first.top + first.height / 2 - window.innerHeight / 2);
  const r = el.getBoundingClientRect();
  const name = JSON.stringify((el.innerText || el.value || el.getAttribute("aria-label") || el.tagName).trim());
  if (r.width === 0 || r.height === 0) return `${name} is not displayed`;
  const right = document.documentElement.clientWidth;
  if (r.left < 0 || r.right > right) {
    return `${name} is outside the window (${Math.round(r.left)} to ${Math.round(r.right)} px of ${right})`;
  }
  for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (style.overflowX === "visible" && style.overflowY === "visible") continue;
    const b = box.getBoundingClientRect();
    if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1) {
      const what = `<${box.tagName.toLowerCase()} class="${box.className}">`;
      return `${name} is cut off by its box ${what}: only scrolling it reaches it`;
    }
  }
  const line = el.getClientRects()[0] || r;  // a link broken over two lines: the middle of its first line
  const hit = document.elementFromPoint(line.left + line.width / 2, line.top + line.height / 2);
  if (!hit || !(hit === el || el.contains(hit))) {
    return `${name} is covered by <${hit ? hit.tagName.toLowerCase() : "nothing"}>`;
  }
  return "";
}"""


def at_width(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": HEIGHT})


def assert_fits(page: Page, *primary: Locator) -> None:
    """The page does not scroll sideways, and each element of `primary` (its primary actions) is in view."""
    width = page.viewport_size["width"]
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways at {width} px: it is {overflow} px wider than the window"
    for locator in primary:
        elements = locator.all()
        assert elements, f"no {locator} on {page.url}"
        for element in elements:
            problem = element.evaluate(WHERE_IT_IS)
            assert not problem, f"At {width} px on {page.url}, {problem}"
    page.evaluate("() => window.scrollTo(0, 0)")


def assert_tables_fit(page: Page, selector: str = "table") -> None:
    """Each table is as wide as its box at most: nothing in it needs scrolling sideways."""
    width = page.viewport_size["width"]
    for table in page.locator(selector).all():
        too_wide = table.evaluate("t => t.scrollWidth - t.parentElement.clientWidth")
        columns = table.evaluate(
            "t => Array.from(t.querySelectorAll('thead th')).map(th => `${th.innerText.trim()} ${th.offsetWidth}`)"
        )
        assert too_wide <= 0, (
            f"At {width} px, table #{table.get_attribute('id')} is {too_wide} px wider than its box: {columns}"
        )
