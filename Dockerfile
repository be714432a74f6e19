# Production image: gunicorn serving governance.wsgi, static files by WhiteNoise.
# The same image runs the Celery worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=governance.settings \
    PYTHONPATH=/app

# gettext: msgfmt for compilemessages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The dependencies first, in their own layer, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# The project itself, non-editable. Templates, static files and translations live beside the code
# in /app (PYTHONPATH), which is where settings.BASE_DIR points when run from here.
# collectstatic runs with DEBUG=0 so that WhiteNoise's manifest (staticfiles.json) is written: the
# production storage needs it. The keys below exist only for this build step, never at run time.
RUN pip install . \
    && rm -rf build ./*.egg-info \
    && mkdir -p locale \
    && DEBUG=1 python manage.py compilemessages -v 0 \
    && DEBUG=0 \
       SECRET_KEY=build-only-dummy-secret-key-never-used-at-run-time-0123456789abcdef \
       FIELD_ENCRYPTION_KEY=build-only-dummy-field-key-0123456789abcdef \
       python manage.py collectstatic --noinput -v 0

# Non-root. It writes only to the uploaded media directory and its home (gunicorn's control socket).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
       --shell /usr/sbin/nologin app \
    && mkdir -p /app/data/media \
    && chown -R app:app /app/data
USER 10001:10001

EXPOSE 8000

CMD ["gunicorn", "governance.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "180", "--access-logfile", "-"]
