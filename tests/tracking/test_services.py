"""The service registry, the options and the package's purity."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import Environment

from feeds.config import TrackingSettings
from tests.goldens import GOLDEN
from tests.tracking import support as s
from tracking.errors import TrackingConfigError, UnknownService
from tracking.options import TrackingOptions
from tracking.services import EVENT_NAMES, Service, all_services, enabled_services, get_service

TRACKING = Path(__file__).resolve().parents[2] / "tracking"


def test_services_in_placement_order() -> None:
    assert [svc.code for svc in all_services()] == ["gtm", "ga4", "meta_pixel", "criteo"]


def test_event_names() -> None:
    assert EVENT_NAMES == ("view_item", "view_item_list", "add_to_cart", "view_cart",
                           "begin_checkout", "purchase", "page_view", "view_home")


def test_unknown_service() -> None:
    with pytest.raises(UnknownService, match="unknown tracking service 'x' "
                                             r"\(known: gtm, ga4, meta_pixel, criteo\)"):
        get_service("x")


def test_configuring_an_id_is_what_switches_a_service_on() -> None:
    assert enabled_services(TrackingOptions()) == []
    assert [svc.code for svc in enabled_services(TrackingOptions(ga4_id="G-ABCD1"))] == ["ga4"]
    assert enabled_services(s.options()) == all_services()


def test_one_malformed_id_fails_even_beside_good_ones() -> None:
    with pytest.raises(TrackingConfigError, match="tracking.criteo_account"):
        enabled_services(s.options(criteo_account="12ab"))


@pytest.mark.parametrize("service", all_services(), ids=lambda v: v.code)
def test_every_service_is_complete(env: Environment, service: Service) -> None:
    """Registry completeness: templates, goldens and a test file for each service."""
    assert service.spec_url.startswith("https://") and service.description
    assert service.events <= set(EVENT_NAMES)
    for name in (*service.templates.values(), service.event_template):
        env.get_template(name)
    for name in service.events:
        assert (GOLDEN / "tracking" / f"{service.code}_{name}.html").is_file()
    assert (Path(__file__).parent / f"test_{service.code}.py").is_file()


def test_options_from_the_feeds_settings() -> None:
    assert TrackingOptions.from_settings(TrackingSettings()) == TrackingOptions()
    settings = TrackingSettings(ga4_id="G-ABCD1", consent_mode=False, meta_group_ids=True)
    opts = TrackingOptions.from_settings(settings)
    assert (opts.ga4_id, opts.consent_mode, opts.meta_group_ids) == ("G-ABCD1", False, True)


def test_options_from_any_object_keep_defaults_for_missing_names() -> None:
    opts = TrackingOptions.from_settings(SimpleNamespace(gtm_id="GTM-ABCD", unrelated=1))
    assert opts == TrackingOptions(gtm_id="GTM-ABCD")


def test_options_check_site_type_and_types() -> None:
    with pytest.raises(TrackingConfigError, match='tracking.criteo_site_type: "d", "m" or "t"'):
        TrackingOptions(criteo_site_type="x")
    with pytest.raises(TrackingConfigError, match="tracking.meta_pixel_id: a string expected"):
        TrackingOptions(meta_pixel_id=1234567)  # type: ignore[arg-type]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return found | {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


def test_tracking_is_pure() -> None:
    """No import of feeds, flask, httpx or anything that does I/O by itself."""
    forbidden = ("feeds", "flask", "httpx", "requests", "urllib", "socket", "sqlite3")
    for path in TRACKING.rglob("*.py"):
        bad = {m for m in _imports(path) if m.split(".")[0] in forbidden}
        assert not bad, f"{path.relative_to(TRACKING.parent)} imports {sorted(bad)}"
