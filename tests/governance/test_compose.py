"""docker-compose.yml and the Dockerfile describe a working production topology.

Docker cannot run here, so these read the files the way Compose and Docker would; .ci/topology.sh
runs the same topology as plain processes.
"""

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("web", "worker", "beat")
ALL_SERVICES = ("postgres", "redis", *APP_SERVICES)

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value, env):
    """Substitute variables as Compose does; a required variable that is unset is an error."""

    def substitute(match):
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise LookupError(f"required variable {name} is not set: {arg}")
        return ""

    return VARIABLE.sub(substitute, str(value)).replace("$$", "$")


PRODUCTION_ENV = {
    "SECRET_KEY": "s" * 30 + "E" * 30,
    "FIELD_ENCRYPTION_KEY": "f" * 44,
    "POSTGRES_PASSWORD": "pg-password-123",
}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command_words(service):
    command = service.get("command")
    assert command, "service has no command"
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def shell_script(service):
    """The script of a `sh -c "..."` command, else the command itself joined."""
    words = command_words(service)
    if words[:2] == ["sh", "-c"] or words[:2] == ["/bin/sh", "-c"]:
        return words[2]
    return shlex.join(words)


def depends_on(service):
    deps = service.get("depends_on") or {}
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def healthcheck_text(service):
    test = (service.get("healthcheck") or {}).get("test")
    assert test, "service has no healthcheck"
    return test if isinstance(test, str) else " ".join(str(word) for word in test)


def test_the_five_services_exist(services):
    assert set(ALL_SERVICES) <= set(services)


def test_backing_services_use_the_agreed_images_with_healthchecks(services):
    assert services["postgres"]["image"].split(":")[0] == "postgres"
    assert services["postgres"]["image"].split(":")[1].startswith("15")
    assert "pg_isready" in healthcheck_text(services["postgres"])
    assert services["postgres"].get("volumes"), "PostgreSQL data would be lost with the container"
    assert services["redis"]["image"].split(":")[0] == "redis"
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert "redis-cli" in healthcheck_text(services["redis"])
    assert "ping" in healthcheck_text(services["redis"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_are_built_from_this_repository(services, name):
    build = services[name].get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    assert context in (".", "./"), f"{name} does not run the image built from this repository"


def test_web_migrates_before_starting_gunicorn(services):
    script = shell_script(services["web"])
    steps = [step.strip() for step in script.split("&&")]
    migrate = next(i for i, step in enumerate(steps) if "manage.py migrate" in step)
    gunicorn = next(i for i, step in enumerate(steps) if step.startswith("gunicorn"))
    assert migrate < gunicorn, "gunicorn must only start after the migrations succeeded"
    assert "--noinput" in steps[migrate]
    gunicorn_words = shlex.split(steps[gunicorn])
    assert "governance.wsgi:application" in gunicorn_words
    assert "0.0.0.0:8000" in gunicorn_words


def test_web_has_a_healthcheck_on_healthz(services):
    text = healthcheck_text(services["web"])
    assert "/healthz" in text
    assert "localhost:8000" in text or "127.0.0.1:8000" in text


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_run_celery_for_the_governance_app(services, name):
    words = command_words(services[name])
    assert words[0] == "celery"
    app = words[words.index("-A") + 1] if "-A" in words else None
    assert app == "governance"
    assert name in words[words.index("-A") + 2 :], f"celery is not started as {name}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_get_the_production_environment(services, name):
    env = environment(services[name])
    resolved = {key: interpolate(value, PRODUCTION_ENV) for key, value in env.items()}

    assert resolved.get("DEBUG") == "0"

    database = urlparse(resolved["DATABASE_URL"])
    assert database.scheme in ("postgres", "postgresql", "pgsql")
    assert database.hostname == "postgres"
    assert database.password == PRODUCTION_ENV["POSTGRES_PASSWORD"]

    redis = urlparse(resolved["REDIS_URL"])
    assert redis.scheme == "redis"
    assert redis.hostname == "redis"

    assert resolved["SECRET_KEY"] == PRODUCTION_ENV["SECRET_KEY"]
    assert resolved["FIELD_ENCRYPTION_KEY"] == PRODUCTION_ENV["FIELD_ENCRYPTION_KEY"]
    assert resolved["ALLOWED_HOSTS"] == "localhost"
    assert resolved["SECURE_SSL_REDIRECT"] == "1"


@pytest.mark.parametrize("name", APP_SERVICES)
@pytest.mark.parametrize("secret", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "POSTGRES_PASSWORD"])
def test_secrets_are_required_not_defaulted(services, name, secret):
    env = environment(services[name])
    missing = {key: value for key, value in PRODUCTION_ENV.items() if key != secret}
    with pytest.raises(LookupError, match=secret):
        for value in env.values():
            interpolate(value, missing)


def test_database_credentials_match_the_postgres_service(services):
    postgres = {
        key: interpolate(value, PRODUCTION_ENV)
        for key, value in environment(services["postgres"]).items()
    }
    database = urlparse(interpolate(environment(services["web"])["DATABASE_URL"], PRODUCTION_ENV))
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == postgres["POSTGRES_DB"]
    assert (database.port or 5432) == 5432


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_postgres_and_redis(services, name):
    deps = depends_on(services[name])
    for backing in ("postgres", "redis"):
        assert backing in deps, f"{name} does not depend on {backing}"
        assert deps[backing].get("condition") == "service_healthy"


# --- Dockerfile ---------------------------------------------------------------------------------


def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def exec_form(arguments):
    try:
        words = json.loads(arguments)
    except json.JSONDecodeError:
        return ["/bin/sh", "-c", arguments]
    assert isinstance(words, list)
    return words


def test_dockerfile_cmd_runs_gunicorn_with_the_wsgi_application():
    commands = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    words = exec_form(commands[-1])  # the last CMD is the one that counts
    assert words[0] == "gunicorn"
    assert "governance.wsgi:application" in words
    bind = words[words.index("--bind") + 1] if "--bind" in words else words[words.index("-b") + 1]
    assert bind == "0.0.0.0:8000"


def test_dockerfile_builds_a_non_root_production_image():
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11-slim")

    runs = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert "gettext" in runs
    assert re.search(r"pip install (?:\S+ )*\.(?:\s|$)", runs), "the project is not pip-installed"
    assert "pip install -e" not in runs and "--editable" not in runs
    assert "manage.py compilemessages" in runs
    assert "manage.py collectstatic --noinput" in runs

    exposed = [arguments.split() for keyword, arguments in instructions if keyword == "EXPOSE"]
    assert any("8000" in ports or "8000/tcp" in ports for ports in exposed)

    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    # collectstatic and compilemessages must run before dropping root (they write into /app).
    last_user = max(i for i, k in enumerate(keywords) if k == "USER")
    build_steps = [
        i
        for i, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN" and "collectstatic" in arguments
    ]
    assert build_steps and max(build_steps) < last_user


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {
        line.strip().lstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for path in (".git", ".venv", "db.sqlite3"):
        assert path in ignored, f"{path} would be copied into the image"
