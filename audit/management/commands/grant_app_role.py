from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg2 import sql

from audit.migrations_sql import APPEND_ONLY

# Written only by the append functions, which run with their owner's rights.
OWNER_WRITTEN = ("audit_auditevent", "audit_chainhead")
APPEND_FUNCTIONS = (
    "audit_lock_head()",
    "audit_append_rows(text, text, text, text, text, text)",
    "audit_append_small(text, text, text, text, text, text)",
)


class Command(BaseCommand):
    help = (
        "PostgreSQL: give the application's login role what it needs and no more. "
        "Run as the owner of the tables after every migrate. The role owns nothing, so it "
        "cannot disable the audit tables' triggers; it appends events only through the "
        "audit_lock_head and audit_append_rows functions and may not change the chain head "
        "or verification runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="Existing login role the web and workers connect as.")

    def handle(self, *args, role, **options):
        if connection.vendor != "postgresql":
            raise CommandError("grant_app_role is for PostgreSQL deployments.")
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
            row = cursor.fetchone()
            if row is None:
                raise CommandError(f"Role {role!r} does not exist; create it first.")
            if row[0]:
                raise CommandError(f"Role {role!r} is a superuser; it could bypass the triggers.")
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tableowner = %s",
                [role],
            )
            owned = [r[0] for r in cursor.fetchall()]
            if owned:
                raise CommandError(f"Role {role!r} owns tables {owned}; it must own none.")
            ident = sql.Identifier(role)
            statements = [
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(connection.settings_dict["NAME"]), ident
                ),
                sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident),
                sql.SQL(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
                ).format(ident),
                *(
                    sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                        sql.Identifier(table), ident
                    )
                    for table in OWNER_WRITTEN
                ),
                *(
                    sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                        sql.Identifier(table), ident
                    )
                    for table in APPEND_ONLY
                ),
                *(
                    sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), ident)
                    for function in APPEND_FUNCTIONS
                ),
                sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(
                    ident
                ),
            ]
            with transaction.atomic():
                for statement in statements:
                    cursor.execute(statement)
        self.stdout.write(
            self.style.SUCCESS(
                f"{role}: read/write on application tables; audit appends through functions only"
            )
        )
