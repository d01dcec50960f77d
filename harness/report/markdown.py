"""The report's README.md, written from the numbers model (`harness.analysis.model`) alone.

A one-env study reads as it always has: header, summary, pictures, pairwise comparison, episodes,
hyperparameters, reproduce command, every run. A study across envs adds an aggregate across envs
first and then one section per env with the same content.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from harness.analysis import (
    EnvResults,
    LongestRun,
    StudyResults,
    budgets_differ,
    objective_table,
    sentence,
    stats,
    tuned_values,
    tuning_table,
    verdicts,
)
from harness.analysis import columns as col
from harness.report.plots import PROFILE_FILE, picture_names
from harness.schema import COMPLETE, STUDY_FILE
from harness.store import Machine


def readme(results: StudyResults, final_out: pathlib.Path, now: datetime.datetime, media: pd.DataFrame | None) -> str:
    """The whole README. `final_out`: where the report will live (named in the reproduce
    command); `media`: the episodes rendered (`harness.report.media.render`), None without videos."""
    settings = results.study.settings
    sections = [header(results, now)]
    if not results.decisions.empty:
        sections.append(decision_section(results))
    if results.aggregate is not None:
        sections.append(aggregate_section(results))
    for env in results.envs.values():
        level = "###" if results.across_envs else "##"
        if results.across_envs:
            sections.append(f"## {env.env_id}\n\n{env_facts(env)}\n")
        sections += env_sections(results, env, level, media)
    if any(spec.tuned for spec in results.study.agents):
        sections.append(tuning_section(results))
    sections += [
        "## Reproduce\n",
        reproduce_section(results, final_out),
        "## Appendix: every run\n",
        f"Final return and success rate: the last evaluation ({settings.n_eval_episodes} episodes); "
        f"training success rate: over all training episodes; score: the final return normalised by the "
        f"env's return range.\n",
    ]
    for env in results.envs.values():
        if results.across_envs:
            sections.append(f"### {env.env_id}\n")
        sections.append(appendix_table(env) + "\n")
    return "\n".join(sections)


# ----------------------------------------------------------------------------------------------
# Decision


def decision_section(results: StudyResults) -> str:
    """What AdaStop decided, one sentence per comparison, and the seeds each agent took."""
    decide = results.study.decide
    assert decide is not None
    n, k = decide.seeds_per_round, decide.max_rounds
    text = [
        "## Decision\n",
        f"Seeds were added in rounds of {n} until each comparison was decided, at most {k} rounds "
        f"({n * k} seeds): after each round, AdaStop (Mathieu et al., 2023: a group-sequential permutation test) "
        f"tested every comparison still open at once, holding the chance that any decision is wrong (the "
        f"family-wise error) at {decide.alpha:g}; an agent whose comparisons were all decided trained no more "
        "seeds. AdaStop compares the **mean** final return (each seed's mean evaluation return at the end of "
        "training); the summary table's IQM is another statistic, and its intervals are not this test.\n",
    ]
    for env_id, frame in results.decisions.groupby(col.DECISION_ENV, sort=False):
        if results.across_envs:
            text.append(f"### {env_id}\n")
        text.append("\n".join(f"- {sentence(row, k)}" for _, row in frame.iterrows()) + "\n")
        text.append(_table(seeds_taken(frame, n)) + "\n")
    text.append("Also in [decisions.csv](decisions.csv).\n")
    return "\n".join(text)


def seeds_taken(decisions: pd.DataFrame, n: int) -> pd.DataFrame:
    """Per agent, the rounds and seeds its comparisons took."""
    used: dict[str, int] = {}
    for _, row in decisions.iterrows():
        for label, seeds in ((row[col.AGENT], row[col.SEEDS_AGENT]), (row[col.VERSUS], row[col.SEEDS_VERSUS])):
            used[label] = max(used.get(label, 0), int(seeds))
    return pd.DataFrame(
        [{"agent": label, "rounds": str(seeds // n), "seeds": str(seeds)} for label, seeds in used.items()]
    )


# ----------------------------------------------------------------------------------------------
# Tuning


def _rule_words(pruner: str) -> str:
    """What a stop rule does to a trial's runs, in words."""
    if pruner == "none":
        return "every run trained for the trial's whole budget (no stop rule)"
    return (
        f"each run stopped early by the **{pruner}** rule where it falls behind the trials before it (never the "
        "start's), so that the budget tries more configurations"
    )


OBJECTIVE_WORDS = {
    "final": "the mean return of a run's last evaluation",
    "last_quarter": "the mean return of a run's evaluations in the last quarter of its budget",
}


def tuning_section(results: StudyResults) -> str:
    """How each agent's values were found: the start (its own values: the study's, a preset tuned
    elsewhere, the kind's defaults), the budget this tune added and what it chose; the start's and
    the tuned values' objective on the tuning, validation and test seeds; the values side by side."""
    study = results.study
    table = tuning_table(study)
    tuned = [spec for spec in study.agents if spec.tuned]
    text = ["## Tuning\n"]
    record = dict(tuned[0].tuned or {}) if tuned else {}
    if tuned and budgets_differ(study):
        text.append(
            "**The tuned agents had different tuning budgets** (below): a difference between them may be the "
            "tuning's, not the algorithms'.\n"
        )
    elif "validation_seeds" in record:
        objective = str(record.get("objective", "final"))
        validation = ", ".join(map(str, record.get("validation_seeds", [])))
        budget = (
            f"{int(record['budget_env_steps']):,} env steps, its trials and its validation runs together"
            if record.get("budget_env_steps") is not None
            else f"{int(record['trials'])} trials"
        )
        text.append(
            f"Every agent tuned here had the same budget: {budget} (Optuna {record.get('optuna')}, "
            f"{record.get('sampler')} sampler). "
            "Trial 0 is the agent's own values, its **start**; the others are Optuna's proposals, on the tuning seeds "
            f"{', '.join(map(str, record.get('seeds', [])))} ({int(record['total_timesteps']):,} env steps a run at "
            f"most), {_rule_words(str(record.get('pruner')))}. A trial's value is "
            f"{OBJECTIVE_WORDS.get(objective, objective)}, averaged over its seeds. The tuned values were chosen "
            f"among the start and the {_count(len(record.get('finalists') or []), 'complete trial')} with the best "
            f"values (the finalists), re-trained on the validation seeds {validation} with evaluation episodes of "
            "their own: the best there, the start winning ties. So the tuned values did no worse than the start on the "
            "validation seeds; on this study's seeds (the test seeds, below, measured by this study's runs of both) "
            f"they may. Every trial is in Optuna's journal, `{results.study_dir / 'tune' / 'optuna.journal'}` "
            "(`optuna-dashboard` opens it), and its runs beside it.\n"
        )
    elif tuned:
        text.append(
            f"Every agent tuned here had the same budget: {int(record['trials'])} Optuna trials x "
            f"{_count(len(record.get('seeds', [])), 'seed')} x {int(record['total_timesteps']):,} env steps "
            f"({record.get('sampler')} sampler, {record.get('pruner')} pruner), on the tuning seeds "
            f"{', '.join(map(str, record.get('seeds', [])))}; the best trial's values were taken as they were "
            "(a tune from before validation seeds).\n"
        )
    rows = []
    for row in table.itertuples():
        if pd.isna(row.trials):
            rows.append(
                {"agent": row.agent, "start": row.start, "tuned": row.tuned, "budget": "–", "configurations": "–"}
            )
            continue
        budget = (
            f"{int(row.budget_env_steps):,} env steps"
            if not pd.isna(row.budget_env_steps)
            else f"{int(row.trials)} x {int(row.seeds)} x {int(row.total_timesteps):,}"
        )
        used = f" ({int(row.env_steps):,} used)" if not pd.isna(row.env_steps) else ""
        rows.append(
            {
                "agent": row.agent,
                "start": row.start,
                "tuned": row.tuned,
                "budget": budget + used,
                "configurations": f"{int(row.trials)}: {int(row.complete)} complete, {int(row.pruned)} stopped "
                f"early, {int(row.failed)} failed",
            }
        )
    text.append(_table(pd.DataFrame(rows)) + "\n")
    extended = [f"{row.agent}: {row.space_extended}" for row in table.itertuples() if row.space_extended]
    if extended:
        text.append("The search space was made to hold the start where it did not: " + "; ".join(extended) + ".\n")
    env = next(iter(results.envs.values()))
    values = objective_table(study, env)
    if not values.empty:
        text.append(
            "The start's and the tuned values' objective on each set of seeds (the tuning seeds: the trials' "
            "value; the validation seeds: the re-trained finalists'; the test seeds: this study's runs; "
            "*drop*: the tuned values' tuning value minus their validation value):\n"
        )
        rows = []
        for row in values.itertuples():
            start = "start (the tuned values: tuning found nothing better)" if row.start_won else "start"
            for what, tuning, validation, test in (
                (start, row.start_tuning, row.start_validation, row.start_test),
                ("tuned", row.tuned_tuning, row.tuned_validation, row.tuned_test),
            ):
                if row.start_won and what == "tuned":
                    continue
                rows.append(
                    {
                        "agent": row.agent,
                        "values": what,
                        "tuning seeds": _num(tuning, 1),
                        "validation seeds": _num(validation, 1),
                        "test seeds": _num(test, 1),
                        "drop": _num(row.drop, 1) if what == "tuned" or row.start_won else "",
                    }
                )
        text.append(_table(pd.DataFrame(rows)) + "\n")
    shown = tuned_values(study)
    if not shown.empty:
        text.append(
            "The tuned values beside the start's (the study's, or its preset's; – where the kind chooses the value "
            "on the env):\n"
        )
        shown = shown.rename(columns={"default": "start"}).assign(
            start=[_short_value(v) if not _missing(v) else "–" for v in shown["default"]],
            tuned=[_short_value(v) if not _missing(v) else "–" for v in shown["tuned"]],
        )
        text.append(_table(shown) + "\n")
    return "\n".join(text)


# ----------------------------------------------------------------------------------------------
# Header


def header(results: StudyResults, now: datetime.datetime) -> str:
    """Title and the study's facts."""
    study, settings, facts = results.study, results.study.settings, results.facts
    eval_seeds = f"{settings.eval_seed}–{settings.eval_seed + settings.n_eval_episodes - 1}"
    envs = f" x {_count(len(results.envs), 'env')}" if results.across_envs else ""
    lines = [
        f"# {study.name}: cartpole-compare report",
        "",
        *([settings.description, ""] if settings.description else []),
        f"- **study**: {study.name} ({_count(len(study.agents), 'agent')} x {_count(len(settings.seeds), 'seed')}"
        f"{envs} = {facts.n_pairs} runs, {facts.n_complete} complete), read from `{results.study_dir / STUDY_FILE}`"
        if study.decide is None
        else f"- **study**: {study.name} ({_count(len(study.agents), 'agent')} x up to "
        f"{_count(len(results.seeds), 'seed')}{envs}, in rounds: {results.planned_runs} runs needed by the decisions, "
        f"{facts.n_complete} complete), read from `{results.study_dir / STUDY_FILE}`",
    ]
    if results.across_envs:
        lines.append(f"- **environments**: {', '.join(results.envs)} (each described in its section)")
    else:
        env = next(iter(results.envs.values()))
        lines += [
            f"- **environment**: {env.env_id}; {env_facts(env, inline=True)}",
            f"- **budget**: {settings.total_timesteps:,} env steps per run, the same for every agent",
        ]
    longest = facts.longest
    lines += [
        f"- **seeds**: {', '.join(str(s) for s in results.seeds)}",
        f"- **evaluation**: {settings.n_eval_episodes} episodes with the deterministic policy at step 0, every "
        f"{_evaluation_every(results)} and at the end of training; episode i starts from reset seed "
        f"{settings.eval_seed} + i ({eval_seeds}), the same for every agent and evaluation",
        f"- **run timeout**: {settings.run_timeout:,.0f} s of wall time per run (`run_timeout`); a run that goes on "
        "past it, or whose agent goes on after its budget is spent, is stopped and marked failed",
        f"- **date**: {now.strftime('%Y-%m-%d %H:%M')} UTC",
        f"- **git commit** (of the harness that made the runs): {_counts_text(facts.commits, str)}",
        f"- **versions**: {_counts_text(facts.versions, _versions_text)}",
        f"- **machine**: {_counts_text(facts.machines, _machine_text)}",
        f"- **total wall time**: {facts.wall_time_s:,.1f} s summed over {facts.n_timed} complete runs"
        + (
            f" (longest: {_where(longest, results)} seed {longest.seed}, {longest.wall_time_s:,.1f} s)"
            if longest
            else ""
        ),
    ]
    return "\n".join(lines) + "\n"


def env_facts(env: EnvResults, inline: bool = False) -> str:
    """What success and the return range mean on the env, its threshold, budget and time limit."""
    profile = env.profile
    lo, hi = profile.return_range
    text = (
        f"success = {profile.success_words} (rule: `{profile.success}`); returns normalised to [0, 1] on "
        f"[{_num(lo, 1)}, {_num(hi, 1)}] ({profile.range_source}); threshold {_num(profile.threshold, 1)} "
        f"(a mean evaluation return counted as solved)"
    )
    if profile.max_episode_steps is not None:
        text += f"; time limit {profile.max_episode_steps} steps, set by the harness"
    if inline:
        return text
    return f"- **environment**: {text}\n- **budget**: {env.study.settings.total_timesteps:,} env steps per run"


def _evaluation_every(results: StudyResults) -> str:
    freqs = {env.env_id: env.study.settings.eval_freq for env in results.envs.values()}
    if len(set(freqs.values())) == 1:
        return f"{next(iter(freqs.values())):,} env steps"
    return "; ".join(f"{freq:,} env steps on {env_id}" for env_id, freq in freqs.items())


def _where(run: LongestRun, results: StudyResults) -> str:
    return f"{run.label} on {run.env_id}" if results.across_envs else run.label


def _counts_text(counted: Sequence[tuple[Any, int]], text: Callable[[Any], str]) -> str:
    """'a' when every run shares one value, else 'a (40 runs); b (20 runs)'."""
    total = sum(count for _, count in counted)
    return "; ".join(text(value) if count == total else f"{text(value)} ({count} runs)" for value, count in counted)


def _versions_text(versions: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items()) or "unknown"


def _machine_text(machine: Machine) -> str:
    text = (
        f"{machine.cpu or 'unknown CPU'}, {_or_unknown(machine.cores)} cores, "
        f"{_or_unknown(machine.torch_threads)} torch thread(s) per run"
    )
    if machine.cuda:
        text += f", {machine.cuda}"
    if machine.platform:
        text += f", {machine.platform}"
    return text


def _or_unknown(value: object) -> str:
    return "?" if value is None else str(value)


# ----------------------------------------------------------------------------------------------
# Across envs


def aggregate_section(results: StudyResults) -> str:
    """The aggregate across envs: normalisation, IQM / mean / optimality gap, probability of
    improvement, performance profile."""
    aggregate = results.aggregate
    assert aggregate is not None
    ranges = "; ".join(
        f"{env.env_id} [{_num(env.profile.return_range[0], 1)}, {_num(env.profile.return_range[1], 1)}]"
        for env in results.envs.values()
    )
    text = [
        "## Across environments\n",
        "Each seed's final return on each env (the mean of its last evaluation) is turned into a *score* on "
        f"[0, 1]: (return − lo) / (hi − lo), clipped, where [lo, hi] is the env's return range ({ranges}; "
        "each env's section says where its range comes from). A score of 1 is the top of the range (CartPole's "
        "time limit, Acrobot's and MountainCar's 0, the shortest possible episode); 0 the bottom. The statistics "
        "below are rliable's, over the seeds × envs scores of each agent, with 95% stratified-bootstrap "
        f"intervals ({results.reps:,} resamples; seeds resampled within each env). *IQM*: the mean of the middle "
        "50% of the scores; *mean*: the mean score; *optimality gap*: how far the mean score falls short of 1 "
        "(lower is better); an agent counts only with the seeds it completed on every env.\n",
    ]
    rows = []
    for label, frame in aggregate.metrics.groupby(col.AGENT, sort=False):
        by_metric = {row[col.METRIC]: _estimate(row, col.VALUE) for _, row in frame.iterrows()}
        rows.append(
            {
                "agent": label,
                "seeds": str(int(frame[col.N_SEEDS].iloc[0])),
                "IQM score [95% CI]": by_metric["IQM"].format(3),
                "mean score [95% CI]": by_metric["mean"].format(3),
                "optimality gap [95% CI]": by_metric["optimality gap"].format(3),
            }
        )
    if rows:
        text.append(standing_sentence(aggregate.standing, "score across envs", 3) + "\n")
        text.append(_table(pd.DataFrame(rows)) + "\n")
    else:
        text.append("No agent completed a seed on every env, so there is nothing to aggregate.\n")
    if not aggregate.left_out.empty:
        left = "; ".join(f"{row[col.AGENT]}: seed(s) {row[col.SEEDS]}" for _, row in aggregate.left_out.iterrows())
        text.append(f"Left out, because not complete on every env: {left}.\n")
    text.append(f"![Performance profiles: share of scores above each threshold]({PROFILE_FILE})\n")
    text.append("### Probability of improvement across environments\n")
    text.append(
        improvement_text(
            aggregate.improvement,
            "P(X > Y) is the probability that, on an env picked at random, a seed of X picked at random ends with a "
            "higher score than a seed of Y (ties count half; rliable's probability of improvement, averaged over "
            "envs), with a 95% bootstrap interval resampling the seeds of each agent within each env. The unit is "
            "still the seed (an agent's seeds complete on every env), so, as on each env, a pair is ordered only "
            f"where a permutation test on those seeds could reach {_level()} "
            f"(C(n + m, n) >= {verdicts.MIN_ARRANGEMENTS}: {verdicts.unpaired_seeds_needed()} seeds each); "
            "the level is per comparison, and family-wise control is what a study's `[decide]` table gives.",
            seeds=None,
        )
        + "\n"
    )
    return "\n".join(text)


# ----------------------------------------------------------------------------------------------
# One env


def env_sections(results: StudyResults, env: EnvResults, level: str, media: pd.DataFrame | None) -> list[str]:
    """Summary, pictures, comparisons, episodes and hyperparameters of one env, at heading `level`."""
    sub = level + "#"
    settings = env.study.settings
    threshold = _num(env.profile.threshold, 0)
    names = picture_names(env.env_id if results.across_envs else None)
    problems = problems_section(env, level)
    episodes = (
        episodes_section(env, media[media["env_id"] == env.env_id])
        if media is not None
        else "Not rendered: the report was built without videos (`--no-video`)."
    )
    return [
        f"{level} Summary\n",
        f"One row per agent. *Final return*: the mean return of a seed's {settings.n_eval_episodes} evaluation "
        f"episodes at the end of training; mean and IQM (interquartile mean) are taken across seeds, with 95% "
        f"stratified-bootstrap intervals (rliable, {results.reps:,} resamples). *Eval success rate*: share of those "
        f"episodes that succeeded ({env.profile.success_words}); *training success rate*: share of training "
        f"episodes that did. *Env steps to {threshold}*: the first evaluation at which a seed's mean return "
        f"reached {threshold}, median over the seeds that got there (how many did, in brackets). *AUC*: area "
        f"under the evaluation curve, normalised by the env's return range, over the budget (1 = the top of the "
        f"range from step 0). *env steps/s*: training speed, evaluation time excluded. Also in "
        f"[summary.csv](summary.csv).\n",
        summary_sentence(env.summary, env.standing) + "\n",
        *([budget_note(env.budget_use) + "\n"] if not env.budget_use.empty else []),
        *([act_note(acting) + "\n"] if (acting := [a for a in env.labels if env.family(a) == "assignment"]) else []),
        summary_markdown(env.summary) + "\n",
        *([problems] if problems else []),
        f"{level} Pictures\n",
        "Lines are means across seeds, shaded bands their pointwise 95% bootstrap intervals; each agent has its "
        "own line style and marker.\n",
        f"![Evaluation return vs env steps]({names['eval_return']})\n",
        f"![Training episode return vs env steps]({names['train_return']})\n",
        f"![Evaluation success rate vs env steps]({names['success_rate']})\n",
        f"![Final evaluation return per seed]({names['final_return']})\n",
        f"{level} Pairwise comparison\n",
        verdict_rule() + "\n",
        f"{sub} Probability of improvement\n",
        improvement_text(
            env.improvement,
            "P(X > Y) is the probability that a seed of X picked at random ends with a higher final return "
            "than a seed of Y (ties count half; rliable's probability of improvement), with a 95% bootstrap "
            "interval resampling the seeds of each; 0.50 means neither tends to do better, and "
            "P(Y > X) = 1 − P(X > Y).",
            seeds="seeds (X, Y)",
        )
        + "\n",
        f"{sub} Declared pairs on the same episodes\n",
        paired_text(env) + "\n",
        f"{level} An episode of each agent\n",
        episodes + "\n",
        f"{level} Hyperparameters\n",
        "As resolved for the run (presets applied, defaults filled), from study.toml.\n",
        hyperparameter_table(env) + "\n",
    ]


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary table, formatted from the model's (so README and summary.csv agree)."""
    return _table(summary_rows(summary))


def summary_html(results: StudyResults) -> str:
    """The summary of each env as HTML (a notebook's view of the results): what the table shows
    in a sentence, the agents that used less than the budget, the table."""
    parts = [f"<p><b>{html.escape(results.study.name)}</b>: {html.escape(repr(results))}</p>"]
    for env in results.envs.values():
        if results.across_envs:
            parts.append(f"<h4>{html.escape(env.env_id)}</h4>")
        parts.append(f"<p>{html.escape(summary_sentence(env.summary, env.standing))}</p>")
        if not env.budget_use.empty:
            parts.append(f"<p>{html.escape(budget_note(env.budget_use))}</p>")
        acting = [label for label in env.labels if env.family(label) == "assignment"]
        if acting:
            parts.append(f"<p>{html.escape(act_note(acting))}</p>")
        parts.append(summary_rows(env.summary).to_html(index=False, escape=True))
    return "\n".join(parts)


def summary_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary table's rows as the report shows them (formatted strings)."""
    threshold = _num(summary[col.THRESHOLD].iloc[0], 0)
    rows = []
    for _, row in summary.iterrows():
        steps = _num(row[col.STEPS_TO_THRESHOLD_MEDIAN], 0)
        reached = f"{row[col.SEEDS_REACHING_THRESHOLD]}/{row[col.RUNS_COMPLETE]}"
        rows.append(
            {
                "agent": row[col.AGENT],
                "kind": row[col.KIND],
                "runs": f"{row[col.RUNS_COMPLETE]}/{row[col.RUNS_PLANNED]}",
                "final return, mean [95% CI]": _est(row, col.FINAL_RETURN_MEAN).format(1),
                "final return, IQM [95% CI]": _est(row, col.FINAL_RETURN_IQM).format(1),
                "eval success rate [95% CI]": _est(row, col.EVAL_SUCCESS_RATE).format(2),
                "training success rate": _num(row[col.TRAIN_SUCCESS_RATE], 2),
                f"env steps to {threshold} (median; seeds)": f"{steps} ({reached})",
                "AUC (normalised)": _num(row[col.AUC_NORMALISED], 3),
                "wall time per run (s)": _num(row[col.WALL_TIME_S_PER_RUN], 1),
                "env steps/s": _num(row[col.ENV_STEPS_PER_S], 0),
                "failed or missing": _cell(row[col.FAILED_OR_MISSING]) or "none",
            }
        )
    return pd.DataFrame(rows)


def budget_note(budget_use: pd.DataFrame) -> str:
    """The agents whose own training loop ended before the budget, and the env steps they used."""
    parts = []
    for _, row in budget_use.iterrows():
        low, high, seeds = row[col.STEPS_MIN], row[col.STEPS_MAX], row[col.RUNS_COMPLETE]
        spread = f"{low:,}" if low == high else f"{low:,}–{high:,} (mean {row[col.STEPS_MEAN]:,.0f} over {seeds} seeds)"
        parts.append(f"{row[col.AGENT]} used {spread} of {row[col.BUDGET]:,} env steps")
    return (
        f"Not every agent trained for the whole budget: its own `train()` returned first. {_join(parts)}; "
        "its figures are those of the policy it ended with."
    )


def act_note(labels: Sequence[str]) -> str:
    """How the agents of the assignment's shape were evaluated."""
    verb = "is an agent" if len(labels) == 1 else "are agents"
    return (
        f"{_join(labels)} {verb} of the assignment's shape (`train()` and `act(observation, reward, done)`): "
        "evaluated through their own `act` as written, on a copy per episode (an `act` that explores explores "
        "in evaluation too, drawing from a random stream of its own)."
    )


def summary_sentence(summary: pd.DataFrame, standing: pd.DataFrame) -> str:
    """What the summary table shows, from its numbers; who stands where against the highest IQM
    is the model's (`standing`: `EnvResults.standing`)."""
    rows = summary[summary[col.RUNS_COMPLETE] > 0]
    if rows.empty:
        return "No agent completed a run here."
    text = standing_sentence(standing, "final return", 1)
    auc = {
        row[col.AGENT]: row[col.AUC_NORMALISED] for _, row in rows.iterrows() if not math.isnan(row[col.AUC_NORMALISED])
    }
    if auc:
        top_auc = max(round(v, 3) for v in auc.values())
        fastest = [label for label, v in auc.items() if round(v, 3) == top_auc]
        text += f" The largest normalised area under the evaluation curve is {_join(fastest)}'s ({top_auc:.3f})."
    reached = [
        f"{row[col.AGENT]} ({row[col.SEEDS_REACHING_THRESHOLD]}/{row[col.RUNS_COMPLETE]})"
        for _, row in rows.iterrows()
        if row[col.SEEDS_REACHING_THRESHOLD] > 0
    ]
    threshold = _num(summary[col.THRESHOLD].iloc[0], 0)
    if reached:
        text += f" Seeds whose evaluation mean reached {threshold}: {_join(reached)}."
    else:
        text += f" No seed of any agent reached an evaluation mean of {threshold}."
    return text


def standing_sentence(standing: pd.DataFrame, what: str, digits: int) -> str:
    """'X has the highest IQM <what> (...); its interval overlaps ...': the standing the model
    decided (`verdicts.standing_table`), in words. Where the seeds cannot order an agent below the
    top, the sentence says so instead of implying it."""
    estimates = {row[col.AGENT]: _estimate(row, col.VALUE) for _, row in standing.iterrows()}
    where = dict(zip(standing[col.AGENT], standing[col.STANDING], strict=True))
    best = [label for label, standing_of in where.items() if standing_of == verdicts.TOP]
    first = estimates[best[0]]
    if len(best) == 1:
        text = f"{best[0]} has the highest IQM {what} ({first.format(digits)})"
    else:
        text = f"{_join(best)} share the highest IQM {what} ({first.format(digits)})"

    def listed(standing_of: str) -> list[str]:
        return [f"{label}'s ({estimates[label].format(digits)})" for label, s in where.items() if s == standing_of]

    overlapping, below = listed(verdicts.OVERLAPS), listed(verdicts.BELOW)
    too_few: dict[str, list[str]] = {}
    for _, row in standing[standing[col.STANDING] == verdicts.TOO_FEW].iterrows():
        too_few.setdefault(row[col.IN_WORDS], []).append(row[col.AGENT])
    if not too_few:
        if overlapping:
            return text + f"; its interval overlaps {_join(overlapping)}."
        return text + ("; its interval overlaps no other agent's." if below else ".")
    if overlapping:
        text += f"; its interval overlaps {_join(overlapping)}"
    if below:
        text += f"; its interval lies above {_join(below)}"
    text += "".join(f"; against {_join(labels)}, {words}" for words, labels in too_few.items())
    return text + " (a study's `[decide]` table adds seeds in rounds until each comparison is decided)."


def verdict_rule() -> str:
    """When a comparison names the agent that ends higher, and at what level (the rule is
    `verdicts`'; this says it)."""
    return (
        "A row names the agent that ends higher only where an exact test on the seeds (the unit of every "
        f"comparison: a seed's final policy) could reach {_level()} with the seeds there are: a permutation test "
        "of n seeds against m has C(n + m, n) equally likely splits and needs C(n + m, n) >= "
        f"{verdicts.MIN_ARRANGEMENTS} ({verdicts.unpaired_seeds_needed()} seeds each); a sign-flip test on a "
        "declared pair's n per-seed differences has 2^n and needs 2^n >= "
        f"{verdicts.MIN_ARRANGEMENTS} ({verdicts.paired_seeds_needed()} seeds). On fewer seeds a bootstrap interval "
        "can look decisive only because there is little to resample, and the row says how many seeds would do "
        f"instead. Each verdict's {_level()} is per comparison, not for all of them at once: that family-wise "
        "control is what a study's `[decide]` table gives (AdaStop, adding seeds in rounds until each comparison "
        "is decided)."
    )


def _level() -> str:
    return f"{stats.CONFIDENCE:.0%}"


def improvement_text(improvement: pd.DataFrame, intro: str, seeds: str | None) -> str:
    """A probability-of-improvement table with its verdict in words."""
    rows, clear, unclear, few = [], [], [], []
    for _, row in improvement.iterrows():
        x, y, order = row[col.X], row[col.Y], row[col.ORDER]
        estimate = _estimate(row, col.P)
        if order == verdicts.X_HIGHER:
            clear.append(f"{x} over {y} ({estimate.format(2)})")
        elif order == verdicts.Y_HIGHER:
            reverse = stats.Estimate(1 - estimate.value, 1 - estimate.high, 1 - estimate.low)
            clear.append(f"{y} over {x} ({reverse.format(2)})")
        elif order == verdicts.NEITHER:
            unclear.append(f"{x} vs {y} ({estimate.format(2)})")
        else:
            few.append(f"{x} vs {y}")
        table_row = {
            "agent X": x,
            "agent Y": y,
            "P(X > Y) [95% CI]": estimate.format(2),
            "likelier to end higher": row[col.IN_WORDS],
        }
        if seeds is not None:
            table_row[seeds] = f"{row[col.N_X]}, {row[col.N_Y]}"
        rows.append(table_row)
    if not rows:
        return intro + " There is only one agent with complete runs, so there is nothing to compare."
    verdict = _improvement_verdict(clear, unclear) if not few else _improvement_verdict_few(clear, unclear, few)
    return intro + verdict + "\n\n" + _table(pd.DataFrame(rows))


def _improvement_verdict(clear: Sequence[str], unclear: Sequence[str]) -> str:
    """The table's verdicts in a sentence, every pair having seeds enough to be ordered."""
    n = len(clear) + len(unclear)
    if not clear:
        return f" All {n} intervals include 0.50: no agent reliably ends above another here."
    if not unclear:
        return f" All {n} intervals exclude 0.50: every pair of agents is ordered."
    if len(clear) <= len(unclear):
        others = "the other one includes" if len(unclear) == 1 else f"the other {len(unclear)} include"
        return (
            f" {len(clear)} of {n} intervals exclude 0.50 (the agent named first is likelier to end "
            f"higher, with that probability): {_join(clear)}; {others} 0.50."
        )
    which = "the one that includes" if len(unclear) == 1 else f"the {len(unclear)} that include"
    return f" {len(clear)} of {n} intervals exclude 0.50; {which} it: {_join(unclear)}."


def _improvement_verdict_few(clear: Sequence[str], unclear: Sequence[str], few: Sequence[str]) -> str:
    """The table's verdicts in a sentence, some pairs having too few seeds to be ordered."""
    n = len(clear) + len(unclear)
    if n == 0:
        return f" No pair has seeds enough to be ordered at {_level()}: each row says how many would do."
    text = (
        f" {len(few)} of {len(few) + n} pairs have too few seeds to be ordered at {_level()} ({_join(few)}): "
        f"their rows say how many would do. Of the other {n}, "
    )
    if not clear:
        return text + "every interval includes 0.50."
    named = f"(the agent named first is likelier to end higher, with that probability): {_join(clear)}"
    if not unclear:
        return text + f"every interval excludes 0.50 {named}."
    return text + f"{len(clear)} exclude 0.50 {named}; {len(unclear)} include it: {_join(unclear)}."


def paired_text(env: EnvResults) -> str:
    """The declared pairs on the same final evaluation episodes."""
    if env.paired.empty:
        return (
            "The study declares no pairs of agents to compare episode by episode "
            '(`paired = [["agent_x", "agent_y"]]` in its [study] table).'
        )
    intro = (
        "Each pair is one final evaluation episode (the same seed and the same reset seed, so the same "
        "start state) played by the final policies of both agents; the difference is X's return minus Y's. "
        "The mean difference has a 95% bootstrap interval across seeds (the episodes of one seed share "
        "a policy, so seeds are resampled, not episodes)."
    )
    rows, sentences = [], []
    for _, row in env.paired.iterrows():
        x, y = row[col.X], row[col.Y]
        if row[col.N_PAIRS] == 0:
            rows.append(
                {
                    "X": x,
                    "Y": y,
                    "seeds": "0",
                    "episode pairs": "0",
                    "mean X − Y [95% CI]": "–",
                    "X wins / ties / losses": "–",
                }
            )
            sentences.append(f"{x} and {y} have no seed that both completed.")
            continue
        diff = _estimate(row, col.MEAN)
        wins, ties, losses = int(row[col.WINS]), int(row[col.TIES]), int(row[col.LOSSES])
        rows.append(
            {
                "X": x,
                "Y": y,
                "seeds": str(int(row[col.N_RUNS])),
                "episode pairs": str(int(row[col.N_PAIRS])),
                "mean X − Y [95% CI]": _signed(diff),
                "X wins / ties / losses": f"{wins} / {ties} / {losses}",
            }
        )
        sentences.append(
            f"On {int(row[col.N_PAIRS])} shared episodes over {int(row[col.N_RUNS])} seeds, {x}'s return minus "
            f"{y}'s is {_signed(diff)} on average; {row[col.IN_WORDS]}. {x} scored higher on {wins}, "
            f"the same on {ties} and lower on {losses} of them."
        )
    return intro + " " + " ".join(sentences) + "\n\n" + _table(pd.DataFrame(rows))


def episodes_section(env: EnvResults, media: pd.DataFrame) -> str:
    """The rendered episode of each agent (`harness.report.media.render`'s rows for this env)."""
    settings = env.study.settings
    rows = []
    for _, row in media.iterrows():
        base = {
            "agent": row["agent"],
            "seed": str(row["seed"]),
            "seed's final return": _num(row["final_return"], 1),
        }
        if row["error"]:
            rows.append(
                {
                    **base,
                    "episode return": "–",
                    "length": "–",
                    "episode": f"not rendered: {_cell(row['error'])[:200]}",
                    "MP4": "–",
                }
            )
        else:
            rows.append(
                {
                    **base,
                    "episode return": _num(row["episode_return"], 1),
                    "length": str(int(row["length"])),
                    "episode": f"![{row['agent']}]({row['gif']})",
                    "MP4": f"[{row['mp4']}]({row['mp4']})",
                }
            )
    intro = (
        f"The final policy of each agent's median seed (the seed whose final return is the median of the "
        f"agent's seeds; the lower middle one for an even count), playing the first evaluation episode "
        f"(reset seed {settings.eval_seed}) with its deterministic policy, replayed exactly as its final "
        f"evaluation played it (so the return is that episode's in evals.csv, but for a policy that draws "
        f"random actions, such as the random agent's). The GIF is scaled down and keeps every second frame; "
        f"the MP4 has every frame."
    )
    return intro + "\n\n" + _table(pd.DataFrame(rows))


def hyperparameter_table(env: EnvResults) -> str:
    """One column per agent, one row per hyperparameter name (– where a kind has no such name),
    and the grid or other values an agent resolved for itself (`run.json`'s `agent_info`)."""
    study = env.study
    names: list[str] = []
    for spec in study.agents:
        names += [name for name in spec.hyperparameters if name not in names]
    rows = [{"hyperparameter": "kind", **{spec.label: _cell(spec.kind) for spec in study.agents}}]
    for name in names:
        row = {"hyperparameter": name}
        for spec in study.agents:
            row[spec.label] = _value(spec.hyperparameters[name]) if name in spec.hyperparameters else "–"
        rows.append(row)
    info = _agent_info(env)
    info_names: list[str] = []
    for values in info.values():
        info_names += [name for name in values if name not in info_names]
    for name in info_names:
        row = {"hyperparameter": f"{name} (as resolved by the agent)"}
        for spec in study.agents:
            row[spec.label] = _value(info[spec.label][name]) if name in info.get(spec.label, {}) else "–"
        rows.append(row)
    return _table(pd.DataFrame(rows))


def _agent_info(env: EnvResults) -> dict[str, dict[str, Any]]:
    """Per agent, what its first complete run's agent resolved for itself (the same for every seed)."""
    info: dict[str, dict[str, Any]] = {}
    for label in env.study.labels:
        runs = env.files.runs(label)
        if runs and runs[0].record.agent_info:
            info[label] = dict(runs[0].record.agent_info)
    return info


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _short_value(value: Any) -> str:
    """A hyperparameter's value, a float to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else _value(value)


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple, bool, dict)):
        return _cell(json.dumps(list(value) if isinstance(value, tuple) else value))
    return _cell(value)


def appendix_table(env: EnvResults) -> str:
    """Every pair of the env, one row each."""
    rows = []
    threshold = _num(env.profile.threshold, 0)
    for _, n in env.runs.iterrows():
        done = n[col.STATUS] == COMPLETE
        rows.append(
            {
                "agent": n[col.AGENT],
                "seed": str(n[col.SEED]),
                "status": n[col.STATUS],
                "final return": _num(n[col.FINAL_RETURN], 1) if done else "–",
                "score": _num(n[col.SCORE], 3) if done else "–",
                "final success rate": _num(n[col.FINAL_SUCCESS], 2) if done else "–",
                "training episodes": str(int(n[col.TRAIN_EPISODES])) if done else "–",
                "training success rate": _num(n[col.TRAIN_SUCCESS], 2) if done else "–",
                f"env steps to {threshold}": _num(n[col.STEPS_TO_THRESHOLD], 0) if done else "–",
                "AUC (normalised)": _num(n[col.AUC], 3) if done else "–",
                "wall time (s)": _num(n[col.WALL_TIME_S], 1) if done else "–",
                "env steps/s": _num(n[col.STEPS_PER_S], 0) if done else "–",
            }
        )
    return _table(pd.DataFrame(rows))


def problems_section(env: EnvResults, level: str) -> str:
    """The pairs without a complete result counted in the report, with their errors ('' when there
    are none)."""
    problems = env.runs[env.runs[col.STATUS] != COMPLETE]
    if problems.empty:
        return ""
    rows = [
        {
            "agent": p[col.AGENT],
            "seed": str(p[col.SEED]),
            "status": p[col.STATUS],
            "error": _cell(p[col.ERROR][:300]) if p[col.ERROR] else "no run folder",
        }
        for _, p in problems.iterrows()
    ]
    return (
        f"{level} Failed, incomplete, stale and missing runs\n\n{len(problems)} of {len(env.runs)} pairs have no "
        "complete result counted here; the tables and pictures use the complete runs only. `harness compare` "
        "with the same arguments reruns the failed, incomplete and missing ones.\n\n"
        + _table(pd.DataFrame(rows))
        + "\n"
    )


def reproduce_section(results: StudyResults, out: pathlib.Path) -> str:
    """The commands that make the runs again, and the one that rebuilds this report."""
    last = (
        f"The last command that wrote study.toml (a study run in parts shows only its last part):\n\n"
        f"```sh\n{results.command}\n```\n\n"
        if results.command
        else ""
    )
    return (
        f"Train every pair of this study again, into a new runs folder (study.toml is the resolved study, "
        f"a study file itself):\n\n```sh\nharness compare {results.study_dir / STUDY_FILE} --runs-dir runs-again\n"
        f"```\n\n{last}Rebuild this report from the run files:\n\n"
        f"```sh\nharness report {results.study_dir} --out {out}\n```\n"
    )


# ----------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def _est(row: Mapping[str, Any], key: str) -> stats.Estimate:
    """The interval of the columns `key`, `key_low`, `key_high` (the summary's)."""
    return stats.Estimate(row[key], row[col.low(key)], row[col.high(key)])


def _estimate(row: Mapping[str, Any], key: str) -> stats.Estimate:
    """The interval of the columns `key`, `low`, `high` (a comparison's, an aggregate metric's)."""
    return stats.Estimate(row[key], row[col.LOW], row[col.HIGH])


def _signed(estimate: stats.Estimate) -> str:
    return f"{estimate.value:+.1f} [{estimate.low:+.1f}, {estimate.high:+.1f}]"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, disable_numparse=True)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _count(n: int, noun: str) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
