"""The `shared-memory` kata both ways: the reference passes, the starter and each mutant fail with the right message."""
import pytest

from katalib import Mutant, assert_solution_passes, assert_starter_fails_every_task, check_mutant

KATA = "shared-memory"

MUTANTS = [
    Mutant("no_length_header.py", ("test_fetch_returns_exactly_what_was_published",), "fail",
           "store the length in a header"),
    Mutant("unlink_only_closes.py", ("test_publish_fetch_small",), "fail", "was never unlinked"),
    Mutant("remove_only_detaches.py", ("test_board_write_read",), "fail", "was never removed"),
    Mutant("remove_without_detach.py", ("test_board_remove_destroys_the_segment",), "fail",
           "remove() must also detach"),
    Mutant("read_past_the_segment.py", ("test_board_bounds",), "fail",
           "instead of raising ValueError"),
    Mutant("board_not_zeroed.py", ("test_board_write_read",), "fail", "init_character"),
    Mutant("histogram_through_pipe.py", ("test_histogram_data_never_crosses_a_pipe",), "fail",
           "went through a pipe"),
    Mutant("histogram_segment_never_unlinked.py", ("test_histogram_small",), "fail", "was never unlinked"),
    Mutant("last_shard_misses_the_tail.py", ("test_histogram_uneven_shards",), "fail",
           "some bytes were never counted"),
    Mutant("fetch_chunked_concat.py", ("test_publish_fetch_throughput",), "fail", "too slow", perf=True),
    Mutant("histogram_one_worker_at_a_time.py", ("test_histogram_workers_count_at_the_same_time",), "fail",
           "the workers never counted at the same time"),
]

# mutants whose bug is a leak: the grader's hygiene check must name the object
LEAKS = {"unlink_only_closes.py": "posix-shm", "remove_only_detaches.py": "sysv-shm",
         "histogram_segment_never_unlinked.py": "posix-shm"}  # a name of its own: found by the creation ledger


def test_solution_passes():
    assert_solution_passes(KATA)


def test_starter_fails_every_task_with_not_implemented():
    assert_starter_fails_every_task(KATA)


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_rejected(mutant):
    result = check_mutant(KATA, mutant)
    if mutant.file in LEAKS:
        kinds = {finding.kind: finding.name for finding in result.hygiene}
        assert LEAKS[mutant.file] in kinds, f"no {LEAKS[mutant.file]} leak finding: {result.hygiene}"
        assert kinds[LEAKS[mutant.file]] in result.tests[0].message, result.tests[0].message
