"""Names that select rows: an empty or blank one is refused, never taken as "no filter".

A script that runs ``locxia params set "$NAME" ...`` with ``NAME`` unset passes an empty
string. Code that reads ``WHERE name = %s`` only ``if name`` would then select every row and
change the first one. Every function that selects rows by a name a caller gives (instances,
datasets, policies, jobs, tasks...) calls :func:`required_name` first, and the CLI refuses
such values as usage errors through the one parser that reads names
(:func:`infra.cli.errors.name_of`), before anything is read or written.
"""

from __future__ import annotations

from infra.errors import InputError


def required_name(value: object, what: str, where: str | None = None) -> str:
    """Return ``value`` unchanged if it is a string with a non-blank character.

    Args:
        value: the name as given.
        what: what the value is (``instance name``, ``dataset name``, ``run status``...),
            for the message.
        where: where the value came from (an option, a row), prefixed to the message.

    Returns:
        ``value`` itself (not stripped: whether surrounding spaces are allowed is the
        business of each kind of name's own validator).

    Raises:
        InputError: ``value`` is not a string, is empty, or holds only whitespace.
    """
    if not isinstance(value, str):
        raise InputError(f"the {what} must be text, got {type(value).__name__}", where)
    if value == "":
        raise InputError(f"the {what} is empty (an unset shell variable?)", where)
    if not value.strip():
        raise InputError(f"the {what} is blank ({value!r})", where)
    return value
