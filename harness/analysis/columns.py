"""The column names of the numbers model's tables, declared once: the model builds its DataFrames
with them, the renderers (Markdown, plots, media) and `summary.csv` read them.

    from harness.analysis import columns as col
    summary[col.FINAL_RETURN_IQM], summary[col.low(col.FINAL_RETURN_IQM)]

An interval is three columns: the estimate `name` and its ends `name_low`, `name_high`
(`low(name)`, `high(name)`).
"""

from __future__ import annotations

# -- who ----------------------------------------------------------------------------------------
ENV_ID = "env_id"
AGENT = "agent"
SEED = "seed"
KIND = "kind"
STATUS = "status"
ERROR = "error"

# -- EnvResults.runs: one row per pair ---------------------------------------------------------
FINAL_RETURN = "final_return"
"""The mean return of the run's last evaluation."""
FINAL_SUCCESS = "final_success"
SCORE = "score"
"""The final return normalised by the env's return range."""
TRAIN_EPISODES = "train_episodes"
TRAIN_SUCCESS = "train_success"
STEPS_TO_THRESHOLD = "steps_to_threshold"
AUC = "auc"
WALL_TIME_S = "wall_time_s"
STEPS_PER_S = "steps_per_s"
STEPS_DONE = "steps_done"
"""The env steps the run trained for: the budget, or fewer when the agent's own loop ended first."""
RUN_COLUMNS = (
    AGENT,
    SEED,
    STATUS,
    ERROR,
    FINAL_RETURN,
    FINAL_SUCCESS,
    SCORE,
    TRAIN_EPISODES,
    TRAIN_SUCCESS,
    STEPS_TO_THRESHOLD,
    AUC,
    WALL_TIME_S,
    STEPS_PER_S,
    STEPS_DONE,
)

# -- EnvResults.summary (summary.csv): one row per agent ------------------------------------------
RUNS_COMPLETE = "runs_complete"
RUNS_PLANNED = "runs_planned"
FINAL_RETURN_MEAN = "final_return_mean"
FINAL_RETURN_IQM = "final_return_iqm"
EVAL_SUCCESS_RATE = "eval_success_rate"
TRAIN_SUCCESS_RATE = "train_success_rate"
THRESHOLD = "threshold"
STEPS_TO_THRESHOLD_MEDIAN = "steps_to_threshold_median"
SEEDS_REACHING_THRESHOLD = "seeds_reaching_threshold"
AUC_NORMALISED = "auc_normalised"
WALL_TIME_S_PER_RUN = "wall_time_s_per_run"
ENV_STEPS_PER_S = "env_steps_per_s"
FAILED_OR_MISSING = "failed_or_missing"

# -- EnvResults.budget_use: one row per agent that trained for fewer env steps than the budget ------
BUDGET = "budget"
STEPS_MEAN = "steps_mean"
STEPS_MIN = "steps_min"
STEPS_MAX = "steps_max"
BUDGET_COLUMNS = (AGENT, RUNS_COMPLETE, BUDGET, STEPS_MEAN, STEPS_MIN, STEPS_MAX)

# -- EnvResults.curves: long, one row per (curve, agent, step) -------------------------------------
CURVE = "curve"
STEP = "step"
MEAN = "mean"
LOW = "low"
HIGH = "high"
EVAL_RETURN_CURVE = "eval_return"
TRAIN_RETURN_CURVE = "train_return"
SUCCESS_RATE_CURVE = "success_rate"
CURVES = (EVAL_RETURN_CURVE, TRAIN_RETURN_CURVE, SUCCESS_RATE_CURVE)
CURVE_COLUMNS = (CURVE, AGENT, STEP, MEAN, LOW, HIGH)

# -- comparisons: EnvResults.improvement, .paired; Aggregate.improvement (their verdicts: `verdicts`) --
X = "x"
Y = "y"
P = "p"
"""P(X > Y)."""
N_X = "n_x"
N_Y = "n_y"
N_RUNS = "n_runs"
N_PAIRS = "n_pairs"
WINS = "wins"
TIES = "ties"
LOSSES = "losses"
SEEDS_SUFFICE = "seeds_suffice"
"""Whether an exact test on the seeds could reach 95% with these seed counts (`verdicts`)."""
ORDER = "order"
"""The verdict: `x` (X above Y), `y`, `neither` or `too few seeds` (`verdicts.ORDERS`)."""
IN_WORDS = "in_words"
"""The verdict as the report prints it."""
VERDICT_COLUMNS = (SEEDS_SUFFICE, ORDER, IN_WORDS)
IMPROVEMENT_NUMBERS = (X, Y, P, LOW, HIGH, N_X, N_Y)
IMPROVEMENT_COLUMNS = (*IMPROVEMENT_NUMBERS, *VERDICT_COLUMNS)
PAIRED_NUMBERS = (X, Y, N_RUNS, N_PAIRS, MEAN, LOW, HIGH, WINS, TIES, LOSSES)
PAIRED_COLUMNS = (*PAIRED_NUMBERS, *VERDICT_COLUMNS)

# -- Aggregate -------------------------------------------------------------------------------------
METRIC = "metric"
VALUE = "value"
N_SEEDS = "n_seeds"
TAU = "tau"
FRACTION = "fraction"
SEEDS = "seeds"
METRIC_COLUMNS = (AGENT, METRIC, VALUE, LOW, HIGH, N_SEEDS)
STANDING = "standing"
"""How an agent stands against the highest IQM: `top`, `overlaps`, `below`, `too few seeds`."""
STANDING_COLUMNS = (AGENT, VALUE, LOW, HIGH, N_SEEDS, STANDING, IN_WORDS)
"""EnvResults.standing and Aggregate.standing: one row per agent (`verdicts.standing_table`)."""
PROFILE_COLUMNS = (AGENT, TAU, FRACTION, LOW, HIGH)


def low(name: str) -> str:
    """The column of an interval's lower end: `name_low`."""
    return f"{name}_low"


def high(name: str) -> str:
    """The column of an interval's upper end: `name_high`."""
    return f"{name}_high"


# -- StudyResults.decisions (decisions.csv): one row per (env, comparison) -----------------------------
DECISION_ENV = "env"
VERSUS = "versus"
VERDICT = "verdict"
ROUND = "round"
SEEDS_AGENT = "seeds_agent"
SEEDS_VERSUS = "seeds_versus"
ALPHA = "alpha"
DECISION_COLUMNS = (DECISION_ENV, AGENT, VERSUS, VERDICT, ROUND, SEEDS_AGENT, SEEDS_VERSUS, ALPHA)
