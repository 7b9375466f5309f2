"""The README gives a fresh machine exactly two commands (the main job, the tests), and CI runs the
README's test command exactly, so the two cannot drift apart."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_commands():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```bash\n(.*?)^```", section, re.S | re.M).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_readme_has_exactly_two_self_contained_commands():
    cmds = readme_commands()
    assert len(cmds) == 2, cmds
    main, tests = cmds
    # each one installs the package itself: no third setup line to run first
    assert main.startswith("pip install") and "python -m regcore.bench" in main
    assert tests.startswith("pip install") and "python -m pytest" in tests


def test_ci_runs_the_readme_test_command_exactly():
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        lines = [ln.strip() for ln in f.read().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert lines[-1] == readme_commands()[1]


def build_requirements():
    """pyproject.toml's [build-system] requires, as written (one line of quoted specifiers)."""
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("[build-system]", 1)[1].split("\n[", 1)[0]
    line = re.search(r"^requires\s*=\s*\[(.*?)\]", section, re.S | re.M).group(1)
    return re.findall(r'"([^"]+)"', line)


def test_each_command_installs_the_build_tools_then_builds_without_isolation():
    # Both commands build in the user's environment (--no-build-isolation) so that the second one
    # reuses the first one's CMake cache and objects; that needs pyproject's build requirements
    # installed first, by each command itself (CI runs the test command alone in a fresh venv).
    wanted = build_requirements()
    assert wanted, "no [build-system] requires found"
    for cmd in readme_commands():
        steps = [s.strip() for s in cmd.split("&&")]
        assert steps[0] == "pip install " + " ".join(f'"{r}"' for r in wanted), steps[0]
        assert steps[1].startswith("pip install") and "--no-build-isolation" in steps[1], steps[1]
