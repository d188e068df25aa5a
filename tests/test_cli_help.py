"""Every command's help: a description, a help text for every argument, the default of every
flag that takes a value, and the job-key defaults formatted from the config models."""

from __future__ import annotations

import argparse
import re

import pytest

from zslabel.cli import _parser
from zslabel.cli.jobargs import job_overrides
from zslabel.config import InputSpec, JobConfig, OutputSpec, ReviewSpec, RunnerSpec, SelectionSpec

SECTIONS = {
    "input": InputSpec,
    "output": OutputSpec,
    "selection": SelectionSpec,
    "review": ReviewSpec,
    "runner": RunnerSpec,
}
SELECTION_FLAGS = (
    "--min-confidence",
    "--per-class-top-fraction",
    "--min-above-chance",
    "--min-margin",
    "--threshold",
)


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments ``--help`` shows (hidden ones, such as check's output flags, left out)."""
    skip = (argparse._HelpAction, argparse._VersionAction)
    return [
        action
        for action in parser._actions
        if not isinstance(action, skip) and action.help != argparse.SUPPRESS
    ]


def in_required_group(parser: argparse.ArgumentParser, action: argparse.Action) -> bool:
    return any(
        group.required and action in group._group_actions
        for group in parser._mutually_exclusive_groups
    )


def job_flag(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    return action


def test_the_commands_are_found() -> None:
    # Guards the tests below against iterating nothing.
    assert {"label", "check", "run", "eval", "train", "predict", "demo"} <= set(commands())


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_a_description_and_every_argument_a_help(name: str) -> None:
    parser = commands()[name]
    assert parser.description, f"zslabel {name}: no description"
    for action in arguments(parser):
        flag = "/".join(action.option_strings) or action.dest
        assert (action.help or "").strip(), f"zslabel {name} {flag}: no help"
        takes_value = action.nargs != 0
        optional = not action.required and not in_required_group(parser, action)
        if action.option_strings and takes_value and optional:
            no_default = f"zslabel {name} {flag}: help gives no default"
            assert "(default: " in (action.help or ""), no_default
    parser.format_help()  # a stray % in a help string fails here, not in front of a user


@pytest.mark.parametrize("name", ["label", "check", "run"])
def test_job_flags_print_the_config_defaults(name: str) -> None:
    parser = commands()[name]
    checked = []
    for action in arguments(parser):
        match = re.search(r"\(default: the job's (\w+)\.(\w+), ([^:)]+)", action.help or "")
        if match is None or match[1] not in SECTIONS:
            continue
        section, key, shown = match.groups()
        default = SECTIONS[section].model_fields[key].get_default(call_default_factory=True)
        assert shown == ("none" if default is None else str(default)), action.option_strings
        checked.append(action.option_strings[0])
    assert set(SELECTION_FLAGS) <= set(checked)
    # check writes no review files: it accepts --review-limit but does not offer it.
    assert ("--review-limit" in checked) == (name != "check")


def test_selection_flag_defaults_are_the_selection_defaults() -> None:
    parser = commands()["label"]
    defaults = SelectionSpec()
    for flag in SELECTION_FLAGS:
        key = flag.removeprefix("--").replace("-", "_")
        help_text = job_flag(parser, flag).help or ""
        shown = re.search(rf"selection\.{key}, ([0-9.]+)\)", help_text)
        assert shown is not None, help_text
        assert float(shown[1]) == getattr(defaults, key)
    assert "(default: the job's multi_label, false)" in (
        job_flag(parser, "--multi-label").help or ""
    )
    assert JobConfig.model_fields["multi_label"].default is False


def test_out_says_what_it_is_per_command() -> None:
    found = {
        name: job_flag(commands()[name], "--out").help or ""
        for name in ("label", "train", "predict")
    }
    assert found["label"].startswith("output folder of the job")
    assert found["train"].startswith("folder to save the student model in")
    assert found["predict"].startswith("Parquet file to write")
    assert commands()["predict"]._option_string_actions["--out"].metavar == "FILE"


def test_review_limit_sets_the_job_key() -> None:
    args = _parser().parse_args(["label", "job.yaml", "--review-limit", "25"])
    assert job_overrides(args) == {"review": {"limit": 25}}
    args = _parser().parse_args(["label", "job.yaml"])
    assert "review" not in job_overrides(args)
