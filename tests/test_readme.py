"""The README tells the truth: its examples run against the demo shop, its command table
is the command line's, its `urls` example is what the command prints, and its numbers
about the demo shop are the demo's."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from feeds.cli import main
from feeds.demo.run import run_demo
from feeds.events.match import read_match
from feeds.progress import make_progress
from feeds.storage.layout import Layout
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text("utf-8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop, built as `vendre-feeds demo --no-serve` builds it; its config file."""
    data = tmp_path_factory.mktemp("readme") / "vendre-feeds-demo"
    run_demo(data, host="127.0.0.1", port=8000, serve=False, echo=lambda _line: None,
             progress=make_progress(quiet=True), now=datetime.now(UTC))
    return data / "vendre-feeds.toml"


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# ---------------------------------------------------------------- the examples


def example_commands() -> list[list[list[str]]]:
    """Every `vendre-feeds` command line of the README's `sh` blocks, as chains (`a && b`)
    of argument lists; comments, `export` lines and other programs are left out."""
    chains = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            steps = [shlex.split(part) for part in line.split("&&")]
            steps = [step[1:] for step in steps if step and step[0] == "vendre-feeds"]
            if steps:
                chains.append(steps)
    return chains


def expected_failure(args: list[str]) -> str | None:
    """What a push says on the demo (the environment variable it lacks: no marketplace is
    reached offline), or None for a command that must succeed."""
    if args[0] == "push" and "--dry-run" not in args:
        return args[1].upper().replace("-", "_")
    return None


def test_the_readme_has_examples_of_the_commands_a_newcomer_needs():
    commands = {step[0] for chain in example_commands() for step in chain}
    assert {"demo", "init", "sync", "status", "build", "push", "push-status",
            "snippet"} <= commands


def test_every_example_runs_against_the_demo(demo, tmp_path, monkeypatch):
    """Each README command, with `--config <the demo's file>`: on the demo shop, everything
    runs offline and succeeds, except what needs a real marketplace's credentials, which
    stops with one line naming them (exit 2)."""
    monkeypatch.chdir(tmp_path)
    ran = 0
    for chain in example_commands():
        for args in chain:
            if args[0] == "demo":      # the quick start's command, without serving
                result = run(*args, "--no-serve", "--data-dir", str(tmp_path / "quick"))
            elif args[0] == "init":    # writes ./vendre-feeds.toml, here
                result = run(*args)
                assert (tmp_path / "vendre-feeds.toml").is_file()
            else:
                result = run("--config", str(demo), *args)
            shown = f"vendre-feeds {shlex.join(args)}:\n{result.output}"
            assert "Traceback" not in result.output, shown
            needs = expected_failure(args)
            if needs is None:
                assert result.exit_code == 0, shown
                assert "error:" not in result.output, shown
            else:
                assert result.exit_code == 2, shown
                last = result.output.strip().splitlines()[-1]
                assert last.startswith("error: ") and needs in last, shown
            ran += 1
            if result.exit_code:
                break  # `a && b`: the shell stops here too
    assert ran >= 15


def test_the_purchase_example_names_an_order_the_demo_has(demo):
    found = re.search(r"snippet meta --event purchase --order (\d+)", README)
    assert found
    result = run("--config", str(demo), "snippet", "meta", "--event", "purchase",
                 "--order", found.group(1))
    assert result.exit_code == 0, result.output
    assert f'"eventID":"{found.group(1)}"' in result.output


def test_the_urls_example_is_what_the_command_prints(demo):
    block = re.search(r"<!-- urls-example[^>]*-->\n```text\n(.*?)```", README, re.DOTALL)
    assert block, "README lacks the urls example"
    result = run("--config", str(demo), "urls")
    assert result.exit_code == 0
    assert result.output == block.group(1)


def test_the_demo_numbers_in_the_tracking_section_are_the_demos(demo):
    match = read_match(Layout(demo.parent))
    assert match is not None
    n, feeds = match.products, match.feeds
    assert feeds["google"] == feeds["criteo"]
    assert f"Google and Criteo hold {feeds['google']} of {n}\n" \
           f"({feeds['google'] * 100 // n} %)" in README
    assert f"Meta holds {feeds['meta']} of {n} ({feeds['meta'] * 100 // n} %)" in README
    assert [m.id for m in match.missing["google"]] == ["1012"]
    assert [m.id for m in match.missing["meta"]] == ["1012", "1016"]
    assert "product 1012 has no image" in README and "lacks 1016 too" in README


# ---------------------------------------------------------------- the command table


def command_table() -> dict[str, str]:
    """Command name -> the first cell of its row in the README's command table."""
    section = README[README.index("## Command line"):README.index("Global options:")]
    rows = re.findall(r"^\| `vendre-feeds ([a-z-]+)([^`]*)` \|", section, re.MULTILINE)
    return {name: rest for name, rest in rows}


def test_the_command_table_is_the_command_line():
    """Every command, argument and option `--help` shows is in the table, and the table
    names nothing the command line does not have."""
    table = command_table()
    assert set(table) == set(main.commands)
    for name, command in main.commands.items():
        cell = table[name]
        options = {o for p in command.params if isinstance(p, click.Option)
                   for o in p.opts if o.startswith("--") and o != "--help"}
        assert set(re.findall(r"--[a-z-]+", cell)) == options, name
        arguments = []
        for p in command.params:
            if isinstance(p, click.Argument):
                word = p.name.upper()
                arguments.append(f"{word.removesuffix('S')}..." if p.nargs == -1 else word)
        assert re.findall(r"\b[A-Z]+(?:\.\.\.)?", re.sub(r"--[a-z-]+ [A-Z]+", "", cell)) == \
            arguments, name


def test_the_global_options_are_the_command_lines():
    text = README[README.index("Global options:"):].split("\n\n")[0]
    named = set(re.findall(r"`(-{1,2}[a-z-]+)", text))
    declared = {o for p in main.params if isinstance(p, click.Option) for o in p.opts
                if o != "--help"}
    assert declared - {"--verbose", "--quiet"} <= named
    assert named <= declared | {"-vv"}


# ---------------------------------------------------------------- tracking and credentials


def test_the_tracking_section_explains_allowed_origins(tmp_path):
    from feeds.server.tracking_routes import allowed_origins
    from tests.feedkit import demo_cfg

    tracking = README[README.index("## Tracking"):README.index("## Configuration")]
    assert "`[tracking] allowed_origins`" in tracking
    example = re.search(r'with `base_url = "([^"]+)"`,\n?`([^`]+)` and `([^`]+)`', tracking)
    assert example, "the default origins are shown by example"
    cfg = demo_cfg(tmp_path, shop={"base_url": example.group(1)})
    assert allowed_origins(cfg) == {example.group(2), example.group(3)}


def test_a_dry_run_needs_no_credentials_and_a_push_names_them(demo):
    """What the credentials section promises, on the demo: `push --dry-run` checks none;
    a push says which variable it lacks."""
    assert "`push --dry-run` checks no credentials" in README
    assert "beside `VENDRE_API_KEY`" in README and "EnvironmentFile" in README
    for name in ("cdon", "fyndiq"):
        dry = run("--config", str(demo), "push", name, "--dry-run")
        assert dry.exit_code == 0 and f"{name}: would send create" in dry.output
        real = run("--config", str(demo), "push", name)
        assert real.exit_code == 2 and f"{name.upper()}_MERCHANT_ID" in real.output


def test_the_back_office_paths_say_where_no_source_names_them():
    cdon = README[README.index("### CDON"):README.index("### Fyndiq")]
    fyndiq = README[README.index("### Fyndiq"):README.index("## Serving the feeds")]
    assert "**Profile > Credentials**" in cdon and "No source from CDON" in cdon
    assert "no public source says" in fyndiq
    for section in (cdon, fyndiq):
        assert "credential test" in section and "curl -u" in section
