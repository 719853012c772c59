"""Real clients against a real server on loopback: Google's own google-api-python-client, built from the discovery
document and changed in nothing but the host, scores comments and reads attributeScores; Coral's exact toxic-phase
request is answered within its 500 ms client timeout on CPU with the default model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import running_server
from threadguard.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_google_api_python_client_unmodified(tiny_model_dir: Path, tmp_path: Path) -> None:
    from googleapiclient import discovery
    from googleapiclient.errors import HttpError

    with running_server(tiny_model_dir, f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "server.log") as server:
        # Perspective's documented Python usage, with Google's host replaced by ours.
        client = discovery.build("commentanalyzer", "v1alpha1", developerKey="any-key",
                                 discoveryServiceUrl=f"{server.base}/$discovery/rest?version=v1alpha1", static_discovery=False)
        request = {"comment": {"text": "You are an idiot, honestly."}, "requestedAttributes": {"TOXICITY": {}, "INSULT": {}}}
        response = client.comments().analyze(body=request).execute()
        assert set(response["attributeScores"]) == {"TOXICITY", "INSULT"}
        insult = response["attributeScores"]["INSULT"]["summaryScore"]
        assert insult["type"] == "PROBABILITY" and 0 <= insult["value"] <= 1
        scored = httpx.post(f"{server.base}/v1/score", json={"body": "You are an idiot, honestly."}, timeout=10).json()
        assert insult["value"] == pytest.approx(scored["scores"]["insult"], abs=1e-5)
        suggestion = {"comment": {"text": "you clown"}, "attributeScores": {"INSULT": {"summaryScore": {"value": 1.0}}}, "communityId": "forum-a"}
        assert client.comments().suggestscore(body=suggestion).execute()["detectedLanguages"] == ["en"]
        with pytest.raises(HttpError) as refused:
            client.comments().analyze(body={"comment": {"text": "hi there"}, "requestedAttributes": {"PROFANITY": {}}}).execute()
        assert refused.value.resp.status == 400
        assert json.loads(refused.value.content)["error"]["details"][0]["errorType"] == "ATTRIBUTE_NOT_SUPPORTED"


def test_corals_toxic_phase_request_meets_its_500_ms_timeout(tmp_path: Path) -> None:
    model = PROJECT_ROOT / "models" / "current"
    seed = PROJECT_ROOT / "labels" / "data" / "seed.jsonl"  # the real forum comments of the seed threads
    texts = [json.loads(line)["body"] for line in seed.read_text().splitlines()]
    with running_server(model, f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "server.log") as server, httpx.Client(timeout=0.5) as coral:
        url = f"{server.base}/v1alpha1/comments:analyze?key=unused"
        latencies = []
        for i in range(100):
            body = {"comment": {"text": texts[i % len(texts)]}, "languages": ["en"], "doNotStore": True, "requestedAttributes": {"TOXICITY": {}}}
            started = time.perf_counter()
            response = coral.post(url, json=body)  # httpx raises on the 500 ms timeout, as Coral gives up
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200 and 0 <= response.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] <= 1
    latencies.sort()
    assert latencies[98] < 0.5, f"p99 {latencies[98] * 1000:.0f} ms"
