"""Experiment configs: one YAML file per experiment, ``configs/DATASET/METHOD.yaml``.

A config has the sections ``data``, ``model``, ``optimizer``, ``scheduler``, ``trainer``,
``evaluation`` and ``paper`` plus ``seed`` and ``description``; everything not given takes
the defaults of App. A (AdamW, weight decay 0.0153, ReduceLROnPlateau with factor 0.7 and
patience 8, early stopping with patience 6, up to 100 epochs). ``extends: OTHER`` starts
from another experiment's file (sections merge key by key; a ``model`` with another ``name``
replaces the inherited model section). ``model: {name: …, …}`` selects a builder of
:mod:`gmcnn.models.registry`; its other keys are that builder's keyword options.

Command-line overrides are ``key=value`` with dotted keys (``trainer.max_epochs=5``,
``model.radius=2``), values parsed as YAML. Every key and value is checked here, before any
data is read or model trained, and an error names the key: numbers must be finite (``nan``
and ``inf`` are refused) and positive where a count, size or rate is meant. Keys and values
are checked before the dataset and model names, and this module imports neither torch nor
Lightning until then, so a mistyped key is reported at once.

``data.max_examples`` trains and evaluates on the first N examples of every split (a quick
check, not the paper's setting): reports mark such runs "subset" and leave out the paper's
numbers next to them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

if TYPE_CHECKING:  # the registry imports torch; it is loaded only to check model names
    from gmcnn.models.registry import Task

#: Extra folders of experiment configs, separated by ``os.pathsep``; searched first.
CONFIG_PATH_ENV = "GMCNN_CONFIG_PATH"
PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed", "64-true")
#: ``trainer.accelerator`` values; ``gpu`` / ``cuda`` need a CUDA device, ``mps`` Apple's.
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


#: ``data.name`` of a run trained by :func:`gmcnn.experiments.training.fit` on datasets held
#: in memory: its data cannot be loaded again by name.
IN_MEMORY = "(in memory)"
TASKS = ("classification", "dynamics")


class ConfigError(ValueError):
    """A config key or value is invalid; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    """Which dataset (:func:`gmcnn.data.load`) and how it is batched.

    ``downsample``: average every ``f × f`` block of grid points of every split (inputs and,
    for dynamics, target fields), e.g. ``2`` turns the 64×64 plumes into 32×32; the grid must
    be divisible by ``f``. ``stride``: keep every ``stride``-th example (window) of the
    ``train`` and ``valid`` splits; the test splits are kept whole. Both reduce the CPU
    protocol's cost (``configs/DATASET/cpu/``); 1 (the default) changes nothing.
    """

    name: str
    source: str | None = None
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 256
    eval_batch_size: int = 512
    num_workers: int = 0
    max_examples: int | None = None
    downsample: int = 1
    stride: int = 1


@dataclass(frozen=True)
class ModelConfig:
    """A registered model name and its builder's keyword options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizerConfig:
    """AdamW (App. A.1: learning rate 0.003–0.009, weight decay 0.0153).

    ``relaxation_weight`` multiplies the model's ``relaxation_penalty()`` in the training
    loss: the soft-equivariance term of the relaxed baselines (RGroup and RSteer, Wang et al.
    2022; RPP's prior, Finzi et al. 2021), or for GM-CNNs the squared distance of the relaxed
    GMConv layers to group matrices (eq. 13). 0 (the default, the GM-CNN recipe of App. A)
    leaves the loss as it is; models without a penalty are unaffected.
    """

    lr: float = 0.004
    weight_decay: float = 0.0153
    relaxation_weight: float = 0.0


@dataclass(frozen=True)
class SchedulerConfig:
    """ReduceLROnPlateau on the validation loss (App. A.1: factor 0.7, patience 8)."""

    factor: float = 0.7
    patience: int = 8
    min_lr: float = 0.0


@dataclass(frozen=True)
class TrainerConfig:
    """Lightning trainer settings (App. A: up to 100 epochs, early stopping patience 6).

    ``max_minutes`` stops training after that much wall-clock time (then evaluates as usual);
    ``progress_bar`` shows a bar on a terminal and one line per epoch otherwise.
    """

    max_epochs: int = 100
    early_stopping_patience: int = 6
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    progress_bar: bool = True
    log_every_n_steps: int = 10
    max_minutes: float | None = None


@dataclass(frozen=True)
class EvaluationConfig:
    """How the model equivariance error is estimated after training (MATH.md §8)."""

    equivariance_elements: int = 8
    equivariance_examples: int = 128


@dataclass(frozen=True)
class PaperConfig:
    """The paper's numbers for this experiment, for reports and docs/reproduction.md."""

    table: str | None = None
    column: str | None = None
    row: str | None = None
    accuracy: float | None = None
    rmse_future: float | None = None
    rmse_domain: float | None = None
    parameters: int | None = None
    note: str = ""


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment; ``name`` is ``DATASET/METHOD`` (or the file's path)."""

    name: str
    task: Task
    data: DataConfig
    model: ModelConfig
    description: str = ""
    seed: int = 0
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data in the YAML layout (``model`` flattened, ``name`` left out)."""
        data = dataclasses.asdict(self)
        del data["name"]
        data["model"] = {"name": self.model.name, **self.model.options}
        return data


# --- finding files --------------------------------------------------------------------------


def config_dirs() -> list[Path]:
    """Folders searched for ``DATASET/METHOD.yaml``: ``$GMCNN_CONFIG_PATH``, then ``configs/``."""
    dirs = [Path(p) for p in os.environ.get(CONFIG_PATH_ENV, "").split(os.pathsep) if p]
    project = Path(__file__).resolve().parents[3] / "configs"
    if project.is_dir():
        dirs.append(project)
    return dirs


def list_experiments() -> list[str]:
    """Every ``DATASET/METHOD`` found in :func:`config_dirs`, sorted."""
    names = {
        path.relative_to(folder).with_suffix("").as_posix()
        for folder in config_dirs()
        for path in folder.rglob("*.yaml")
    }
    return sorted(names)


def find_config(experiment: str) -> Path:
    """The YAML file of ``experiment`` (a ``DATASET/METHOD`` name or a path to a file)."""
    direct = Path(experiment)
    if direct.suffix in (".yaml", ".yml") and direct.is_file():
        return direct
    for folder in config_dirs():
        candidate = folder / f"{experiment}.yaml"
        if candidate.is_file():
            return candidate
    known = list_experiments()
    dataset = experiment.split("/")[0]
    related = [k for k in known if k.startswith(dataset + "/")] or known
    raise ConfigError(
        f"unknown experiment {experiment!r}: no {experiment}.yaml in "
        f"{', '.join(map(str, config_dirs())) or 'any config folder'}; available: "
        + ", ".join(related[:20])
        + (" …" if len(related) > 20 else "")
    )


#: ``--protocol`` values: ``paper`` (the configs as they are), ``cpu`` (``configs/DATASET/cpu/``).
PROTOCOLS = ("paper", "cpu")


def protocol_experiment(experiment: str, protocol: str | None) -> str:
    """The experiment (``DATASET/METHOD``) or comparison (``DATASET``) that ``protocol`` names.

    ``paper`` (or ``None``) leaves ``experiment`` as it is; ``cpu`` names the reduced CPU
    protocol of the same dataset and method, ``DATASET/cpu/METHOD`` (``DATASET/cpu`` for a
    comparison), whose configs extend the paper's (docs/reproduction.md). Raises
    :class:`ConfigError` (one line) for another protocol, a YAML path, or a dataset or method
    that has no CPU protocol, listing those that have one.
    """
    if protocol is None or protocol == "paper":
        return experiment
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    if Path(experiment).suffix in (".yaml", ".yml"):
        raise ConfigError(f"--protocol {protocol} needs a DATASET/METHOD name, not a file")
    parts = experiment.strip("/").split("/")
    if protocol in parts[1:-1] or (len(parts) == 2 and parts[1] == protocol):
        return experiment.strip("/")  # already named in that protocol
    dataset, method = parts[0], "/".join(parts[1:])
    known = list_experiments()
    reduced = [n for n in known if n.startswith(f"{dataset}/{protocol}/")]
    if not reduced:
        datasets = sorted({n.split("/")[0] for n in known if f"/{protocol}/" in n})
        raise ConfigError(
            f"dataset {dataset!r} has no {protocol} protocol (no configs/{dataset}/{protocol}/); "
            f"{protocol} protocols exist for: {', '.join(datasets) or 'none'}"
        )
    if not method:
        return f"{dataset}/{protocol}"
    name = f"{dataset}/{protocol}/{method}"
    if name not in known:
        methods = ", ".join(n.rsplit("/", 1)[1] for n in reduced)
        raise ConfigError(
            f"{experiment} has no {protocol} protocol (no configs/{name}.yaml); the {protocol} "
            f"protocol of {dataset} has: {methods}"
        )
    return name


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _resolve(experiment: str, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    if experiment in chain:
        raise ConfigError(f"config key 'extends' loops: {' → '.join((*chain, experiment))}")
    raw = _read_yaml(find_config(experiment))
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"config key 'extends' = {parent!r}: expected an experiment name")
    base = _resolve(parent, (*chain, experiment))
    model, inherited = raw.get("model"), base.get("model")
    if isinstance(model, Mapping) and isinstance(inherited, Mapping):
        if model.get("name", inherited.get("name")) != inherited.get("name"):
            base.pop("model")  # another model: its options replace the inherited ones
    return _merge(base, raw)


# --- overrides ------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"trainer.max_epochs=5"`` → ``(["trainer", "max_epochs"], 5)`` (value parsed as YAML)."""
    key, sep, value = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. seed=1)")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``raw`` with each ``key=value`` of ``overrides`` set (nested mappings created)."""
    result = _merge({}, raw)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"config key {where!r} is not a section; cannot set {text!r}")
            node[part] = child = dict(child)
            node = child
        node[path[-1]] = value
    return result


# --- validation -----------------------------------------------------------------------------


def _describe(annotation: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if annotation in names:
        return names[annotation]
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(annotation)))
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        parts = ["null" if a is type(None) else _describe(a) for a in typing.get_args(annotation)]
        return " or ".join(parts)
    if typing.get_origin(annotation) is dict:
        return "a mapping"
    return str(annotation)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        for option in typing.get_args(annotation):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
    elif annotation is type(None):
        if value is None:
            return None
    elif origin is Literal:
        if value in typing.get_args(annotation):
            return value
    elif origin is dict:
        if isinstance(value, Mapping):
            return dict(value)
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            with contextlib.suppress(ValueError):
                return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"config key {key!r} = {value!r}: expected {_describe(annotation)}")


def _section(cls: type[Any], raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config key {prefix!r} must be a section (a mapping), got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ConfigError(
                f"config key '{prefix}.{key}' is not known; expected one of: " + ", ".join(fields)
            )
    values = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _coerce(raw[name], hints[name], f"{prefix}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"config key '{prefix}.{name}' is required")
    return cls(**values)


def _positive(value: float | int | None, key: str, allow_zero: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is ``None`` or a finite number > 0 (>= 0)."""
    if value is None:
        return
    bound = "non-negative" if allow_zero else "positive"
    if not math.isfinite(value):
        raise ConfigError(f"config key {key!r} = {value!r}: expected a finite {bound} number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"config key {key!r} = {value!r}: expected a {bound} number")


def _check_values(config: ExperimentConfig) -> None:
    """Check every numeric and named value of ``config`` (see the module docstring)."""
    if not 0 <= config.seed < 2**32:
        raise ConfigError(f"config key 'seed' = {config.seed}: expected 0 … 4294967295")
    _positive(config.data.batch_size, "data.batch_size")
    _positive(config.data.eval_batch_size, "data.eval_batch_size")
    _positive(config.data.num_workers, "data.num_workers", allow_zero=True)
    _positive(config.data.max_examples, "data.max_examples")
    _positive(config.data.downsample, "data.downsample")
    _positive(config.data.stride, "data.stride")
    _positive(config.optimizer.lr, "optimizer.lr")
    _positive(config.optimizer.weight_decay, "optimizer.weight_decay", allow_zero=True)
    _positive(config.optimizer.relaxation_weight, "optimizer.relaxation_weight", allow_zero=True)
    if not 0.0 < config.scheduler.factor < 1.0:
        raise ConfigError(
            f"config key 'scheduler.factor' = {config.scheduler.factor}: expected 0 < factor < 1"
        )
    _positive(config.scheduler.patience, "scheduler.patience", allow_zero=True)
    _positive(config.scheduler.min_lr, "scheduler.min_lr", allow_zero=True)
    _positive(config.trainer.max_epochs, "trainer.max_epochs")
    _positive(config.trainer.early_stopping_patience, "trainer.early_stopping_patience", True)
    _positive(config.trainer.num_nodes, "trainer.num_nodes")
    _positive(config.trainer.log_every_n_steps, "trainer.log_every_n_steps")
    _positive(config.trainer.max_minutes, "trainer.max_minutes")
    _positive(config.evaluation.equivariance_elements, "evaluation.equivariance_elements", True)
    _positive(config.evaluation.equivariance_examples, "evaluation.equivariance_examples")
    if config.trainer.accelerator not in ACCELERATORS:
        raise ConfigError(
            f"config key 'trainer.accelerator' = {config.trainer.accelerator!r}: expected one "
            "of " + ", ".join(ACCELERATORS)
        )
    if config.trainer.precision not in PRECISIONS:
        raise ConfigError(
            f"config key 'trainer.precision' = {config.trainer.precision!r}: expected one of "
            + ", ".join(PRECISIONS)
        )
    devices = config.trainer.devices
    if isinstance(devices, str) and devices != "auto":
        raise ConfigError(f"config key 'trainer.devices' = {devices!r}: expected a count or auto")
    if isinstance(devices, int):
        _positive(devices, "trainer.devices")


def config_from_dict(
    raw: Mapping[str, Any], name: str, *, registered: bool = True
) -> ExperimentConfig:
    """Validate a whole config mapping (the YAML layout) and build an :class:`ExperimentConfig`.

    Keys, types and values are checked first; then the dataset and model names, which needs
    the data and model registries (and so torch). ``registered=False`` skips those two (the
    config of a :func:`~gmcnn.experiments.training.fit` run names the user's model class and
    in-memory data) and takes the task from the config's ``task`` key.
    """
    known = {f.name for f in dataclasses.fields(ExperimentConfig)} - {"name"}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"config key {key!r} is not known; expected one of: " + ", ".join(sorted(known))
            )
    data = _section(DataConfig, raw.get("data"), "data")
    model_raw = raw.get("model")
    if not isinstance(model_raw, Mapping) or "name" not in model_raw:
        raise ConfigError("config key 'model.name' is required (a registered model name)")
    options = {k: v for k, v in model_raw.items() if k != "name"}
    model_name = _coerce(model_raw["name"], str, "model.name")
    unchecked = ExperimentConfig(
        name=name,
        task="classification",  # the dataset says which; checked below
        data=data,
        model=ModelConfig(model_name, options),
        description=_coerce(raw.get("description", ""), str, "description"),
        seed=_coerce(raw.get("seed", 0), int, "seed"),
        optimizer=_section(OptimizerConfig, raw.get("optimizer"), "optimizer"),
        scheduler=_section(SchedulerConfig, raw.get("scheduler"), "scheduler"),
        trainer=_section(TrainerConfig, raw.get("trainer"), "trainer"),
        evaluation=_section(EvaluationConfig, raw.get("evaluation"), "evaluation"),
        paper=_section(PaperConfig, raw.get("paper"), "paper"),
    )
    _check_values(unchecked)
    if not registered:
        task = raw.get("task")
        if task not in TASKS:
            raise ConfigError(f"config key 'task' = {task!r}: expected one of {', '.join(TASKS)}")
        return dataclasses.replace(unchecked, task=task)

    from gmcnn.data import dataset_spec
    from gmcnn.models.registry import check_model_options, model_spec

    try:
        task = dataset_spec(data.name).task
    except ValueError as error:
        raise ConfigError(f"config key 'data.name' = {data.name!r}: {error}") from None
    if raw.get("task", task) != task:
        raise ConfigError(f"config key 'task' = {raw['task']!r}: dataset {data.name} is {task}")
    try:
        spec = model_spec(model_name)
    except ValueError as error:
        raise ConfigError(f"config key 'model.name' = {model_name!r}: {error}") from None
    if spec.task is not None and spec.task != task:
        raise ConfigError(
            f"config key 'model.name' = {model_name!r}: a {spec.task} model cannot be trained "
            f"on {data.name}, a {task} dataset"
        )
    try:
        check_model_options(model_name, options)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return dataclasses.replace(unchecked, task=task)


def load_config(experiment: str, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Load ``DATASET/METHOD`` (or a YAML path), apply ``key=value`` overrides, validate."""
    path = find_config(experiment)
    name = experiment if path != Path(experiment) else path.stem
    raw = apply_overrides(_resolve(experiment), overrides)
    return config_from_dict(raw, name)


def differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted keys whose values differ between two config mappings."""
    for key in sorted(set(a) | set(b)):
        where = f"{prefix}{key}"
        x, y = a.get(key), b.get(key)
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            yield from differences(x, y, where + ".")
        elif x != y:
            yield where
