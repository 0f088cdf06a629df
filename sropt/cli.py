"""The `sropt` command line: a thin shell over the stage libraries.

Each module in ``sropt.commands`` registers its subcommands with
``register(app)``; they are discovered here, so adding a command never means
editing this file. Command modules import their stage library inside the
command function, which keeps ``sropt --help`` instant (no TensorFlow import).

``main()`` maps sropt's errors to the exit codes documented in
``sropt.core.errors`` and prints the message without a traceback.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

from sropt import __version__
from sropt.core.errors import SroptError

app = typer.Typer(
    name="sropt",
    help="Turn super-resolution networks into pruned, quantized, validated artifacts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sropt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings, errors and results (e.g. `sropt -q run`)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show third-party output (TensorFlow/absl/oneDNN/CUDA, tf2onnx warnings)."),
) -> None:
    """sropt: prune, quantize, export and validate super-resolution models.

    Exit codes: 0 ok, 1 quality gate failed, 2 usage/input error, 3 fetch error,
    4 stage error (converter/runtime failure), 130 interrupted.
    """
    _set_noise_level(verbose=verbose, quiet=quiet)
    if not verbose:
        from sropt.core.quiet import native_output_to_log

        # Entered here, closed when the command's context closes (after it
        # returned or raised), so the error line main() prints is not captured.
        ctx.with_resource(native_output_to_log())
    _widen_non_terminal_output(ctx)


def _set_noise_level(*, verbose: bool, quiet: bool) -> None:
    """Silence third-party chatter unless -v; runs before any TensorFlow import.

    TF_CPP_MIN_LOG_LEVEL=3 drops TF's C++ INFO/WARNING/ERROR lines in the
    stage processes `sropt run` spawns (TF 2.21 only reads it at process
    start; in this process sropt.core.quiet catches them at the fd level);
    the Python loggers cover tf2onnx's deprecation warnings. Loggers are
    configured by name, so nothing heavy is imported.
    """
    import logging

    from sropt.core.quiet import Verbosity, set_verbosity

    set_verbosity(Verbosity.VERBOSE if verbose else Verbosity.QUIET if quiet else Verbosity.NORMAL)
    if quiet:
        logging.getLogger("sropt").setLevel(logging.WARNING)
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # no GPU probing on CPU-only runs
    for name in ("tensorflow", "tf2onnx", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _widen_non_terminal_output(ctx: typer.Context) -> None:
    """Let rich tables run as wide as their content when nothing here is a terminal (a CI log).

    rich falls back to 80 columns without a terminal, which folded every gate
    message over five lines. COLUMNS is what rich reads for its width; it is
    only set when neither stream is a terminal, so a terminal keeps its own.
    """
    if "COLUMNS" not in os.environ and not any(s.isatty() for s in (sys.stdout, sys.stderr) if hasattr(s, "isatty")):
        os.environ["COLUMNS"] = str(NON_TERMINAL_COLUMNS)
        ctx.call_on_close(lambda: os.environ.pop("COLUMNS", None))  # main() may be called again in-process


#: Wide enough for any gate row; rich tables only take the width their content needs.
NON_TERMINAL_COLUMNS = 400


def _register_commands() -> None:
    from sropt import commands

    modules = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    for name in modules:
        module = importlib.import_module(f"sropt.commands.{name}")
        module.register(app)


_register_commands()


#: Spellings still accepted but not shown in --help. Every command's output option is `--out`/`-o`;
#: prune, quantize, export and package called it `--output` before issue 19.
HIDDEN_ALIASES = {"--output": "--out"}


def expand_hidden_aliases(argv: list[str]) -> list[str]:
    """``argv`` with each hidden alias (``--output X``, ``--output=X``) spelled as its option; ``--`` ends options."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return out + argv[i:]
        name, eq, value = arg.partition("=")
        out.append(HIDDEN_ALIASES[name] + eq + value if name in HIDDEN_ALIASES else arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and exit with) the documented exit code."""
    # TensorFlow's C++ INFO/WARNING lines (oneDNN, CUDA stubs) bury the tool's
    # own output; errors still show. Set here, not in the library, so Python
    # users keep control of their own logging.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # tf.keras binds to Keras 3 or tf-keras on first use; QAT (tensorflow-model-optimization) needs
    # tf-keras, so route it before anything imports TensorFlow (spawned stage processes inherit it).
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from sropt.core.interrupt import install

    restore_sigint = install()  # records Ctrl-C, so one a library swallows still ends in 130 (core/interrupt.py)
    try:  # put the previous handler back even when an unexpected exception leaves (in-process callers, tests)
        code = _run_app(argv)
        if code == 130:  # a KeyboardInterrupt above, or typer's own 130 for Ctrl-C
            _print_error("interrupted; no partial artifacts were kept")
    finally:
        restore_sigint()
    if argv is None:
        from sropt.core.quiet import Verbosity, discard_native_output_at_exit, verbosity

        if verbosity() is not Verbosity.VERBOSE:
            discard_native_output_at_exit()
        sys.exit(code)
    return code


def _run_app(argv: list[str] | None) -> int:
    """The typer app's exit code for ``argv``, each documented failure mapped to its code (interrupt: 130)."""
    from sropt.core.interrupt import interrupted

    try:
        # Under standalone_mode=False typer turns Ctrl-C into a return value of
        # 130 (it prints nothing), so the result is the exit code, not None.
        result = app(args=expand_hidden_aliases(sys.argv[1:] if argv is None else list(argv)), standalone_mode=False)
    except SroptError as exc:
        _print_error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        code = 130
    except Exception as exc:  # click usage errors arrive as ClickException
        # typer >= 0.2x vendors click as typer._click (no `click` module), so
        # recognise a ClickException by its interface instead of importing click.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            code = exc.exit_code
        else:
            raise
    else:
        code = result if isinstance(result, int) else 0
        if interrupted():
            code = 130
    return code


def _print_error(exc: object) -> None:
    from rich.console import Console
    from rich.markup import escape

    # escape(): messages contain shapes like [1,H,W,1] that rich would eat as markup.
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(exc))}")
