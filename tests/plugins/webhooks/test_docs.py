"""docs/webhooks.md's receivers verify our signed requests as printed: the Python one
(the Standard Webhooks library, in a Flask app) and the Node one (run by node)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import types
from pathlib import Path

from plugins.webhooks import signing

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "webhooks.md").read_text()


def _block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert found, f"docs/webhooks.md has no {language} example"
    return found.group(1)


def _signed(secret: str, body: str) -> dict[str, str]:
    return signing.headers(secret, signing.new_message_id(), int(time.time()), body)


def test_the_python_receiver_accepts_ours_and_refuses_a_forgery():
    secret = signing.new_secret()
    module = types.ModuleType("premia_receiver")
    exec(
        compile(_block("python").replace("whsec_...", secret), "webhooks.md", "exec"),
        module.__dict__,
    )
    client = module.app.test_client()
    body = json.dumps(
        {
            "type": "points.earned",
            "timestamp": "2026-12-05T00:00:00Z",
            "data": {"member": {"code": "ABC"}, "entry": {"points": 5}},
        }
    )
    headers = _signed(secret, body)
    assert client.post("/premia", data=body, headers=headers).status_code == 204
    assert client.post("/premia", data=body, headers=headers).status_code == 204  # a retry
    assert module.seen == {headers["webhook-id"]}
    forged = _signed(signing.new_secret(), body)
    assert client.post("/premia", data=body, headers=forged).status_code == 400


def test_the_node_receiver_accepts_ours_and_refuses_a_forgery(tmp_path):
    secret = signing.new_secret()
    body = '{"type":"member.created","timestamp":"2026-12-05T00:00:00Z","data":{}}'
    (tmp_path / "verify.js").write_text(_block("javascript"))
    cases = {
        "ours": _signed(secret, body),
        "forged": _signed(signing.new_secret(), body),
        "changed": {**_signed(secret, body), "webhook-id": "msg_other"},
    }
    script = (
        "const { verifyPremia } = require('./verify.js');\n"
        f"const cases = {json.dumps(cases)};\n"
        f"const secret = {json.dumps(secret)};\n"
        f"const body = {json.dumps(body)};\n"
        "const out = {};\n"
        "for (const [name, headers] of Object.entries(cases)) {\n"
        "  try { out[name] = verifyPremia(secret, headers, body).type; }\n"
        "  catch (error) { out[name] = 'refused: ' + error.message; }\n"
        "}\n"
        "console.log(JSON.stringify(out));\n"
    )
    (tmp_path / "run.js").write_text(script)
    ran = subprocess.run(
        ["node", "run.js"], cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(ran.stdout) == {
        "ours": "member.created",
        "forged": "refused: bad signature",
        "changed": "refused: bad signature",
    }
