"""The human report: what a learner reads must stay short when the findings are many."""

from grader.report import HygieneFinding, Result, TaskResult, TestResult, render_text


def test_identical_failures_are_shown_once_with_every_test_named():
    tests = [TestResult(f"test_{n}", 1, "fail", "`f` is not implemented yet") for n in "abc"]
    tests.append(TestResult("test_d", 1, "fail", "something else"))
    text = render_text(Result("pipe", "x.py", "fail", tasks=[TaskResult(1, "t", "T", "fail", 0, 4)], tests=tests))
    assert text.count("not implemented yet") == 1
    assert "FAIL test_a, test_b, test_c (task 1)" in text
    assert "something else" in text


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
