"""The parser of every ``unifer`` command: transformers' ``HfArgumentParser``, which declares one option per field of
a config dataclass (``--batch_size`` and ``--batch-size``; help from ``metadata["help"]``), plus four small things
it lacks:

* a field with ``metadata={"positional": True}`` is a positional argument (``unifer score PREDICTIONS...``);
* ``-v/--verbose`` and ``-q/--quiet`` on every parser, so they work before or after the subcommand;
* bool fields as plain flags (``--overwrite``; ``--no-reasoning`` for a True default), as argparse's ``store_true``;
* short help: each option once (its ``--dashed-spelling``), defaults shown where there is one to show.

A parser built from dataclasses records itself in what it parses (``config_parser``): ``unifer``'s ``main`` builds
the dataclasses from the parsed values there, so their ``__post_init__`` checks are reported as one-line errors.

The pattern of a command module (``commands/eval.py`` is one)::

    def run(config: EvalConfig) -> int: ...

    def make_parser(subparsers=None):
        return command_parser(subparsers, "eval", EvalConfig, run, help="evaluate a model on …")
"""

from __future__ import annotations

import argparse
import dataclasses

from transformers import HfArgumentParser


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--batch-size BATCH_SIZE  … (default: 8)``: one spelling per option, no metavar for a flag, no default
    where there is none to show (None, False, an empty list)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        spellings = [
            s for s in action.option_strings if "_" not in s or s.replace("_", "-") not in action.option_strings
        ]
        if action.nargs == 0:  # a flag
            return ", ".join(spellings)
        return f"{', '.join(spellings)} {self._format_args(action, self._get_default_metavar_for_optional(action))}"

    def _get_help_string(self, action: argparse.Action) -> str:
        if any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS)) or action.default == []:
            return action.help or ""
        return super()._get_help_string(action)


def verbosity_options(parser: argparse.ArgumentParser) -> None:
    """``-v`` / ``-q``, set only where given (``SUPPRESS``): a subcommand's parser must not reset what was given
    before the subcommand."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="also log debugging detail"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="log warnings and errors only"
    )


class UniferArgumentParser(HfArgumentParser):
    """``HfArgumentParser`` with positional fields, ``-v``/``-q`` and :class:`HelpFormatter` (see the module)."""

    def __init__(self, dataclass_types=None, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(dataclass_types, **kwargs)
        verbosity_options(self)
        if self.dataclass_types:
            self.set_defaults(config_parser=self)

    # HfArgumentParser's per-field hook (private; transformers is capped in setup.py): each field is declared by
    # HfArgumentParser's own rules (type, nargs, default, help), through _FieldDeclaration.
    @staticmethod
    def _parse_dataclass_field(parser, field: dataclasses.Field) -> None:
        HfArgumentParser._parse_dataclass_field(_FieldDeclaration(parser), field)


class _FieldDeclaration:
    """Stands in for the parser while HfArgumentParser declares a field: the ``--dashed-spelling`` first (what
    usage and help show; ``--underscored`` works too), a bool as a flag, a positional field under its bare name."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def add_argument(self, *option_strings: str, positional: bool = False, **kwargs) -> argparse.Action:
        if kwargs.get("nargs") == "?" and kwargs.get("const") is True:
            # A bool field: a plain flag (`--no-x` turns a True default off), so that it cannot take the positional
            # after it for its value (`unifer export metric --overwrite DIR`).
            kwargs = {key: value for key, value in kwargs.items() if key not in ("nargs", "const", "type")}
            kwargs["action"] = "store_true"
        if kwargs.get("action") == "store_false":  # `--no-x`: its help is `--x`'s
            kwargs.pop("help", None)
        if positional:
            kwargs.pop("required", None)  # argparse takes none for a positional: nargs says whether it may be absent
            return self.parser.add_argument(option_strings[0].removeprefix("--"), **kwargs)
        return self.parser.add_argument(*sorted(option_strings, key=lambda spelling: "_" in spelling), **kwargs)


def parsed_configs(args: argparse.Namespace) -> tuple:
    """The config dataclasses of the command that parsed ``args`` (``__post_init__`` checks run here), or
    ``(args,)`` for a command declared without dataclasses."""
    parser = getattr(args, "config_parser", None)
    return (args,) if parser is None else parser.parse_dict(vars(args), allow_extra_keys=True)


def subcommand_parser(
    subparsers, name: str, config_class=None, *, help: str, description: str | None = None
) -> UniferArgumentParser:
    """The parser of ``unifer NAME`` (options: ``config_class``'s fields, if given): registered in ``subparsers``
    (the ``unifer`` parser's, as TRL's ``make_parser``), or standalone when None."""
    description = description or help
    if subparsers is None:
        return UniferArgumentParser(config_class, prog=f"unifer {name}", description=description)
    return subparsers.add_parser(name, dataclass_types=config_class, help=help, description=description)


def command_parser(
    subparsers, name: str, config_class, run, *, help: str, description: str | None = None
) -> UniferArgumentParser:
    """The parser of ``unifer NAME``, whose options are ``config_class``'s fields and which runs ``run(config)``
    (see :func:`subcommand_parser`)."""
    parser = subcommand_parser(subparsers, name, config_class, help=help, description=description)
    parser.set_defaults(handler=run)
    return parser
