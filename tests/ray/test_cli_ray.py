"""The `clara` CLI against the real Serve app over HTTP: train with progress, list, export/import, activate,
rollback, streaming chat, job logs."""

from __future__ import annotations

import json
import re
import tarfile

import pytest
from typer.testing import CliRunner

from clara_ray.cli.context import Overrides
from clara_ray.cli.main import app
from clara_ray.resources import qa_path

pytestmark = [pytest.mark.ray]


def clara(api_url: str, *args: str):
    env = {"CLARA_API_KEY": "", "CLARA_TOKEN": "", "CLARA_URL": "", "COLUMNS": "200"}
    return CliRunner().invoke(app, ["--url", api_url, *args], obj=Overrides(poll_seconds=0.5), env=env)


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


@pytest.mark.timeout(600)
def test_cli_trains_manages_and_chats_with_an_adapter(api_url, tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(f"name: cli-bau\ntrainer_type: LORA\ndata_paths: [{qa_path()}]\n"
                      "record_filter: {domain: baurecht}\ndomain: baurecht\n")
    out = ok(clara(api_url, "train", str(config), "--set", "max_steps=6", "--set", "learning_rate=0.003"))
    job_id = re.search(r"job (\S+) submitted", out).group(1)
    assert "RUNNING" in out and "COMPLETED" in out
    steps = re.search(r"step (\d+)/\1 ", out)  # the bar's last state: every step done
    assert steps and 0 < int(steps.group(1)) <= 6, out
    assert "new adapter version cli-bau@v1" in out

    assert job_id in ok(clara(api_url, "jobs", "list", "--name", "cli-bau"))
    logs = ok(clara(api_url, "jobs", "logs", job_id))
    assert f"step {steps.group(1)}: loss" in logs and "perplexity" in logs

    listing = ok(clara(api_url, "adapters", "list", "--name", "cli-bau"))
    assert re.search(r"│ \* │ cli-bau@v1 ", listing), listing

    # a second version: the first one exported, unpacked and imported again (the server reads this machine's disk)
    ok(clara(api_url, "adapters", "export", "cli-bau@v1", "-o", str(tmp_path)))
    with tarfile.open(tmp_path / "cli-bau-v1.tar.gz") as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    folder = next((tmp_path / "unpacked").rglob("adapter_config.json")).parent
    assert "imported cli-bau@v2" in ok(clara(api_url, "adapters", "import", "cli-bau", str(folder)))

    assert "cli-bau -> cli-bau@v2" in ok(clara(api_url, "adapters", "activate", "cli-bau@v2"))
    assert json.loads(ok(clara(api_url, "adapters", "list", "--json")))["aliases"]["cli-bau"] == "cli-bau@v2"
    assert "cli-bau -> cli-bau@v1" in ok(clara(api_url, "adapters", "rollback", "cli-bau"))
    assert re.search(r"│ \* │ cli-bau@v1 ", ok(clara(api_url, "adapters", "list", "--name", "cli-bau")))

    answer = ok(clara(api_url, "chat", "cli-bau", "--message", "Wann brauche ich eine Baugenehmigung?",
                      "--max-tokens", "8", "--temperature", "0"))
    assert answer.strip()
    as_json = json.loads(ok(clara(api_url, "chat", "cli-bau", "-m", "Wann brauche ich eine Baugenehmigung?",
                                  "--max-tokens", "8", "--temperature", "0", "--json")))
    assert as_json["content"] + "\n" == answer  # greedy: the same streamed answer twice

    refused = clara(api_url, "adapters", "activate", "cli-bau@v9")
    # stderr also carries Ray's worker log lines in this process: look for the CLI's own line
    assert refused.exit_code == 1 and any(line.startswith("error: HTTP 404 ")
                                          for line in refused.stderr.splitlines()), refused.stderr
