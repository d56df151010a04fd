"""The jobs in the catalogue, one module each; each exposes ``run(ctx) -> JobResult``.

Imported only by the process that runs the job, so their heavy imports stay out of
the scheduler's own process.
"""

__all__: list[str] = []
