"""The consent snippet runs: the rendered head is executed in Node with a stub DOM.

Checks what the page source cannot show: before consent every Google signal is
denied, Meta is revoked and Criteo's loader is absent; `vendreFeedsConsent(true)`
grants all three (Criteo's loader inserted once, with the nonce); `false` denies
again. Skips where `node` is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from jinja2 import Environment

from tests.tracking import support as s
from tracking.render import render_all
from tracking.services import enabled_services

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# Runs the scripts in a vm context whose global is `window`. A step is "script:<n>"
# (run inline script n), "rest" (run the scripts after the last one run) or
# "consent:<true|false>" (the banner's call); a snapshot is printed after each step.
_HARNESS = r"""
const vm = require('vm');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const inserted = [];
function el(tag) {
  return {tag, attrs: {}, setAttribute(k, v) { this.attrs[k] = String(v); },
          getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }};
}
const first = el('script');
first.parentNode = {insertBefore(node) { inserted.push(node); }};
const nonced = {nonce: input.nonce, getAttribute() { return input.nonce; }};
const document = {createElement: el, getElementsByTagName: () => [first],
                  querySelector: () => nonced, head: {appendChild(n) { inserted.push(n); }}};
const ctx = {document, Date};
ctx.window = ctx;
vm.createContext(ctx);
const plain = (list) => (list || []).map((x) => Array.from(x));
const out = [];
let next = 0;
const run = (i) => { vm.runInContext(input.scripts[i], ctx); next = i + 1; };
for (const step of input.steps) {
  const [kind, arg] = step.split(':');
  if (kind === 'script') run(Number(arg));
  else if (kind === 'rest') while (next < input.scripts.length) run(next);
  else ctx.vendreFeedsConsent(arg === 'true');
  out.push({
    consent: (ctx.dataLayer || []).filter((x) => x[0] === 'consent').map((x) => Array.from(x)),
    fbq: ctx.fbq ? plain(ctx.fbq.queue).filter((x) => x[0] === 'consent') : [],
    loaded: inserted.map((n) => [n.src, n.attrs.nonce || '']),
  });
}
console.log(JSON.stringify(out));
"""
GOOGLE_SIGNALS = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
CRITEO = ["https://dynamic.criteo.com/js/ld/ld.js?a=58213", s.NONCE]
GTM = ["https://www.googletagmanager.com/gtm.js?id=GTM-K3X9Q2W", s.NONCE]
META = ["https://connect.facebook.net/en_US/fbevents.js", s.NONCE]


def _run(env: Environment, steps: list[str]) -> list[dict[str, Any]]:
    opts = s.options()
    head = render_all(env, enabled_services(opts), opts, "head", [s.events()["view_item"]],
                      nonce=s.NONCE)
    scripts = [body for body, tag in zip(s.parse(head).bodies, s.script_tags(head), strict=True)
               if "src" not in tag]
    payload = json.dumps({"scripts": scripts, "steps": steps, "nonce": s.NONCE})
    result = subprocess.run([NODE, "-e", _HARNESS], input=payload, capture_output=True,
                            text=True, check=True, timeout=30)
    return json.loads(result.stdout)


def _update(state: str) -> list[Any]:
    return ["consent", "update", dict.fromkeys(GOOGLE_SIGNALS, state)]


def test_nothing_is_granted_until_the_banner_calls(env: Environment) -> None:
    (before,) = _run(env, ["rest"])
    assert before["consent"] == [["consent", "default", {**dict.fromkeys(GOOGLE_SIGNALS,
                                                                         "denied"),
                                                         "wait_for_update": 500}]]
    assert before["fbq"] == [["consent", "revoke"]]
    assert before["loaded"] == [GTM, META]


def test_consent_true_then_false(env: Environment) -> None:
    steps = ["rest", "consent:true", "consent:true", "consent:false", "consent:true"]
    granted, again, denied, regranted = _run(env, steps)[-4:]
    assert granted["consent"][-1] == _update("granted")
    assert granted["fbq"] == [["consent", "revoke"], ["consent", "grant"]]
    assert granted["loaded"] == [GTM, META, CRITEO]
    assert again["fbq"] == granted["fbq"] and again["loaded"] == granted["loaded"]
    assert denied["consent"][-1] == _update("denied")
    assert denied["fbq"][-1] == ["consent", "revoke"]
    assert regranted["fbq"][-1] == ["consent", "grant"]
    assert regranted["loaded"] == granted["loaded"]  # Criteo's loader only once


def test_consent_given_before_the_tags_load(env: Environment) -> None:
    # A banner that remembers the choice may call right after the consent snippet.
    *_, last = _run(env, ["script:0", "consent:true", "rest"])
    assert last["fbq"] == [["consent", "revoke"], ["consent", "grant"]]
    assert CRITEO in last["loaded"]
