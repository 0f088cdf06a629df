"""CLI subcommands, one module per stage; each defines ``register(app)``.

Rules for a command module: parse options, build the stage's config, call
the stage library (imported inside the function, so ``--help`` stays fast),
render the result. No algorithms here.
"""
