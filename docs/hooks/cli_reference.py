"""MkDocs hook: fills docs/cli.md with every `sysid` command and option, from the argparse parser."""

from __future__ import annotations

import argparse
import pathlib
import sys

MARKER = "<!-- sysid-cli-reference -->"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    from sysid.cli import _parser

    return markdown.replace(MARKER, cli_markdown(_parser()))


def cli_markdown(parser: argparse.ArgumentParser, prefix: str = "sysid") -> str:
    """One section per command (sub-commands nested), each with its usage and an option table."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                out.append(f"## `{prefix} {name}`\n\n{sub.description or helps.get(name) or ''}\n")
                usage = " ".join(sub.format_usage().split())
                out.append(f"```\n{usage.removeprefix('usage: ')}\n```\n")
                rows = [_row(a) for a in sub._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
                if rows:
                    out.append("| option | default | help |\n|---|---|---|\n" + "\n".join(rows) + "\n")
                out.append(cli_markdown(sub, f"{prefix} {name}"))
    return "\n".join(out)


def _row(action: argparse.Action) -> str:
    name = ", ".join(action.option_strings) or action.dest
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        name += " {" + ",".join(map(str, action.choices)) + "}"
    default = "" if action.default in (None, argparse.SUPPRESS, False, []) else f"`{action.default}`"
    text = (action.help or "").replace("|", "\\|").replace("\n", " ")
    return f"| `{name}` | {default} | {text} |"
