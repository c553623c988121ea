"""Relay Threadline's background jobs to the GitHub Actions workflow threadline-job.yml.

Threadline (JOBS_RUNNER=callback) POSTs each job as flat JSON
``{job_id, title, instructions, repo, callback_url, callback_token}`` to JOBS_DISPATCH_URL.
GitHub starts a workflow only through its REST API (``workflow_dispatch``), with a token;
this relay holds that token and makes the call, so Threadline never holds it.

    RELAY_SECRET=... GITHUB_TOKEN=... RELAY_REPOS=acme/widgets python relay.py
    # Threadline: JOBS_DISPATCH_URL=https://relay.example.com/dispatch/<RELAY_SECRET>

Settings (environment): RELAY_SECRET (required; the last part of the dispatch path, so
only Threadline can start jobs), GITHUB_TOKEN (required; a fine-grained token with "Actions:
write" on the repositories), RELAY_REPOS (required; comma-separated owner/name a job may
run in, compared without regard to case as GitHub does), RELAY_DEFAULT_REPO (where a job without a repo runs; default: the first of
RELAY_REPOS), RELAY_WORKFLOW (threadline-job.yml), RELAY_REF (main), GITHUB_API_URL
(https://api.github.com), HOST (127.0.0.1), PORT (8090).

Answers: 202 dispatched; 400 not a job; 403 a repository not in RELAY_REPOS; 404 a wrong
path or secret; 411 no Content-Length; 413 too large (256 KiB, or GitHub's inputs limit);
502 GitHub refused (its status and message are logged, never the token). Python 3.11+,
standard library only.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FIELDS = ("job_id", "title", "instructions", "repo", "callback_url", "callback_token")
MAX_BODY = 256 * 1024
MAX_INPUT_CHARS = 65_000  # GitHub refuses workflow_dispatch inputs above 65,535 characters

log = logging.getLogger("relay")


@dataclass(frozen=True)
class Relay:
    secret: str
    github_token: str
    repos: frozenset[str]
    default_repo: str
    workflow: str = "threadline-job.yml"
    ref: str = "main"
    api_url: str = "https://api.github.com"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Relay:
        missing = [k for k in ("RELAY_SECRET", "GITHUB_TOKEN", "RELAY_REPOS") if not env.get(k)]
        if missing:
            raise SystemExit(f"relay: set {', '.join(missing)}")
        repos = [r.strip() for r in env["RELAY_REPOS"].split(",") if r.strip()]
        return cls(
            secret=env["RELAY_SECRET"],
            github_token=env["GITHUB_TOKEN"],
            repos=frozenset(repos),
            default_repo=env.get("RELAY_DEFAULT_REPO") or repos[0],
            workflow=env.get("RELAY_WORKFLOW") or cls.workflow,
            ref=env.get("RELAY_REF") or cls.ref,
            api_url=(env.get("GITHUB_API_URL") or cls.api_url).rstrip("/"),
        )

    def handle(self, path: str, body: bytes) -> tuple[int, str]:
        """One POST: the HTTP status and a short message to answer."""
        given = path.removeprefix("/dispatch/")
        if not path.startswith("/dispatch/") or not hmac.compare_digest(
            given.encode(), self.secret.encode()
        ):
            return 404, "not found"
        try:
            job = json.loads(body)
        except ValueError:
            return 400, "the body is not JSON"
        if not _is_job(job):
            return 400, f"a job is a JSON object with {', '.join(FIELDS)}"
        asked = job["repo"] or self.default_repo
        repo = next((r for r in self.repos if r.lower() == asked.lower()), None)
        if repo is None:
            return 403, f"{asked} is not in RELAY_REPOS"
        inputs = {k: job[k] or "" for k in FIELDS}
        if sum(len(v) for v in inputs.values()) > MAX_INPUT_CHARS:
            return 413, "the job is too large for a workflow_dispatch"
        status, detail = self._dispatch(repo, inputs)
        if status != 204:
            log.warning("GitHub refused job %s for %s: %s %s", job["job_id"], repo, status, detail)
            return 502, f"GitHub answered {status}"
        log.info("dispatched job %s to %s", job["job_id"], repo)
        return 202, "dispatched"

    def _dispatch(self, repo: str, inputs: dict[str, str]) -> tuple[int, str]:
        url = f"{self.api_url}/repos/{repo}/actions/workflows/{self.workflow}/dispatches"
        request = urllib.request.Request(
            url,
            data=json.dumps({"ref": self.ref, "inputs": inputs}).encode(),
            method="POST",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.github_token}",
                "Content-Type": "application/json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, ""
        except urllib.error.HTTPError as err:
            return err.code, err.read(500).decode(errors="replace")
        except (urllib.error.URLError, TimeoutError) as err:
            return 0, str(err)


def _is_job(job: Any) -> bool:
    if not isinstance(job, dict) or set(job) != set(FIELDS):
        return False
    required = all(isinstance(job[k], str) and job[k] for k in FIELDS if k != "repo")
    return required and (job["repo"] is None or isinstance(job["repo"], str))


def make_server(relay: Relay, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # seconds a client may take to send its request

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or "")
            except ValueError:
                self._answer(411, "a Content-Length is required")
                return
            if not 0 <= length <= MAX_BODY:
                self._answer(413, "too large")
                return
            self._answer(*relay.handle(self.path, self.rfile.read(length)))

        def _answer(self, status: int, message: str) -> None:
            data = json.dumps({"message": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # the path holds the secret
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    relay = Relay.from_env(os.environ)
    server = make_server(
        relay, os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8090"))
    )
    log.info("relaying jobs to %s in %s", relay.workflow, ", ".join(sorted(relay.repos)))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
