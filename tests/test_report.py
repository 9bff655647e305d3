"""The human report: what a learner reads must stay short when the findings are many."""

import json

from grader.report import (
    SCHEMA_VERSION,
    BlockedProcess,
    HygieneFinding,
    Result,
    TaskResult,
    TestResult,
    TimeoutDiagnosis,
    render_text,
)


def test_identical_failures_are_shown_once_with_every_test_named():
    tests = [TestResult(f"test_{n}", 1, "fail", "`f` is not implemented yet") for n in "abc"]
    tests.append(TestResult("test_d", 1, "fail", "something else"))
    text = render_text(Result("pipe", "x.py", "fail", tasks=[TaskResult(1, "t", "T", "fail", 0, 4)], tests=tests))
    assert text.count("not implemented yet") == 1
    assert "FAIL test_a, test_b, test_c (task 1)" in text
    assert "something else" in text


def test_long_lines_are_wrapped_to_the_width_under_their_indent_and_short_ones_kept():
    """A terminal wraps a long line to column 0; the report wraps it under its own indent instead."""
    path = "/home/learner/.local/share/ipc-kata/workspace/pipe.py"
    message = ("the parent read to EOF before the child wrote a byte of its answer; " * 3) + path
    tests = [TestResult("test_a", 1, "fail", message + "\n  a short line, kept as it is")]
    lines = render_text(Result("pipe", "x.py", "fail", tests=tests), width=60).splitlines()
    start = lines.index("  FAIL test_a (task 1)") + 1
    said = lines[start : lines.index("", start)]
    assert len(said) > 4 and all(line.startswith("    ") for line in said), said
    assert all(len(line) <= 60 for line in said if path not in line), said
    assert any(line.strip() == path for line in said), said  # never broken inside a word
    assert " ".join(" ".join(said[:-1]).split()) == " ".join(message.split())
    assert said[-1] == "      a short line, kept as it is"


def test_hundreds_of_findings_of_one_kind_are_summarised():
    findings = [HygieneFinding("process", f"pid {n}", "still running", "test_storm") for n in range(300)]
    findings.append(HygieneFinding("fd", "7", "still open", "test_storm"))
    text = render_text(Result("pipe", "x.py", "fail", hygiene=findings))
    assert text.count("still running") == 5
    assert "... and 295 more process findings in test_storm (all in --json)" in text
    assert "fd 7 [test_storm]: still open" in text


def test_skipped_tasks_are_not_counted_as_failed():
    tasks = [
        TaskResult(1, "a", "A", "pass", 2, 2),
        TaskResult(2, "p", "P", "skipped", perf=True, skipped_because="--no-perf"),
    ]
    text = render_text(Result("pipe", "x.py", "pass", tasks=tasks, tests=[TestResult("t", 1, "pass")] * 2))
    assert "PASS: 1/1 tasks (1 skipped), 2/2 tests" in text
    assert "(--no-perf)" in text


def _timeout(name: str, same_as: str = "") -> TestResult:
    diagnosis = TimeoutDiagnosis(
        pattern="cycle",
        sentence="A deadlock: the parent (pid 10) waits for child 11 to exit; ...",
        confidence="certain",
        deadlock=True,
        evidence=["pid 10 (python) wait4(): waits for child 11 to exit"],
        pids=[10, 11],
        objects=["child", "pipe"],
        stopped_early=True,
        same_as=same_as,
    )
    blocked = [
        BlockedProcess(10, "test process", "python", "blocked in wait4()", ["impl.py:3 in f   <- your code"]),
        BlockedProcess(11, "child of 10", "python", "blocked in write()", [], waits_for="write(): waits to write"),
    ]
    message = "stopped after 1.6 s of its 5 s limit" + (f": the same bug as {same_as}" if same_as else "")
    return TestResult(name, 1, "timeout", message, blocked=blocked, diagnosis=diagnosis)


def test_a_timeout_shows_what_each_process_waits_for_and_the_evidence_when_verbose():
    result = Result("pipe", "x.py", "fail", tests=[_timeout("test_a")])
    text = render_text(result)
    assert "        waits: write(): waits to write" in text
    assert "evidence:" not in text
    verbose = render_text(result, verbose=True)
    assert "      pid 10 (python) wait4(): waits for child 11 to exit" in verbose


def test_the_same_bug_again_is_one_line_and_its_processes_show_only_when_verbose():
    result = Result("pipe", "x.py", "fail", tests=[_timeout("test_a"), _timeout("test_b", same_as="test_a")])
    text = render_text(result)
    assert "the same bug as test_a" in text
    assert text.count("waits: ") == 1 and text.count("pid 11 (child of 10)") == 1
    assert render_text(result, verbose=True).count("pid 11 (child of 10)") == 2


def test_a_result_with_a_diagnosis_survives_json():
    result = Result(
        "pipe", "x.py", "fail", tests=[_timeout("test_a")], hygiene=[HygieneFinding("fifo", "/f", "m", "t", 7)]
    )
    again = Result.from_dict(json.loads(result.to_json()))
    assert again == result and again.schema == SCHEMA_VERSION == 3
    assert again.tests[0].diagnosis.cause().startswith("Cause, from what each process waits for: A deadlock")


def test_a_perf_test_that_times_out_says_too_slow_and_a_mutant_check_takes_it_as_such():
    from grader.mutants import Mutant, _problem
    from grader.protocol import TestDescription
    from grader.report import Result, TestResult, TimeoutDiagnosis
    from grader.runner import _timeout_message

    busy = TimeoutDiagnosis("busy-loop", "pid 12 was running in your code at pipe.py:131", "likely", pids=[12])
    perf_test = TestDescription("t::test_rate", "test_rate", 4, 30.0, True, perf=True)
    plain_test = TestDescription("t::test_small", "test_small", 1, 5.0, True)
    slow = _timeout_message(perf_test, busy, 30.0, None)
    assert slow.startswith("timed out after 30 s (the limit for this test): too slow, or stuck.")
    assert "too slow" not in _timeout_message(plain_test, busy, 5.0, None)

    result = Result(kata="pipe", implementation="pipe.py", status="fail")
    result.tests = [TestResult("test_rate", 4, "timeout", message=slow)]
    perf_mutant = Mutant("pipe", "quadratic", ("test_rate",), "fail", "too slow", perf=True)
    correctness_mutant = Mutant("pipe", "no_close", ("test_rate",), "fail", "too slow")
    assert _problem(perf_mutant, result) == ""
    assert "is timeout, expected fail" in _problem(correctness_mutant, result)
