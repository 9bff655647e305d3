"""Kata definitions: `kata/exercises/<id>/kata.yaml`, validated into `KataDef`.

The grader owns this schema because grading needs it (tasks, required API names,
time and memory limits, perf thresholds); the app reads the same objects.
A malformed file raises `CatalogError` with `file: message`, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from grader.locations import exercises_dir, solutions_dir, suites_dir

DEFAULT_TIME_LIMIT = 10.0
DEFAULT_MEMORY_LIMIT_MB = 4096


class CatalogError(Exception):
    """A kata id that does not exist or a kata.yaml that does not parse."""


@dataclass(frozen=True)
class Task:
    id: int
    name: str
    title: str
    time_limit: float
    perf: bool = False


@dataclass(frozen=True)
class PerfMetric:
    name: str
    unit: str
    threshold: float
    description: str


@dataclass(frozen=True)
class KataDef:
    id: str
    title: str
    mechanism: str
    difficulty: int
    summary: str
    api: tuple[str, ...]
    tasks: tuple[Task, ...]
    perf: tuple[PerfMetric, ...]
    memory_limit_mb: int
    import_time_limit: float
    test_time_limits: dict[str, float] = field(default_factory=dict)
    folder: Path = Path()

    @property
    def spec_path(self) -> Path:
        return self.folder / "README.md"

    @property
    def starter_path(self) -> Path:
        return self.folder / "starter.py"

    @property
    def hints_path(self) -> Path:
        return self.folder / "hints.yaml"

    @property
    def suite_dir(self) -> Path:
        return suites_dir() / self.id

    @property
    def solution_path(self) -> Path:
        return solutions_dir() / f"{self.module}.py"

    @property
    def module(self) -> str:
        return module_name(self.id)

    def task(self, task_id: int) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    def metric(self, name: str) -> PerfMetric:
        for metric in self.perf:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def time_limit(self, test_name: str, task_id: int | None) -> float:
        """Per-test override, else the task's limit, else the default."""
        if test_name in self.test_time_limits:
            return self.test_time_limits[test_name]
        if task_id is not None:
            try:
                return self.task(task_id).time_limit
            except KeyError:
                pass
        return DEFAULT_TIME_LIMIT

    def hints(self) -> list[str]:
        return load_hints(self.hints_path)


def module_name(kata_id: str) -> str:
    """The Python module name of a kata's files (workspace file, reference solution):
    kata ids are dashed words, module names cannot hold a dash."""
    return kata_id.replace("-", "_")


def kata_ids() -> list[str]:
    """Every kata id, in catalog order (difficulty, then id)."""
    return [k.id for k in all_katas()]


def all_katas() -> list[KataDef]:
    root = exercises_dir()
    katas = [load_kata(p.name) for p in sorted(root.iterdir()) if (p / "kata.yaml").is_file()]
    return sorted(katas, key=lambda k: (k.difficulty, k.id))


def load_kata(kata_id: str) -> KataDef:
    folder = exercises_dir() / kata_id
    path = folder / "kata.yaml"
    if not path.is_file():
        known = ", ".join(p.name for p in sorted(exercises_dir().iterdir()) if (p / "kata.yaml").is_file())
        raise CatalogError(f"unknown kata {kata_id!r}; known katas: {known}")
    return _load_kata_file(path)


@cache
def _load_kata_file(path: Path) -> KataDef:
    data = _read_yaml(path)
    where = str(path)
    try:
        default_limit = float(data.get("time_limit", DEFAULT_TIME_LIMIT))
        tasks = tuple(
            Task(
                id=int(t["id"]),
                name=str(t["name"]),
                title=str(t["title"]),
                time_limit=float(t.get("time_limit", default_limit)),
                perf=bool(t.get("perf", False)),
            )
            for t in data["tasks"]
        )
        perf = tuple(
            PerfMetric(
                name=str(m["name"]),
                unit=str(m["unit"]),
                threshold=float(m["threshold"]),
                description=str(m.get("description", "")),
            )
            for m in data.get("perf", [])
        )
        kata = KataDef(
            id=str(data["id"]),
            title=str(data["title"]),
            mechanism=str(data["mechanism"]),
            difficulty=int(data["difficulty"]),
            summary=str(data.get("summary", "")).strip(),
            api=tuple(str(name) for name in data["api"]),
            tasks=tasks,
            perf=perf,
            memory_limit_mb=int(data.get("memory_limit_mb", DEFAULT_MEMORY_LIMIT_MB)),
            import_time_limit=float(data.get("import_time_limit", 10)),
            test_time_limits={str(k): float(v) for k, v in (data.get("test_time_limits") or {}).items()},
            folder=path.parent,
        )
    except KeyError as missing:
        raise CatalogError(f"{where}: missing field {missing}") from None
    except (TypeError, ValueError, AttributeError) as bad:
        raise CatalogError(f"{where}: malformed field: {bad}") from None
    if kata.id != path.parent.name:
        raise CatalogError(f"{where}: id {kata.id!r} does not match its folder {path.parent.name!r}")
    if not kata.tasks:
        raise CatalogError(f"{where}: a kata needs at least one task")
    return kata


def load_hints(path: Path) -> list[str]:
    if not path.is_file():
        return []
    data = _read_yaml(path)
    hints = data.get("hints")
    if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
        raise CatalogError(f"{path}: 'hints' must be a list of strings")
    return [h.strip() for h in hints]


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # here, not at the top: the CLI imports CatalogError on every start

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CatalogError(f"{path}{line}: malformed YAML: {problem}") from None
    except OSError as err:
        raise CatalogError(f"{path}: cannot read: {err.strerror}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top level")
    return data
