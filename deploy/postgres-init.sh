#!/bin/sh
# Runs once when the PostgreSQL volume is created: the login role the application
# uses. It owns nothing, so it cannot switch off the audit table's triggers
# (`manage.py grant_app_role` gives it its privileges after each migrate).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE sundown_app LOGIN PASSWORD '${APP_DB_PASSWORD}';
SQL
