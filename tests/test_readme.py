"""The README's quick start has exactly two commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re

from tests.conftest import REPO


def quick_start_commands() -> list[str]:
    """The bash blocks of the README's quick start, in order (also used by bench/dashboard_bench.py)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_two_commands_setting_up_then_running_app_and_tests():
    app, tests = quick_start_commands()
    for command in (app, tests):
        assert "\n" not in command and command.startswith("python3 -m venv .venv && ")
        assert "-r requirements.txt" in command
    assert app.endswith("igcore app") and tests.endswith("-m pytest")


def test_ci_runs_the_readme_test_command():
    ci_lines = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci_lines[-1] == quick_start_commands()[1]


def test_torch_is_pinned_to_the_cpu_wheel_version():
    assert "torch==2.13.0" in (REPO / "requirements.txt").read_text().splitlines()
