"""`harness` / `python -m harness`: compare, report, train, play, bench.

Exit codes: 0 all done; 1 some run failed (the others completed and the report marks it);
2 bad input (study file, arguments), with a one-line message on stderr and no traceback;
130 interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class BadInput(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        raise BadInput(f"{self.prog}: {message} (see --help)")


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0..4], '0,3,7' -> [0, 3, 7], '0-2,5' -> [0, 1, 2, 5]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                if low > high:
                    raise ValueError
                seeds += range(low, high + 1)
            else:
                seeds.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seeds {text!r}; e.g. 0-4 or 0,3,7") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"invalid seeds {text!r}: they must be distinct and >= 0")
    return seeds


def _labels(text: str) -> list[str]:
    labels = [t.strip() for t in text.split(",") if t.strip()]
    if not labels:
        raise argparse.ArgumentTypeError("give at least one agent label")
    return labels


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _seed(text: str) -> int:
    seeds = parse_seeds(text)
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
    compare.add_argument("--seeds", type=parse_seeds, help="override the study's seeds: 0-4 or 0,3,7")
    compare.add_argument("--agents", type=_labels, help="only these agent labels: a,b")
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

    report = commands.add_parser("report", help="rebuild the report of a study from its run files")
    report.add_argument("study_dir", type=pathlib.Path, metavar="RUNS_DIR/STUDY")
    report.add_argument("--out", type=pathlib.Path, help="default: reports/<study>")
    report.add_argument("--no-video", action="store_true", help="skip rendering episodes")

    train = commands.add_parser("train", help="run one pair in this process with SB3-style output")
    train.add_argument("label", metavar="AGENT_LABEL")
    train.add_argument("--seed", type=_seed, required=True)
    train.add_argument("study", nargs="?", help="study file or embedded name (default: cartpole)")
    train.add_argument("--total-timesteps", type=_positive)
    train.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"))
    train.add_argument("--fresh", action="store_true", help="train the pair again if it is complete")

    play = commands.add_parser("play", help="load a saved model and run it")
    play.add_argument("run_dir", type=pathlib.Path, metavar="RUNS_DIR/STUDY/AGENT/seed_S")
    play.add_argument("--episodes", type=_positive, default=1)
    play.add_argument("--video", type=pathlib.Path, help="write an MP4 (or GIF) of the episodes")

    bench = commands.add_parser("bench", help="print training speed figures")
    bench.add_argument("--repeats", type=_positive, default=3)
    bench.add_argument("--steps", type=_positive, default=20_000, help="DQN training steps per repeat")
    bench.add_argument("--quick", action="store_true", help="a short smoke run of the benchmark")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `harness` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parse(build_parser(), argv)
        handler = {"compare": _compare, "report": _report, "train": _train, "play": _play, "bench": _bench}
        return handler[args.command](args, argv)
    except BadInput as error:
        print(str(error), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("harness: interrupted; complete runs are kept, run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse, accepting DESIGN's `train AGENT_LABEL --seed S STUDY` order (argparse alone takes
    the optional STUDY positional only before the options)."""
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
    from harness.study import StudyError, load_study

    try:
        loaded = load_study(study)
        if total_timesteps is not None:
            loaded = loaded.replace(total_timesteps=total_timesteps)
        if agents is not None or seeds is not None:
            loaded = loaded.select(labels=agents, seeds=seeds)
        return loaded
    except StudyError as error:
        raise BadInput(str(error)) from None


def _compare(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.executors import ExecutorUnavailable
    from harness.scheduler import compare
    from harness.study import StudyError

    study = _load(args.study, args.total_timesteps, args.agents, args.seeds)
    if args.executor == "ray":
        from harness.ray_executor import RayExecutor

        try:
            executor: Any = RayExecutor(address=args.address, num_cpus=args.jobs, gpus_per_run=args.gpus_per_run)
        except ExecutorUnavailable as error:
            raise BadInput(f"harness compare: {error}") from None
    else:
        for option, value in (("--address", args.address), ("--gpus-per-run", args.gpus_per_run)):
            if value:
                raise BadInput(f"harness compare: {option} needs --executor ray")
        from harness.executors import LocalExecutor

        executor = LocalExecutor(args.jobs)
    try:
        with executor:
            outcome = compare(study, args.runs_dir, executor, fresh=args.fresh, command=_command_line(argv))
    except StudyError as error:
        raise BadInput(str(error)) from None
    except ExecutorUnavailable as error:  # e.g. a Ray cluster that cannot be started or reached
        raise BadInput(f"harness compare: {error}") from None
    print(
        f"{study.name}: {len(outcome.completed)} run(s) complete, {len(outcome.failed)} failed, "
        f"{len(outcome.skipped)} already complete; {outcome.wall_time_s:.1f}s"
    )
    for key, error in outcome.failed:
        print(f"  failed: {key}: {error}", file=sys.stderr)
    if not args.no_report:
        try:
            _write_report(args.runs_dir / study.name, args.reports_dir / study.name, video=True)
        except BadInput as error:
            if not outcome.failed:
                raise
            print(f"{error} (no report)", file=sys.stderr)  # runs failed: exit 1, not 2
    return EXIT_FAILED if outcome.failed else EXIT_OK


def _write_report(study_dir: pathlib.Path, out: pathlib.Path, video: bool) -> int:
    from harness.report import ReportError, write_report

    try:
        path = write_report(study_dir, out, video=video)
    except ReportError as error:
        raise BadInput(f"harness report: {error}") from None
    except OSError as error:
        raise BadInput(f"harness report: {out}: {error.strerror or error}") from None
    print(f"report: {path}")
    return EXIT_OK


def _report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    out = args.out or pathlib.Path("reports") / args.study_dir.name
    return _write_report(args.study_dir, out, video=not args.no_video)


def _train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.results import is_complete, run_dir
    from harness.runner import PairTask, run_pair
    from harness.scheduler import prepare_study_dir
    from harness.study import StudyError

    study = _load(args.study, args.total_timesteps)
    if args.label not in study.labels:
        raise BadInput(f"harness train: unknown agent label {args.label!r}; labels: {', '.join(study.labels)}")
    study = study.select(labels=[args.label], seeds=[args.seed])
    task = PairTask(study, args.label, args.seed, _command_line(argv))
    path = run_dir(args.runs_dir, study.name, args.label, args.seed)
    if is_complete(path) and not args.fresh:
        raise BadInput(f"harness train: {path} is already complete; add --fresh to train it again")
    try:
        prepare_study_dir(study, args.runs_dir, command=task.command)
    except StudyError as error:
        raise BadInput(str(error)) from None
    record = run_pair(task, path, verbose=True)
    if record["status"] != "complete":
        print(f"{task.key}: failed: {record['error']}", file=sys.stderr)
        return EXIT_FAILED
    final = record.get("final_eval_mean_return")
    print(
        f"{task.key}: complete in {record['timings']['wall_time_s']:.1f}s; files in {path}"
        + (f"; final evaluation mean return {final:.1f}" if final is not None else "")
    )
    return EXIT_OK


def _play(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.playback import PlaybackError, play

    try:
        results = play(args.run_dir, episodes=args.episodes, video=args.video)
    except PlaybackError as error:
        raise BadInput(f"harness play: {error}") from None
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


def _bench(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from harness.bench import run_bench

    run_bench(repeats=args.repeats, dqn_steps=args.steps, quick=args.quick)
    return EXIT_OK
