"""skiffctl's verbs, one module per family. Each module has ``register(sub)``, which adds its
subcommand parsers with ``set_defaults(run=...)``; ``run(ctx)`` is an async function returning
the exit code."""
