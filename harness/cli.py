"""`harness` / `python -m harness`: compare, report, train, play, check-agent, status, prune.

Exit codes: 0 all done; 1 some run failed (the others completed and the report marks it);
2 bad input (study file, arguments), with a one-line message on stderr and no traceback;
130 interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import pathlib
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from harness.errors import HarnessError, one_line
from harness.execution import interrupts
from harness.studies import load_study, parse_labels, parse_seeds, with_options

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class BadInput(HarnessError):
    """Bad command-line input; the message starts with the command (`harness compare: ...`)."""

    located = True


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        raise BadInput(f"{self.prog}: {message} (see --help)")


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` as an argparse type: its `ValueError` becomes argparse's message."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__
    return convert


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _seed(text: str) -> int:
    seeds = _argument(parse_seeds)(text)
    if len(seeds) != 1:
        raise argparse.ArgumentTypeError(f"give one seed, got {text!r}")
    return seeds[0]


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    compare = commands.add_parser("compare", help="run every pair of a study not yet complete, then report")
    compare.add_argument("study", nargs="?", default="cartpole", help="study file or embedded name (cartpole, quick)")
    compare.add_argument("--seeds", type=_argument(parse_seeds), help="override the study's seeds: 0-4 or 0,3,7")
    compare.add_argument("--agents", type=_argument(parse_labels), help="only these agent labels: a,b")
    compare.add_argument("--total-timesteps", type=_positive, help="override the budget (env steps)")
    compare.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"))
    compare.add_argument("--reports-dir", type=pathlib.Path, default=pathlib.Path("reports"))
    compare.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1, help="pairs in parallel")
    compare.add_argument("--executor", choices=("local", "ray"), default="local")
    compare.add_argument(
        "--address",
        help="Ray cluster address (auto, HOST:PORT, ray://HOST:PORT); "
        "without it a local loopback-only instance is started",
    )
    compare.add_argument(
        "--gpus-per-run",
        type=_non_negative_float,
        default=0.0,
        help='GPUs each DQN pair asks Ray for (Ray executor); set device = "cuda" in the study to use them',
    )
    compare.add_argument("--fresh", action="store_true", help="delete the study's runs and start over")
    compare.add_argument("--no-report", action="store_true", help="skip writing the report")

    tune = commands.add_parser("tune", help="tune each agent of a study with the same Optuna budget ([tune] table)")
    tune.add_argument("study", help="study file with a [tune] table (or an embedded name)")
    tune.add_argument("--agents", type=_argument(parse_labels), help="only these agent labels: a,b")
    tune.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"))
    tune.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1, help="runs in parallel")
    tune.add_argument("--executor", choices=("local", "ray"), default="local")
    tune.add_argument("--address", help="Ray cluster address; without it a local loopback-only instance is started")

    report = commands.add_parser("report", help="rebuild the report of a study from its run files")
    report.add_argument("study_dir", type=pathlib.Path, metavar="RUNS_DIR/STUDY")
    report.add_argument("--out", type=pathlib.Path, help="default: reports/<study>")
    report.add_argument("--no-video", action="store_true", help="skip rendering episodes")

    train = commands.add_parser("train", help="run one pair in this process with SB3-style output")
    train.add_argument("label", metavar="AGENT_LABEL")
    train.add_argument("--seed", type=_seed, required=True)
    train.add_argument("study", nargs="?", help="study file or embedded name (default: cartpole)")
    train.add_argument("--total-timesteps", type=_positive)
    train.add_argument("--env", metavar="ENV_ID", help="the env of a study across envs to train on")
    train.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"))
    train.add_argument("--fresh", action="store_true", help="train the pair again if it is complete")

    play = commands.add_parser("play", help="load a saved model and run it")
    play.add_argument("run_dir", type=pathlib.Path, metavar="RUNS_DIR/STUDY/AGENT/seed_S")
    play.add_argument("--episodes", type=_positive, default=1)
    play.add_argument("--video", type=pathlib.Path, help="write an MP4 (or GIF) of the episodes")

    check = commands.add_parser("check-agent", help="run the agent contract on any kind (as check_env does for envs)")
    check.add_argument("kind", metavar="KIND", help="a built-in kind or an import path (module:Class, file.py:Class)")
    check.add_argument("--env", default="CartPole-v1", metavar="ENV_ID", help="the env to check it on")
    check.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a hyperparameter, VALUE in TOML (e.g. --set learning_rate=1e-3 --set 'policy_kwargs={net_arch=[64]}')",
    )
    check.add_argument("--total-timesteps", type=_positive, default=3_000, help="budget of the longer checks")
    check.add_argument("--seed", type=_seed, default=0)

    status = commands.add_parser("status", help="each pair of a study's runs folder: complete, missing or stale")
    status.add_argument("study_dir", type=pathlib.Path, metavar="RUNS_DIR/STUDY")
    status.add_argument(
        "--study",
        metavar="STUDY",
        help="measure against this study file (what compare would run) instead of the folder's study.toml",
    )

    prune = commands.add_parser("prune", help="delete the runs no current setting of a study refers to")
    prune.add_argument("study_dir", type=pathlib.Path, metavar="RUNS_DIR/STUDY")

    board = commands.add_parser(
        "tensorboard", help="show a study's comparison (or its tune) in TensorBoard, on loopback"
    )
    board.add_argument("study_dir", type=pathlib.Path, metavar="RUNS_DIR/STUDY")
    board.add_argument("--tune", action="store_true", help="show the trials of harness tune instead")
    board.add_argument("--port", type=_positive, default=6006)
    board.add_argument("--print-url", action="store_true", help="print the URL and the folder, start nothing")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `harness` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "harness"
    try:
        args = _parse(build_parser(), argv)
        command = f"harness {args.command}"
        handler = {
            "compare": _compare,
            "tune": _tune,
            "report": _report,
            "train": _train,
            "play": _play,
            "check-agent": _check_agent,
            "status": _status,
            "prune": _prune,
            "tensorboard": _tensorboard,
        }
        return handler[args.command](args, argv)
    except HarnessError as error:  # bad input, one line: a study, an option, a folder in use, ...
        text = one_line(error)
        print(text if error.located else f"{command}: {text}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        again = "the same command without --fresh" if "--fresh" in argv else "the same command"
        print(f"harness: interrupted; complete runs are kept, run {again} again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> NoReturn:
    """The `harness` command as a process: `main()`, then exit with its code. Once the command has
    ended, a late Ctrl-C (one that reached the process while it was stopping its workers) must
    not turn the exit into a traceback or a death by signal."""
    try:
        code = main()
    except KeyboardInterrupt:  # a Ctrl-C before the command started handling it
        print("harness: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse, accepting the documented `train AGENT_LABEL --seed S STUDY` order (argparse alone
    takes the optional STUDY positional only before the options)."""
    args, extras = parser.parse_known_args(argv)
    if args.command == "train" and args.study is None and len(extras) == 1 and not extras[0].startswith("-"):
        args.study = extras.pop()
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if args.command == "train" and args.study is None:
        args.study = "cartpole"
    return args


def _command_line(argv: Sequence[str]) -> str:
    return shlex.join(["harness", *argv])


def _load(
    study: str, total_timesteps: int | None, agents: list[str] | None = None, seeds: list[int] | None = None
) -> Any:
    return with_options(load_study(study), total_timesteps, agents, seeds)


def _file_error(command: str, error: OSError) -> BadInput:
    """A file the command could not read or write, in one line: `harness <command>: <file>: <why>`."""
    return BadInput(f"harness {command}: {error.filename or ''}: {error.strerror or error}")


def _compare(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.api import compare  # here: each command loads only what it uses (compare: torch, SB3)

    if args.executor != "ray":
        for option, value in (("--address", args.address), ("--gpus-per-run", args.gpus_per_run)):
            if value:
                raise BadInput(f"harness compare: {option} needs --executor ray")
    try:
        result = compare(
            args.study,
            seeds=args.seeds,
            agents=args.agents,
            total_timesteps=args.total_timesteps,
            runs_dir=args.runs_dir,
            reports_dir=args.reports_dir,
            jobs=args.jobs,
            executor=args.executor,
            address=args.address,
            gpus_per_run=args.gpus_per_run,
            fresh=args.fresh,
            report=not args.no_report,
            command=_command_line(argv),
        )
    except OSError as error:
        raise _file_error("compare", error) from None
    print(result.summary())
    for line in result.decision_lines:
        print(f"  {line}")
    for key, error in result.failed:
        print(f"  failed: {key}: {error}", file=sys.stderr)
    if result.report is not None:
        print(f"report: {result.report}")
    elif result.report_error:
        print(f"harness report: {result.report_error} (no report)", file=sys.stderr)  # runs failed: exit 1, not 2
    return EXIT_FAILED if result.failed else EXIT_OK


def _tune(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.api import tune  # here: a tune loads Optuna, torch and SB3

    if args.address and args.executor != "ray":
        raise BadInput("harness tune: --address needs --executor ray")
    try:
        result = tune(
            args.study,
            agents=args.agents,
            runs_dir=args.runs_dir,
            jobs=args.jobs,
            executor=args.executor,
            address=args.address,
            command=_command_line(argv),
        )
    except OSError as error:
        raise _file_error("tune", error) from None
    if result.tuned_file is not None:
        print(f"tuned study: {result.tuned_file}  (harness compare {result.tuned_file})")
    return EXIT_OK


def _report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.report import write_report  # here: the report loads matplotlib and scipy

    out = args.out or pathlib.Path("reports") / args.study_dir.name
    try:
        path = write_report(args.study_dir, out, video=not args.no_video)
    except OSError as error:
        raise BadInput(f"harness report: {out}: {error.strerror or error}") from None
    print(f"report: {path}")
    return EXIT_OK


def _train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    with interrupts.deferred():  # here, not at the top: torch, whose import a Ctrl-C must not cut
        from harness.execution import LocalExecutor, StudyProgress, plan
        from harness.store import StudyStore, write_study_file
        from harness.studies import resolve_study

    study = _load(args.study, args.total_timesteps)
    if args.label not in study.labels:
        raise BadInput(f"harness train: unknown agent label {args.label!r}; labels: {', '.join(study.labels)}")
    env_id = args.env or study.env_ids[0]
    if study.across_envs and args.env is None:
        raise BadInput(f"harness train: the study spans envs; give --env, one of {', '.join(study.env_ids)}")
    if env_id not in study.env_ids:
        raise BadInput(f"harness train: --env {env_id!r} is not an env of the study; envs: {', '.join(study.env_ids)}")
    study = resolve_study(study.select(labels=[args.label], seeds=[args.seed]))
    command = _command_line(argv)
    store = StudyStore(args.runs_dir / study.name)
    with store.lock(command):
        write_study_file(study, store.study_dir, command)
        todo = plan(study.for_env(env_id) if study.across_envs else study, store, command, fresh=args.fresh)
        if not todo.tasks:
            how = "restored from the runs set aside" if todo.restored else "already complete"
            path = next(iter(todo.restored or todo.skipped))
            print(f"{path}: {how} in {store.study_dir}; add --fresh to train it again")
            return EXIT_OK
        task = todo.tasks[0]
        path = task.path(args.runs_dir)
        # In a process of its own, which the harness stops when the agent goes on after its budget
        # or past the study's run_timeout; its output (SB3's log tables) comes to this terminal.
        silent = StudyProgress({task.key: task.study.settings.total_timesteps}, stream=io.StringIO(), bar=False)
        record = LocalExecutor(1, capture_output=False, verbose=True).run([task], args.runs_dir, silent)[task.key]
    if not record.complete:
        print(f"{task.key}: failed: {record.error}", file=sys.stderr)
        return EXIT_FAILED
    final = record.final_eval_mean_return
    print(
        f"{task.key}: complete in {record.wall_time_s or 0.0:.1f}s; files in {path}"
        + (f"; final evaluation mean return {final:.1f}" if final is not None else "")
    )
    return EXIT_OK


def _play(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.report import play  # here: the report loads matplotlib, moviepy on first use

    try:
        results = play(args.run_dir, episodes=args.episodes, video=args.video)
    except OSError as error:
        raise BadInput(f"harness play: {args.video}: {error.strerror or error}") from None
    for i, result in enumerate(results):
        print(
            f"episode {i}: return {result.episode_return:.1f}, length {result.length}"
            + (" (time limit reached)" if result.success else "")
        )
    if args.video:
        print(f"video: {args.video}")
    return EXIT_OK


def _check_agent(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.api import check_agent  # here: each command loads only what it uses (the contract: torch, SB3)

    values = dict(_setting(text) for text in args.settings)
    try:
        report = check_agent(args.kind, env_id=args.env, total_timesteps=args.total_timesteps, seed=args.seed, **values)
    except ValueError as error:  # a kind or value the contract cannot be run on (KindError, a config's)
        text = one_line(error)
        raise BadInput(
            f"harness check-agent: {text if text.startswith(args.kind) else f'{args.kind}: {text}'}"
        ) from None
    return EXIT_OK if report.ok else EXIT_FAILED


def _setting(text: str) -> tuple[str, Any]:
    """`key=value` with a TOML value (`lr=1e-3`, `net_arch=[64, 64]`); a bare word is a string."""
    import tomllib  # here: only --set reads TOML values

    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise BadInput(f"harness check-agent: --set {text!r}: write KEY=VALUE")
    try:
        return key, tomllib.loads(f"value = {value.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()


def _status(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.store import study_status  # here: the store loads pandas; --help needs none of it
    from harness.studies import resolve_study

    study = resolve_study(_load(args.study, None)) if args.study is not None else None
    rows = _beyond_the_rounds(study_status(args.study_dir, study), args.study_dir)
    across = len({row.env_id for row in rows}) > 1
    table = [
        [*([row.env_id] if across else []), row.label, str(row.seed), row.status, row.why, str(row.set_aside or "")]
        for row in rows
    ]
    header = [*(["env"] if across else []), "agent", "seed", "status", "what changed / why", "set aside"]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    for line in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    print(", ".join(f"{n} {status}" for status, n in counts.items()) + f" of {len(rows)} pairs")
    return EXIT_OK


def _beyond_the_rounds(rows: list[Any], study_dir: pathlib.Path) -> list[Any]:
    """A study deciding in rounds: its missing pairs that the rounds do not need (their agent's
    comparisons are decided, or the rounds have not reached the seed) are `not needed`."""
    from harness.schema import STUDY_FILE  # here: the store loads pandas; --help needs none of it
    from harness.store import read_study, read_study_file

    if not (study_dir / STUDY_FILE).is_file():
        return rows
    study = read_study_file(study_dir).study
    if study.decide is None:
        return rows
    from harness.analysis import needed_seeds  # here: the decisions load scipy and adastop

    needed = needed_seeds(read_study(study_dir))
    seeds = {view.env_id: list(view.settings.seeds) for view in study.split()}
    return [
        dataclasses.replace(row, status="not needed", why="beyond the rounds the decisions take")
        if row.status == "missing"
        and row.seed not in seeds[row.env_id][: needed.get(row.env_id, {}).get(row.label, len(seeds[row.env_id]))]
        else row
        for row in rows
    ]


def _prune(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.store import StudyStore, prune  # here: the store loads pandas; --help needs none of it

    if not args.study_dir.is_dir():
        raise BadInput(f"harness prune: {args.study_dir}: no such folder")
    with StudyStore(args.study_dir).lock(_command_line(argv)):
        removed, freed = prune(args.study_dir)
    for path in removed:
        print(f"deleted {path}")
    print(f"{len(removed)} run folder(s) deleted, {freed / 1e6:,.1f} MB freed")
    return EXIT_OK


AGENT_COLOURS = "regex:^([^/]+)/"
"""TensorBoard's colour-by-regex: one colour per agent (a run is `<label>/seed_<s>`, `<label>/across_seeds`)."""
AGENT_COLOURS_ACROSS_ENVS = "regex:^[^/]+/([^/]+)/"
"""The same across envs (a run is `<env_id>/<label>/...`)."""


def _tensorboard(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """TensorBoard on the study's comparison view (or its tune's), on loopback, coloured by agent."""
    import base64  # here: only this command builds a URL
    import json
    import urllib.parse

    from harness.schema import ACROSS_SEEDS, STUDY_FILE  # here: the store loads pandas; --help needs none
    from harness.store import band_key, comparison_view, read_study_file, tune_view

    study_dir = args.study_dir
    if not (study_dir / STUDY_FILE).is_file():
        make = "harness tune STUDY (make tune-compare)" if args.tune else "harness compare STUDY (make compare)"
        raise BadInput(f"harness tensorboard: {study_dir}: no runs yet; {make} makes them")
    study = read_study_file(study_dir).study
    if args.tune:
        logdir = tune_view(study_dir)
        if not logdir.is_dir():
            raise BadInput(
                f"harness tensorboard: {logdir}: no tune yet; harness tune STUDY (make tune-compare) makes one"
            )
        colours = AGENT_COLOURS
    else:
        logdir = comparison_view(study_dir, study)
        colours = AGENT_COLOURS_ACROSS_ENVS if study.across_envs else AGENT_COLOURS
    base = f"http://127.0.0.1:{args.port}/"
    url = f"{base}?{urllib.parse.urlencode({'runColorGroup': colours})}#timeseries"
    print(f"TensorBoard of {study_dir}{' (its tune)' if args.tune else ''}: {url}", flush=True)
    if not args.tune:
        bands = [band_key(view, label) for view in study.split() for label in view.labels]
        alone = urllib.parse.urlencode({"runColorGroup": colours, "runFilter": f"/{ACROSS_SEEDS}$"})
        print(f"  the bands alone: {base}?{alone}#timeseries")
        # The margin charts' dashboard selects no run by default above 40 runs: select the bands.
        selected = urllib.parse.quote(base64.b64encode(json.dumps(dict.fromkeys(bands, True)).encode()), safe="")
        print(f"  the bands as margin charts: {base}#custom_scalars&runSelectionState={selected}")
    if args.print_url:
        print(f"logdir: {logdir}")
        return EXIT_OK
    binary = pathlib.Path(sys.executable).with_name("tensorboard")
    command = [str(binary) if binary.exists() else "tensorboard", "--logdir", str(logdir)]
    os.execvp(command[0], [*command, "--host", "127.0.0.1", "--port", str(args.port)])
