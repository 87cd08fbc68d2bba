"""The deployment files (Dockerfile, docker-compose.yml) held against the code they run.

Neither Docker nor a database is needed: the files are parsed, and the compose environment is
given to Django's deploy checks in a subprocess, which import the settings but connect to nothing.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery

import tasks

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS_FILE = ROOT / "clinic" / "settings.py"

STACK = {"db", "rabbitmq", "redis", "mailpit", "migrate", "web", "worker", "beat"}
APP_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("db", "rabbitmq", "redis", "mailpit", "web", "worker", "beat")

# What an operator would export before `docker compose up` (the `${VAR:?…}` the file requires).
OPERATOR_VARIABLES = {
    "DJANGO_SECRET_KEY": "deploy-files-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
    "POSTGRES_PASSWORD": "0123456789abcdef0123456789abcdef",
    "RABBITMQ_DEFAULT_PASS": "fedcba9876543210fedcba9876543210",
    "AFTERCARE_PUBLIC_URL": "https://reminders.example.org",
}

# The compose stack serves plain HTTP on localhost; a deployment terminates TLS at a proxy and sets
# these, as the compose file's comments say.
PRODUCTION_TLS = {
    "DJANGO_BEHIND_TLS_PROXY": "true",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_COOKIES": "true",
}
# What `check --deploy` says about exactly those three on plain HTTP: redirect and cookie flags.
PLAIN_HTTP_WARNINGS = {"security.W008", "security.W012", "security.W016"}

# The one deploy-check warning the settings raise by choice, whatever the environment. Anything
# else `check --deploy` reports for the production configuration fails the test.
SETTINGS_DEPLOY_WARNINGS = {
    # HSTS preload commits the clinic's whole domain to HTTPS in browsers for months: the clinic's
    # IT decides it (DJANGO_SECURE_HSTS_PRELOAD=true), not a default.
    "security.W021",
}

_FALSE = {"0", "false", "no", "off"}
_UPPER_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_CHECK_ID = re.compile(r"\(([a-z0-9_]+\.[A-Z]\d{3})\)")
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?])(?P<argument>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


# --- Reading the files ----------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    definition = services[name]
    assert isinstance(definition, dict)
    return definition


def raw_environment(name: str) -> dict[str, str]:
    """A service's environment as written (before interpolation), whichever form it uses."""
    environment = service(name).get("environment") or {}
    if isinstance(environment, list):
        pairs = (entry.partition("=") for entry in environment)
        return {key: value for key, _, value in pairs}
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$$`."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        operator = match["operator"] or ""
        value = variables.get(name)
        if operator.startswith(":") and not value:
            value = None
        if value is not None:
            return value
        if operator.endswith("-"):
            return str(match["argument"])
        if operator.endswith("?"):
            raise LookupError(f"{name} is required: {match['argument']}")
        return ""

    return _INTERPOLATION.sub(substitute, text)


def environment(name: str, variables: Mapping[str, str] = OPERATOR_VARIABLES) -> dict[str, str]:
    return {key: interpolate(value, variables) for key, value in raw_environment(name).items()}


def command(name: str) -> list[str]:
    value = service(name).get("command")
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


@cache
def variables_the_settings_read() -> frozenset[str]:
    """The names clinic/settings.py looks up in the environment.

    Every upper-case string passed as the first argument to `env(...)`, `env.<cast>(...)`,
    `os.environ.get(...)`, `os.getenv(...)` or a helper defined in the settings (`envbool`), tested
    with `in env` / `in os.environ`, or used as `env[...]` / `os.environ[...]`. Other upper-case
    strings in the settings (dict keys, module paths) are not environment variables.
    """
    tree = ast.parse(SETTINGS_FILE.read_text())
    helpers = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}

    def is_environment(node: ast.expr) -> bool:
        return ast.unparse(node) in {"env", "os.environ"}

    def is_lookup(function: ast.expr) -> bool:
        if isinstance(function, ast.Name):
            return function.id in helpers | {"env", "getenv"}
        if isinstance(function, ast.Attribute):
            return is_environment(function.value) or ast.unparse(function) == "os.getenv"
        return False

    def name_in(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _UPPER_NAME.fullmatch(node.value):
            return node.value
        return None

    names: set[str] = set()
    for node in ast.walk(tree):
        found: str | None = None
        if isinstance(node, ast.Call) and node.args and is_lookup(node.func):
            found = name_in(node.args[0])
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In):
            found = name_in(node.left) if is_environment(node.comparators[0]) else None
        elif isinstance(node, ast.Subscript) and is_environment(node.value):
            found = name_in(node.slice)
        if found:
            names.add(found)
    return frozenset(names)


def run_deploy_check(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, "PATH": os.environ.get("PATH", os.defpath)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def check_ids(result: subprocess.CompletedProcess[str]) -> set[str]:
    return set(_CHECK_ID.findall(result.stdout + result.stderr))


@cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return tuple(instructions)


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return list(instructions[starts[-1] :])


def exec_form(arguments: str) -> str:
    """An instruction's command as one string, whether written as a JSON array or as a shell line."""
    if arguments.startswith("["):
        return " ".join(json.loads(arguments))
    return arguments


# --- docker-compose.yml ---------------------------------------------------------------------------


def test_the_compose_file_runs_the_whole_stack_from_the_projects_image():
    assert "version" not in compose(), "the Compose specification has no `version:`"
    assert set(compose()["services"]) >= STACK
    assert re.fullmatch(r"postgres:16([.-].*)?", str(service("db")["image"])), "the database is not PostgreSQL 16"
    for name in APP_SERVICES:
        build = service(name).get("build")
        context = build.get("context", ".") if isinstance(build, dict) else build
        assert context in {".", "./"}, f"{name} is not built from this repository's Dockerfile"
    images = {service(name).get("image") for name in APP_SERVICES}
    assert len(images) == 1, f"the application services name different images: {images}"


def test_the_settings_parser_finds_the_variables_the_settings_read_and_nothing_else():
    found = variables_the_settings_read()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_URL", "DJANGO_DEBUG"} <= found
    assert {"DJANGO_SECURE_SSL_REDIRECT", "CELERY_TASK_DEFAULT_QUEUE_TYPE", "AFTERCARE_LOG_LEVEL"} <= found
    assert {"CACHE_URL", "AFTERCARE_THROTTLE_CLIENT_RATE", "AFTERCARE_THROTTLE_STAFF_RATE"} <= found
    # Upper-case strings that are settings' own keys, not environment variables.
    assert not {"EMAIL_HOST", "CONN_MAX_AGE", "HTTP_X_FORWARDED_PROTO", "NAME"} & found


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_variable_given_to_the_application_is_one_the_settings_read(name):
    known = variables_the_settings_read()
    allowed = known | {f"{variable}_FILE" for variable in known}
    unknown = sorted(set(raw_environment(name)) - allowed)
    assert not unknown, f"{name} is given variables clinic/settings.py never reads: {unknown}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_secret_key_must_be_supplied_and_has_no_default(name):
    value = raw_environment(name).get("DJANGO_SECRET_KEY", "")
    assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]+\}", value), f"{name}: DJANGO_SECRET_KEY is {value!r}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_public_url_must_be_supplied_and_has_no_default(name):
    value = raw_environment(name).get("AFTERCARE_PUBLIC_URL", "")
    assert re.fullmatch(r"\$\{AFTERCARE_PUBLIC_URL:\?[^}]+\}", value), f"{name}: AFTERCARE_PUBLIC_URL is {value!r}"


def test_the_database_and_broker_passwords_must_be_supplied():
    text = COMPOSE_FILE.read_text()
    for variable in ("POSTGRES_PASSWORD", "RABBITMQ_DEFAULT_PASS"):
        references = re.findall(rf"\$\{{{variable}([^}}]*)\}}", text)
        assert references, f"{variable} is never used"
        assert all(reference.startswith(":?") for reference in references), f"{variable} has a default"


def test_debug_is_never_on_in_any_service():
    for name in compose()["services"]:
        value = raw_environment(name).get("DJANGO_DEBUG")
        # A literal, not `${DJANGO_DEBUG…}`: a shell variable must not be able to turn it on.
        assert value is None or value.strip().lower() in _FALSE, f"{name}: DJANGO_DEBUG is {value!r}"


def test_the_long_running_services_restart_and_run_as_the_images_user():
    for name in LONG_RUNNING:
        assert service(name).get("restart") == "unless-stopped", f"{name} does not restart"
    for name in APP_SERVICES:
        assert str(service(name).get("user", "10001")).split(":")[0] not in {"root", "0"}, name


def test_the_web_service_is_checked_on_health_and_waits_for_migrations_and_the_broker():
    web = service("web")
    assert "/health/" in " ".join(str(part) for part in web["healthcheck"]["test"])
    assert any(str(port).endswith(":8000") for port in web["ports"])
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert web["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert command("migrate") == ["python", "manage.py", "migrate", "--noinput"]
    assert service("migrate")["depends_on"]["db"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["web", "worker"])
def test_the_rate_limit_counters_are_kept_in_the_stacks_redis(name):
    url = environment(name).get("CACHE_URL", "")
    assert re.fullmatch(r"redis://redis:6379/\d+", url), f"{name}: CACHE_URL is {url!r}"
    assert str(service("redis")["image"]).startswith(("redis:", "valkey/valkey:"))
    assert "redis-cli" in " ".join(str(part) for part in service("redis")["healthcheck"]["test"])
    assert service("web")["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "ports" not in service("redis"), "Redis is for the stack only"


def test_the_celery_services_name_the_tasks_app():
    assert isinstance(tasks.app, Celery), "`celery -A tasks` needs tasks.app"
    for name, role in (("worker", "worker"), ("beat", "beat")):
        argv = command(name)
        assert argv[:1] == ["celery"], f"{name} does not run celery: {argv}"
        joined = " ".join(argv)
        assert re.search(r"(^| )(-A ?|--app[ =])tasks( |$)", joined), f"{name} does not name the tasks app: {argv}"
        assert role in argv, f"{name} does not run celery {role}: {argv}"


def test_the_compose_environment_on_plain_http_differs_from_production_only_in_tls():
    result = run_deploy_check(environment("web"))
    assert check_ids(result) == SETTINGS_DEPLOY_WARNINGS | PLAIN_HTTP_WARNINGS, result.stderr


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_the_compose_environment_behind_a_tls_proxy_passes_the_deploy_checks(name):
    result = run_deploy_check({**environment(name), **PRODUCTION_TLS})
    assert "ImproperlyConfigured" not in result.stderr, result.stderr
    assert check_ids(result) == SETTINGS_DEPLOY_WARNINGS, result.stdout + result.stderr
    if not SETTINGS_DEPLOY_WARNINGS:
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variable", ["DJANGO_SECRET_KEY", "AFTERCARE_PUBLIC_URL"])
def test_the_settings_refuse_to_start_without_the_secret_key_or_the_public_url(variable):
    env = {**environment("web"), **PRODUCTION_TLS}
    del env[variable]
    result = run_deploy_check(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_the_replica_profile_streams_a_standby_of_the_stacks_database():
    replica = service("db-replica")
    assert replica["profiles"] == ["replica"], "the replica must stay off unless asked for"
    assert replica["image"] == service("db")["image"], "a standby runs the primary's major version"
    script = " ".join(command("db-replica"))
    assert "pg_basebackup --host=db " in script
    assert "--write-recovery-conf" in script
    assert "--wal-method=stream" in script
    assert replica["depends_on"]["db"]["condition"] == "service_healthy"
    assert "ports" not in replica
    assert {"db-replica-data:/var/lib/postgresql/data"} == set(replica["volumes"])
    # `db` lets it replicate: a script the image runs when it creates the database.
    (mounted,) = service("db")["configs"]
    assert mounted["target"].startswith("/docker-entrypoint-initdb.d/")
    allow = interpolate(compose()["configs"][mounted["source"]]["content"], OPERATOR_VARIABLES)
    assert 'host replication $POSTGRES_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"' in allow
    # Without the profile's URL, the application has no replica.
    assert environment("web")["DATABASE_REPLICA_URL"] == ""


def test_the_compose_environment_with_the_replica_passes_the_deploy_checks():
    url = "postgres://aftercare:0123456789abcdef0123456789abcdef@db-replica:5432/aftercare"
    variables = {**OPERATOR_VARIABLES, "DATABASE_REPLICA_URL": url}
    result = run_deploy_check({**environment("web", variables), **PRODUCTION_TLS})
    assert environment("web", variables)["DATABASE_REPLICA_URL"] == url
    assert "ImproperlyConfigured" not in result.stderr, result.stderr
    assert check_ids(result) == SETTINGS_DEPLOY_WARNINGS, result.stdout + result.stderr


# --- Dockerfile -----------------------------------------------------------------------------------


def test_the_image_is_built_in_stages_on_python_3_11_slim():
    bases = [arguments.split()[0] for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert len(bases) >= 2, "the image is not multi-stage"
    assert all(base == "python:3.11-slim" for base in bases), bases
    copies = [arguments for keyword, arguments in final_stage() if keyword == "COPY"]
    assert any(arguments.startswith("--from=") and "/opt/venv" in arguments for arguments in copies)


def test_the_image_installs_the_package_without_the_development_extras():
    installs = [
        arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN" and "pip install" in arguments
    ]
    assert any(re.search(r"pip install [^&;]*(^| )\.( |$)", arguments) for arguments in installs), installs
    for arguments in installs:
        assert "[dev]" not in arguments
        assert "[embedded]" not in arguments
        assert not re.search(r"\.\[", arguments), f"extras installed: {arguments}"


def test_the_image_collects_static_files_at_build_time_without_debug():
    runs = [arguments for keyword, arguments in final_stage() if keyword == "RUN"]
    collect = [arguments for arguments in runs if "collectstatic --noinput" in arguments]
    assert collect, "collectstatic does not run at build time"
    assert all("DJANGO_DEBUG" not in arguments for arguments in collect)


def test_the_image_runs_as_an_unprivileged_user():
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    assert users, "the final stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}, users[-1]
    keywords = [keyword for keyword, _ in final_stage()]
    assert keywords.index("USER") < keywords.index("CMD"), "USER comes after CMD"


def test_the_image_health_check_asks_for_health():
    checks = [arguments for keyword, arguments in final_stage() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/health/" in checks[0]
    assert "urllib" in checks[0], "python:3.11-slim has no curl or wget"


def test_the_image_starts_gunicorn_on_the_wsgi_application():
    starts = [exec_form(arguments) for keyword, arguments in final_stage() if keyword in {"CMD", "ENTRYPOINT"}]
    started = " ".join(starts)
    assert "gunicorn" in started
    assert "clinic.wsgi:application" in started
    assert "0.0.0.0:8000" in started
    assert "GUNICORN_WORKERS" in started
    assert ("EXPOSE", "8000") in final_stage()


def test_the_image_starts_gunicorn_with_the_products_redacting_configuration():
    from clinic import gunicorn_conf

    started = " ".join(exec_form(arguments) for keyword, arguments in final_stage() if keyword == "CMD")
    assert re.search(r"(--config|-c)[ =]python:clinic\.gunicorn_conf( |$)", started), started
    # Given on the command line after the configuration, these would undo what it redacts.
    assert not re.search(r"--access-logformat|--logger-class|--log-config", started), started
    assert gunicorn_conf.logger_class == "clinic.gunicorn_conf.RedactingLogger"
