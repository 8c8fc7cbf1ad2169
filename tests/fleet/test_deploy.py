"""The deployment files, checked without Docker or Kubernetes (neither runs here): they
parse, every command they run is a command of this CLI with options it takes, the
configs they mount load, and every shard has its worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from feeds.cli import main
from feeds.config import load_fleet
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"


def parse_command(args: list[str]) -> click.Context:
    """The click context `vendre-feeds ARGS` would run in (parsed and converted, not run).

    :raises click.UsageError: no such command, option or value.
    """
    command: click.Command = main
    ctx = command.make_context("vendre-feeds", list(args))
    while isinstance(command, click.Group):
        rest = [*ctx._protected_args, *ctx.args]
        name, found, rest = command.resolve_command(ctx, rest)
        assert found is not None and name is not None
        command = found
        ctx = command.make_context(name, rest, parent=ctx)
    return ctx


def test_the_parser_refuses_what_the_cli_refuses() -> None:
    with pytest.raises(click.UsageError):
        parse_command(["fleet", "worker", "--shards", "0"])
    with pytest.raises(click.UsageError):
        parse_command(["fleet", "wroker"])
    with pytest.raises(click.BadParameter):
        parse_command(["fleet", "worker", "--concurrency", "0"])
    assert parse_command(["-v", "fleet", "worker", "--shard", "1"]).params["shard"] == 1


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))


def _ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run this image (the others are Redis and MinIO)."""
    return {name: s for name, s in compose["services"].items()
            if s.get("image") == "vendre-feeds:local"}


def test_compose_runs_redis_minio_a_beat_two_workers_and_the_web_tier() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"redis", "minio", "bucket", "beat", "worker-0", "worker-1", "web"}
    assert "--appendonly" in services["redis"]["command"]
    ours = _ours(compose)
    assert set(ours) == {"beat", "worker-0", "worker-1", "web"}
    for name, service in ours.items():
        ctx = parse_command(service["command"])
        assert ctx.command_path.startswith("vendre-feeds fleet "), name
        assert service["build"]["context"] == ".." and (DEPLOY / ".." / "Dockerfile").is_file()
    assert parse_command(ours["beat"]["command"]).command.name == "beat"
    shards = {parse_command(ours[w]["command"]).params["shard"] for w in ("worker-0", "worker-1")}
    assert shards == {0, 1}
    assert parse_command(ours["web"]["command"]).params["port"] == 8000
    assert "8000:8000" in ours["web"]["ports"]


def test_compose_mounts_the_demo_fleet_that_loads_with_its_environment() -> None:
    ours = _ours(_compose())
    for name, service in ours.items():
        env = service["environment"]
        inside = "/fleet"
        mount = next(v for v in service["volumes"] if v.endswith(f":{inside}:ro"))
        host = mount.removesuffix(f":{inside}:ro")
        assert (DEPLOY / host).resolve() == (DEPLOY / "fleet").resolve(), name
        assert env["VENDRE_FEEDS_FLEET"].startswith(inside + "/")
        fleet_file = DEPLOY / "fleet" / Path(env["VENDRE_FEEDS_FLEET"]).relative_to(inside)
        fleet = load_fleet(fleet_file, env={"VENDRE_FEEDS_FLEET_BROKER_URL":
                                            env["VENDRE_FEEDS_FLEET_BROKER_URL"]})
        assert fleet.settings.broker_url == "redis://redis:6379/0"
        assert fleet.settings.shards == 2
        for shop in fleet.shop_names():
            publish = fleet.load_shop(shop, reader=True).publish
            assert publish.target == f"s3://vendre-feeds/shops/{shop}/"
            assert publish.public_url == f"http://localhost:9000/vendre-feeds/shops/{shop}"
    # The workers upload to MinIO on their loopback (plain http is allowed only there).
    endpoint = load_fleet(DEPLOY / "fleet" / "fleet.toml", env={}).publish["endpoint_url"]
    assert endpoint == "http://127.0.0.1:9000"
    compose = _compose()
    assert "9000:9000" in compose["services"]["minio"]["ports"]
    for worker in ("worker-0", "worker-1"):
        assert ours[worker]["network_mode"] == "service:minio"
        assert set(ours[worker]["depends_on"]) == {"redis", "minio", "bucket"}
    state = str(load_fleet(DEPLOY / "fleet" / "fleet.toml", env={}).state_root)
    for worker in ("worker-0", "worker-1"):
        assert f"state:{state}" in ours[worker]["volumes"]  # written by the workers
    assert f"state:{state}:ro" in ours["web"]["volumes"]  # only read by the web tier


def test_the_readme_names_the_compose_command() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "docker compose -f deploy/compose.yaml up --build" in readme
    assert "docker compose -f deploy/compose.yaml up --build" in \
        (DEPLOY / "compose.yaml").read_text("utf-8")


def test_the_dockerfile_installs_the_source_tree_for_a_user_without_privileges() -> None:
    text = (ROOT / "Dockerfile").read_text("utf-8")
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.M)
    for source in re.findall(r"^COPY (.+) \./?\S*$", text, re.M):
        for part in source.split():
            assert (ROOT / part).exists(), part
    assert 'pip install ".[fleet' in text
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["vendre-feeds"\]$', text, re.M)


def _k8s() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]
    return docs


def test_k8s_runs_a_worker_per_shard_with_its_volume_a_beat_and_the_web_tier(
        tmp_path: Path) -> None:
    docs = _k8s()
    kustomized = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text("utf-8"))
    assert {p for p in kustomized["resources"]} == {
        p.name for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml"}
    maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    (tmp_path / "fleet.toml").write_text(maps["vendre-feeds-fleet"]["fleet.toml"], "utf-8")
    fleet = load_fleet(tmp_path / "fleet.toml", env={})
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    shards = set()
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        ctx = parse_command(container["args"])
        assert pod["securityContext"]["runAsNonRoot"] is True
        env = {e["name"]: e["value"] for e in container["env"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert str(Path(env["VENDRE_FEEDS_FLEET"]).parent) in mounts
        assert str(fleet.shops_dir) in mounts
        if ctx.command.name == "worker":
            shards.add(ctx.params["shard"])
            assert deployment["spec"]["replicas"] == 1
            assert deployment["spec"]["strategy"]["type"] == "Recreate"
            state = mounts[str(fleet.state_root)]
            volume = next(v for v in pod["volumes"] if v["name"] == state["name"])
            assert volume["persistentVolumeClaim"]["claimName"] in claims
        elif ctx.command.name == "beat":
            assert deployment["spec"]["replicas"] == 1
        else:
            assert ctx.command.name == "serve"
    assert shards == set(range(fleet.settings.shards))
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Service"} == {
        "vendre-feeds-web"}
    shops = tmp_path / "shops"
    shops.mkdir()
    for file, text in maps["vendre-feeds-shops"].items():
        (shops / file).write_text(text, encoding="utf-8")
    fleet = load_fleet(tmp_path / "fleet.toml", env={})
    object.__setattr__(fleet, "shops_dir", shops)
    assert [n for n in fleet.shop_names()] == ["acme"]
    fleet.load_shop("acme", reader=True)
