"""What a strict Content-Security-Policy cares about in a page, read with the standard HTML parser."""

from __future__ import annotations

from html.parser import HTMLParser


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.script_srcs: list[str] = []
        self.inline_scripts = 0
        self.handler_attributes: list[str] = []
        self.javascript_urls: list[str] = []
        self.hx_gets: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._in_inline_script = False
        self._link_href: str | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script":
            if "src" in values:
                self.script_srcs.append(values["src"])
            elif values.get("type", "text/javascript") in {"", "text/javascript", "module", "application/javascript"}:
                self._in_inline_script = True
        self.handler_attributes += [f"<{tag} {name}>" for name in values if name.startswith("on")]
        self.javascript_urls += [value for value in values.values() if value.strip().lower().startswith("javascript:")]
        if "hx-get" in values:
            self.hx_gets.append(values["hx-get"])
        if tag == "a":
            self._link_href, self._link_text = values.get("href", ""), []

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.inline_scripts += 1
        if self._link_href is not None:
            self._link_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False
        if tag == "a" and self._link_href is not None:
            self.links.append((self._link_href, "".join(self._link_text).strip()))
            self._link_href = None


def scan(html: str) -> _Scan:
    parser = _Scan()
    parser.feed(html)
    parser.close()
    return parser


def csp_script_offences(html: str) -> list[str]:
    """Everything ``script-src 'self'`` would block: inline scripts, handler attributes, javascript: URLs."""
    page = scan(html)
    offences = [f"{page.inline_scripts} inline <script>"] if page.inline_scripts else []
    offences += page.handler_attributes + page.javascript_urls
    offences += [src for src in page.script_srcs if "//" in src]
    return offences
