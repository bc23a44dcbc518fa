# FlowPilot image: one image for every process (web, worker, batch, clock, migrate).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Copy only what the package needs: never .venv/ or .run/ (local database, demo token, secret key).
# README.md* : setup.cfg reads it for long_description; the glob keeps the build working without it.
COPY setup.cfg pyproject.toml README.md* Procfile ./
COPY db ./db
COPY shared ./shared
COPY web ./web
COPY workers ./workers
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin flowpilot

USER flowpilot
EXPOSE 8000
# docker-compose.yml sets the command per service; this default is the web process.
CMD ["gunicorn", "-c", "python:web.gunicorn_conf", "--bind", "0.0.0.0:8000", "web:create_app()"]
