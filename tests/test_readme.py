"""The README's quick start has exactly two commands, and CI runs the second one verbatim."""

from __future__ import annotations

from igcore.devtools import REPO, quick_start_commands


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
