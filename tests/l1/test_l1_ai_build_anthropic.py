"""AI build through the real anthropic SDK against the local stub (structured output, typed failures)."""
from __future__ import annotations

import json

import pytest

from tests.helpers import wait_job
from tests.l1.flowdata import HARDWARE_PROBLEM, intake, step

pytestmark = pytest.mark.usefixtures("llm_worker")

NODE = {"question": "Is the monitor on HDMI or DisplayPort?",
        "answers": [{"label": "HDMI", "leads_to": "next"}, {"label": "DisplayPort", "leads_to": "next"},
                    {"label": "Swapping the cable fixed it", "leads_to": "resolve"}]}


def start(client, tenant, session_id: str) -> str:
    resp = client.post(f"/api/v1/l1/sessions/{session_id}/next-node", json={"observation": "flicker every ~5 s"},
                       headers=tenant.h("l1"))
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()["job"]["id"]


@pytest.fixture
def session(client, tenant, published):
    return intake(client, tenant, HARDWARE_PROBLEM, expect=201)["session"]


def test_next_node_via_sdk(client, tenant, session, anthropic_stub):
    anthropic_stub.enqueue("ok", data=NODE)
    done = wait_job(client, tenant.h("l1"), start(client, tenant, session["id"]))
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["generator"] == "anthropic" and result["model"] and result["usage"]["output_tokens"] > 0
    assert result["node"]["text"] == NODE["question"] and result["node"]["answers"] == NODE["answers"]
    request = anthropic_stub.requests[-1].body
    schema = request["output_config"]["format"]["schema"]
    assert schema["required"] == ["question", "answers"]
    assert schema["properties"]["answers"]["items"]["properties"]["leads_to"]["enum"] == ["next", "resolve", "escalate"]
    content = request["messages"][0]["content"]
    prompt = json.loads((content if isinstance(content, str) else content[0]["text"]).split("(JSON):\n", 1)[1])
    assert prompt["problem"] == HARDWARE_PROBLEM and prompt["category"] == "hardware"
    assert prompt["path"] == [] and prompt["observation"] == "flicker every ~5 s"
    walked = step(client, tenant, session["id"], "ai-1", "Swapping the cable fixed it").get_json()
    assert walked["next_action"] == "resolve"


def test_second_node_prompt_carries_the_walked_path(client, tenant, session, anthropic_stub):
    anthropic_stub.enqueue("ok", data=NODE)
    wait_job(client, tenant.h("l1"), start(client, tenant, session["id"]))
    step(client, tenant, session["id"], "ai-1", "HDMI")
    anthropic_stub.enqueue("ok", data={"question": "Does another HDMI cable help?",
                                       "answers": [{"label": "Yes", "leads_to": "resolve"}, {"label": "No", "leads_to": "escalate"}]})
    done = wait_job(client, tenant.h("l1"), start(client, tenant, session["id"]))
    assert done["result"]["node"]["id"] == "ai-2"
    content = anthropic_stub.requests[-1].body["messages"][0]["content"]
    prompt = json.loads((content if isinstance(content, str) else content[0]["text"]).split("(JSON):\n", 1)[1])
    assert prompt["path"] == [{"question": NODE["question"], "answer": "HDMI"}]


def test_invalid_model_output_fails_permanently(client, tenant, session, anthropic_stub):
    anthropic_stub.enqueue("ok", data={"question": "Only one way out?", "answers": [{"label": "Yes", "leads_to": "next"}]})
    done = wait_job(client, tenant.h("l1"), start(client, tenant, session["id"]))
    assert done["status"] == "failed" and done["error"]["code"] == "llm_invalid_output" and done["attempts"] == 1
    after = client.get(f"/api/v1/l1/sessions/{session['id']}", headers=tenant.h("l1")).get_json()
    assert after["current_node"] is None and after["next_action"] == "generate"


def test_overloaded_then_success_retries(client, tenant, session, anthropic_stub):
    anthropic_stub.enqueue("overloaded", retry_after="0")
    anthropic_stub.enqueue("ok", data=NODE)
    done = wait_job(client, tenant.h("l1"), start(client, tenant, session["id"]))
    assert done["status"] == "succeeded" and done["attempts"] == 2 and anthropic_stub.calls == 2
