"""Command line entry point: ``surveysphere-sandbox`` / ``python -m airflow_provider_surveysphere.sandbox``."""

from __future__ import annotations

import argparse
import os
import re
import signal
import threading
from pathlib import Path
from types import FrameType

from airflow_provider_surveysphere.sandbox.config import ENDS_NOW, SandboxConfig
from airflow_provider_surveysphere.sandbox.data import parse_timestamp
from airflow_provider_surveysphere.sandbox.server import SandboxServer

#: SandboxConfig fields offered as options of their own, with the help text of the class's docstring.
KNOBS = (
    "token_endpoint_failures", "error_rate", "error_every", "rate_limit_every", "drop_every", "revoke_after",
    "revoke_times", "close_survey", "close_at", "live_survey", "live_visible",
)


def _help_of(name: str) -> str:
    """The ``:param name:`` text of SandboxConfig's docstring, joined onto one line."""
    doc = SandboxConfig.__doc__ or ""
    match = re.search(rf":param {name}: (.*?)(?=\n\s*:param |\n\s*$|\Z)", doc, re.S)
    return " ".join(match.group(1).split()).replace("%", "%%") if match else name


def _parser() -> argparse.ArgumentParser:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="surveysphere-sandbox",
        description="Serve a local SurveySphere API sandbox until interrupted.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # adds "(default: ...)" where help lacks it
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument("--https", action="store_true", help="serve HTTPS with a generated certificate")
    parser.add_argument("--surveys", type=int, default=defaults.surveys, help="number of surveys")
    parser.add_argument("--responses-per-survey", type=int, default=defaults.responses_per_survey,
                        help="responses in each survey")
    parser.add_argument("--response-interval", type=float, default=defaults.response_interval,
                        help="seconds between consecutive responses (default: %(default)s)")
    parser.add_argument("--start", type=parse_timestamp, default=None,
                        help="submission time of the first response, ISO 8601 (default: the time that makes "
                             "the last response the current minute: the data ends now, none in the future)")
    parser.add_argument("--token-lifetime", type=float, default=defaults.token_lifetime,
                        help="seconds a token stays valid (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the generated data")
    parser.add_argument("--client-id", default=defaults.client_id, help="client id the token endpoint accepts")
    parser.add_argument("--client-secret", default=defaults.client_secret,
                        help="client secret the token endpoint accepts")
    parser.add_argument("--latency", type=float, default=defaults.latency,
                        help="seconds of delay added to every request (default: %(default)s)")
    parser.add_argument("--latency-jitter", type=float, default=defaults.latency_jitter,
                        help="up to this many more seconds, drawn per request (default: %(default)s)")
    parser.add_argument("--concurrency-limit", type=int, default=defaults.concurrency_limit,
                        help="answer 429 past this many requests in flight; 0 = no limit (default: %(default)s)")
    parser.add_argument("--page-cache", type=int, default=defaults.page_cache, help=_help_of("page_cache"))
    parser.add_argument("--indent", type=int, default=defaults.indent, help=_help_of("indent"))
    parser.add_argument("--retry-after", type=int, default=defaults.retry_after,
                        help="seconds sent in Retry-After with a 429 (default: %(default)s)")
    faults = parser.add_argument_group("failures and waiting (SandboxConfig fields; also settable at runtime with "
                                       "POST /__sandbox/config)")
    for name in KNOBS:
        default = getattr(defaults, name)
        faults.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default, help=_help_of(name))
    parser.add_argument("--port-file", type=Path, help="write the base URL to this file once listening")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def _write_atomically(path: Path, text: str) -> None:
    # Readers polling for the file never see it half written.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text + "\n")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until SIGINT or SIGTERM; return the exit status.

    :param argv: command line arguments (default: ``sys.argv[1:]``).
    """
    args = _parser().parse_args(argv)
    try:
        config = SandboxConfig(
            client_id=args.client_id,
            client_secret=args.client_secret,
            token_lifetime=args.token_lifetime,
            surveys=args.surveys,
            responses_per_survey=args.responses_per_survey,
            start=args.start if args.start is not None else ENDS_NOW,
            response_interval=args.response_interval,
            seed=args.seed,
            latency=args.latency,
            latency_jitter=args.latency_jitter,
            concurrency_limit=args.concurrency_limit,
            retry_after=args.retry_after,
            page_cache=args.page_cache,
            indent=args.indent,
            **{name: getattr(args, name) for name in KNOBS},
        )
    except ValueError as exc:
        _parser().error(str(exc))
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with SandboxServer(args.host, args.port, config=config, https=args.https, verbose=args.verbose) as sandbox:
        print(f"SurveySphere sandbox listening on {sandbox.base_url}", flush=True)
        print(f"client_id: {config.client_id}", flush=True)
        # The sandbox's own throwaway credential, printed on purpose so users can copy it.
        print(f"client_secret: {config.client_secret}", flush=True)
        if sandbox.ca_cert_path:
            print(f"ca_cert: {sandbox.ca_cert_path}", flush=True)
        if args.port_file:
            _write_atomically(args.port_file, sandbox.base_url)
        try:
            while not stopping.wait(0.5):
                pass
        finally:
            if args.port_file:
                args.port_file.unlink(missing_ok=True)
    print("SurveySphere sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
