"""One Jinja2 environment for feeds, snippets and the server's pages.

Autoescape is on for .xml, .html and .js templates (in .js, values arrive
only through the `js` filter, which is JSON that is also safe inside
`<script>`), undefined names raise, and a folder named in `[build]
templates_dir` overrides any built-in template of the same relative name.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tracking.serialize import js_value

__all__ = ["make_env", "templates_root"]


def templates_root() -> Path:
    """The built-in templates: inside the installed package, else the source tree's templates/."""
    package = Path(__file__).resolve().parents[1]  # feeds/
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "feeds").is_dir():
            return candidate
    raise RuntimeError("vendre-feeds templates are missing from this installation")


def make_env(override_dir: str | Path | None = None) -> Environment:
    """The Environment; `override_dir` templates win over the built-in ones."""
    loaders = [FileSystemLoader(str(templates_root()))]
    if override_dir:
        loaders.insert(0, FileSystemLoader(str(override_dir)))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["xml", "html", "js"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["js"] = js_value
    return env
