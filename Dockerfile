# Reference image for web, worker, beat and the migrate job (see docker-compose.yml).
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package*.json ./
RUN if [ -f package.json ]; then npm ci --omit=dev --ignore-scripts; else mkdir -p node_modules; fi

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings
RUN useradd --system --uid 10001 --home /app sundown
WORKDIR /app
COPY pyproject.toml ./
COPY . .
COPY --from=assets /src/node_modules ./node_modules
RUN pip install --no-cache-dir . \
    && SECRET_KEY=build-only SUNDOWN_ENCRYPTION_KEYS=YnVpbGQtb25seS1idWlsZC1vbmx5LWJ1aWxkLW9ubHk= \
       python manage.py collectstatic --noinput \
    && chown -R sundown /app
USER sundown
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi"]
