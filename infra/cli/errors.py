"""How any error becomes what a user sees: one line on stderr and a documented exit code.

This is the one place the CLI decides it (see ``docs/cli.md``). :func:`infra.cli.main.main`
wraps the whole Typer app in :func:`run_app`, so no command handles errors itself and no
Python traceback reaches a user, whatever the state of the database:

* **usage, exit 2** — the command line itself is wrong: Click's own checks, plus values our
  commands check before touching anything (a dataset name, ``key=value``, ``--since``...).
  They are raised as Click's ``BadParameter`` (:func:`usage`, :func:`usage_errors`,
  :func:`checked_by`) so Click prints them like its own, usage line included.
* **failure, exit 1** — a well-formed command that could not be done: a
  :class:`~infra.errors.LocxiaError` (an :class:`~infra.errors.ApprovalRefused` shows the
  database's refusal as is, never the generic privilege advice), a PostgreSQL error
  anywhere (:func:`database_line` turns it into a line that says what to do), a file the
  system refused, or — a bug — any other exception, whose traceback ``--verbose`` logs.
* **interrupted, exit 130** — Ctrl-C (and SIGTERM during ``locxia demo``).

Every line goes through :func:`one_line`, which keeps the first line of a message and masks
passwords in URLs, so a driver's multi-line message or a connection string never leaks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
import typer

from infra.errors import ApprovalRefused, InputError, LocxiaError
from infra.names import required_name

USAGE = 2
FAILURE = 1
INTERRUPTED = 130

#: SQLSTATEs meaning "the objects Locxia's migrations create are not there (yet)": undefined
#: table, column, function, object (type, role...), and schema.
NOT_MIGRATED = frozenset({"42P01", "42703", "42883", "42704", "3F000"})
INSUFFICIENT_PRIVILEGE = "42501"

UPGRADE_HINT = "run `locxia db upgrade` (`locxia db status` shows what is pending)"
PRIVILEGE_HINT = (
    "use the login that owns the Locxia schema, the one that ran `locxia db upgrade`, or"
    " grant this one the privilege"
)

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@", re.I)
_KV_PASSWORD = re.compile(r"\b(?P<head>password\s*=\s*)('[^']*'|\S+)", re.I)

#: How the Runner records those errors (``ClassName: message``), for runs that failed inside.
_NOT_MIGRATED_RECORDED = re.compile(
    r"^(UndefinedTable|UndefinedColumn|UndefinedFunction|UndefinedObject|InvalidSchemaName): "
)
_PRIVILEGE_RECORDED = re.compile(r"^InsufficientPrivilege: ")

T = TypeVar("T")
log = logging.getLogger(__name__)


def one_line(text: str) -> str:
    """The first non-empty line of ``text``, with any password in it masked as ``***``.

    Args:
        text: a message, possibly multi-line (psycopg appends ``LINE 1: ...`` and a caret).

    Returns:
        One line, safe to print: ``postgresql://u:secret@h/db`` becomes
        ``postgresql://u:***@h/db`` and ``password=secret`` becomes ``password=***``.
    """
    return masked(next((line.strip() for line in text.splitlines() if line.strip()), ""))


def masked(text: str) -> str:
    """``text`` with passwords in URLs and ``password=`` settings replaced by ``***``.

    Args:
        text: anything about to be printed that may hold a connection string.
    """
    return _KV_PASSWORD.sub(r"\g<head>***", _URL_PASSWORD.sub(r"\g<head>***@", text))


def recorded_line(error: str) -> str:
    """A run's recorded error as one line, with the upgrade hint when the schema is behind.

    A task that meets a table a newer migration creates fails *inside* its run: the Runner
    records ``UndefinedTable: relation ... does not exist``, which says nothing of the cure;
    a privilege the login lacks is recorded as ``InsufficientPrivilege: ...``.
    """
    line = one_line(error)
    if _NOT_MIGRATED_RECORDED.match(line):
        return f"{line} (the database is behind the code: {UPGRADE_HINT})"
    if _PRIVILEGE_RECORDED.match(line):
        return f"{line} ({PRIVILEGE_HINT})"
    return line


def _database_cause(exc: BaseException) -> psycopg.Error | None:
    """``exc`` itself or the first exception it was raised from that is a psycopg error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, psycopg.Error):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def _primary(error: psycopg.Error) -> str:
    """PostgreSQL's primary message (no ``LINE 1`` context), else the error's first line."""
    primary = error.diag.message_primary if error.diag is not None else None
    return one_line(primary or str(error) or type(error).__name__)


def database_line(error: psycopg.Error) -> str | None:
    """What to tell a user about a PostgreSQL error when its kind says what to do, else None.

    Args:
        error: any psycopg error.

    Returns:
        A line for a schema that is missing or behind (telling to run ``locxia db upgrade``)
        or a privilege the login lacks; ``None`` for other errors, whose own message (or the
        Locxia error wrapping them) says more.
    """
    primary = _primary(error)
    if error.sqlstate in NOT_MIGRATED:
        return f"the database is not migrated or out of date ({primary}): {UPGRADE_HINT}"
    if error.sqlstate == INSUFFICIENT_PRIVILEGE:
        return f"PostgreSQL refused: {primary} ({PRIVILEGE_HINT})"
    return None


def describe(exc: BaseException) -> str:
    """The one line (without the ``error:`` prefix) a user sees for ``exc``.

    Args:
        exc: anything a command raised.

    Returns:
        For a PostgreSQL error, or a Locxia error raised from one, whose kind says what to do:
        that advice (:func:`database_line`). Otherwise a Locxia error's own message, a system
        error's reason and file, or for anything else (a bug) its type and message.
    """
    if isinstance(exc, ApprovalRefused):
        # The database's own refusal (role, author) already names the run and the login; the
        # generic "grant this one the privilege" advice would invite the wrong fix.
        return one_line(str(exc))
    cause = _database_cause(exc)
    if cause is not None:
        advice = database_line(cause)
        if advice is not None:
            return advice
    if isinstance(exc, LocxiaError):
        return one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        return f"lost the connection to PostgreSQL: {_primary(exc)}"
    if isinstance(exc, psycopg.Error):
        state = f" [{exc.sqlstate}]" if exc.sqlstate else ""
        return f"database error{state}: {_primary(exc)}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return one_line(f"{where}{exc.strerror}")
    text = one_line(str(exc))
    return (
        f"internal error {type(exc).__name__}" + (f": {text}" if text else "") + " (a bug;"
        " `locxia --verbose ...` logs its traceback)"
    )


def is_expected(exc: BaseException) -> bool:
    """Whether ``exc`` is an error users can meet in normal operation (not a bug)."""
    return isinstance(exc, LocxiaError | psycopg.Error) or (
        isinstance(exc, OSError) and bool(exc.strerror)
    )


def run_app(run: Callable[[], object], show: Callable[[str], None]) -> int:
    """Run ``run`` (the whole Typer app) and return the process exit code.

    Args:
        run: calls the app in Click's standalone mode, which prints usage errors itself and
            exits 2 through :class:`SystemExit`.
        show: prints one error line (the CLI's red ``error:`` line).

    Returns:
        0, or the code of :class:`SystemExit`; 1 after showing a failure; 130 when interrupted.
    """
    try:
        run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else FAILURE)
    except KeyboardInterrupt:
        show("interrupted")
        return INTERRUPTED
    except Exception as exc:
        if not is_expected(exc):
            # INFO: shown with --verbose only, so a bug can be reported with its traceback.
            log.info("traceback of the internal error", exc_info=exc)
        show(describe(exc))
        return FAILURE
    return 0


class CommandLineError(typer.BadParameter):
    """A usage error found by a command itself: Click prints it as its own and exits 2.

    The message already names the option (``--since 'x': expected ...``), so it is shown as
    is, without Click's ``Invalid value:`` prefix.
    """

    def format_message(self) -> str:
        """The message, as written."""
        return self.message


def usage(ctx: typer.Context, message: str) -> CommandLineError:
    """A usage error (exit 2) of the command being run; Click prints it with the usage line.

    Args:
        ctx: the command's context (for its usage line and ``-h`` hint).
        message: what is wrong with the command line, naming the option or argument.
    """
    return CommandLineError(one_line(message), ctx=ctx)


@contextmanager
def usage_errors(ctx: typer.Context) -> Iterator[None]:
    """Turn an :class:`~infra.errors.InputError` raised inside into a usage error (exit 2).

    Wrap only checks of what was typed, done before anything is read or written: the same
    error class raised later (a row in the database, a file's content) is a failure (exit 1).

    Args:
        ctx: the command's context.
    """
    try:
        yield
    except InputError as exc:
        raise usage(ctx, str(exc)) from exc


def checked_by(check: Callable[[str], T]) -> Callable[[str], T]:
    """A Typer ``parser`` from a validator that raises InputError: bad text is a usage error.

    Click then names the parameter (``Invalid value for 'DATASET': ...``) and exits 2 before
    the command runs, as for its own types.

    Args:
        check: returns the parsed value or raises :class:`~infra.errors.InputError`.
    """

    def parse(text: str) -> T:
        try:
            return check(text)
        except InputError as exc:
            message = str(exc)
            if exc.where and message.startswith(f"{exc.where}: "):
                message = message[len(exc.where) + 2 :]
            raise typer.BadParameter(one_line(message)) from exc

    return parse


def name_of(what: str, check: Callable[[str], str] | None = None) -> Callable[[str], str]:
    """The Typer ``parser`` of every argument or option that names rows: the one place.

    An empty or blank value (``locxia params set "$NAME"`` with ``NAME`` unset) is a usage
    error (exit 2) before the command runs, whatever the kind of name; ``check`` then
    applies the kind's own rules (:func:`pipelines.shape.model.instance_name`...).

    Args:
        what: what the value is (``instance name``, ``job name``, ``run status``...), for
            the message.
        check: the kind's own validator, raising :class:`~infra.errors.InputError`.
    """

    def parse(text: str) -> str:
        required_name(text, what)
        return check(text) if check is not None else text

    return checked_by(parse)
