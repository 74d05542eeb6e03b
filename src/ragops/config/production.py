"""What production refuses: embedded stores and first-start conveniences.

With `RAGOPS_ENVIRONMENT=production` the service will not start on a SQLite file, on the
embedded vector store (a Qdrant server and pgvector in PostgreSQL are shared stores), without
Redis, with auto-migration or with the demo corpus on: each is right for one process on a
laptop and wrong for several instances behind a load balancer (a file no other instance sees,
migrations raced at every start, the project's docs answered to customers).
`RAGOPS_ALLOW_EMBEDDED_IN_PRODUCTION=true` starts anyway (logging each problem); the demo
corpus is still never ingested in production. `ragops audit config` reports each.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragops.config.settings import Settings

ALLOW_SETTING = "RAGOPS_ALLOW_EMBEDDED_IN_PRODUCTION"


@dataclass(frozen=True, slots=True)
class ProductionProblem:
    """One setting that production refuses, and why."""

    field: str
    title: str
    detail: str

    @property
    def variable(self) -> str:
        return "RAGOPS_" + self.field.upper()


class ProductionConfigError(ValueError):
    """Production settings that name embedded stores or first-start conveniences."""


def production_problems(settings: Settings) -> list[ProductionProblem]:
    """The problems of `settings` as a production configuration (none outside production)."""
    if settings.environment != "production":
        return []
    problems: list[ProductionProblem] = []
    if settings.resolved_database_url.startswith("sqlite"):
        problems.append(
            ProductionProblem(
                "database_url",
                "Embedded SQLite database in production",
                "A SQLite file is local to one instance and has no backups or failover; set "
                "RAGOPS_DATABASE_URL to PostgreSQL.",
            )
        )
    store = settings.resolved_vector_store
    if store == "pgvector" and settings.resolved_pgvector_url is None:
        problems.append(
            ProductionProblem(
                "pgvector_url",
                "pgvector store without PostgreSQL",
                "RAGOPS_VECTOR_STORE=pgvector needs RAGOPS_PGVECTOR_URL or a PostgreSQL "
                "RAGOPS_DATABASE_URL.",
            )
        )
    elif store != "pgvector" and settings.qdrant_url is None:
        problems.append(
            ProductionProblem(
                "qdrant_url",
                "Embedded vector store in production",
                "Embedded vector storage cannot be shared by several instances; set "
                "RAGOPS_QDRANT_URL to a Qdrant server, or RAGOPS_VECTOR_STORE=pgvector to keep "
                "vectors in PostgreSQL.",
            )
        )
    if settings.redis_url is None:
        problems.append(
            ProductionProblem(
                "redis_url",
                "No Redis in production",
                "Without Redis every instance counts rate limits and caches answers on its "
                "own; set RAGOPS_REDIS_URL.",
            )
        )
    if settings.auto_migrate:
        problems.append(
            ProductionProblem(
                "auto_migrate",
                "Auto-migration in production",
                "Migrate once per release with `ragops db upgrade` (the pre-deploy step) and "
                "set RAGOPS_AUTO_MIGRATE=false.",
            )
        )
    if settings.demo_corpus:
        problems.append(
            ProductionProblem(
                "demo_corpus",
                "Demo corpus on in production",
                "The demo corpus (the project's own docs) is never ingested in production; "
                "set RAGOPS_DEMO_CORPUS=false.",
            )
        )
    return problems


def check_production(settings: Settings) -> list[ProductionProblem]:
    """Raise `ProductionConfigError` naming every problem, unless production was allowed to
    start on them; returns the problems let through."""
    problems = production_problems(settings)
    if problems and not settings.allow_embedded_in_production:
        names = ", ".join(problem.variable for problem in problems)
        raise ProductionConfigError(
            f"production refuses to start on {names}: "
            + " ".join(problem.detail for problem in problems)
            + f" To start anyway, set {ALLOW_SETTING}=true."
        )
    return problems
