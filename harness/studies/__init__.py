"""Studies: the study file (the embedded ones live here too: cartpole.toml, quick.toml,
classic-control.toml) read and checked, the identity of each of its pairs, the source files
of each agent, and the command line's options on a study.

- `settings`: the `[study]` and `[envs."<id>"]` tables, checked;
- `study`: `Study` and `AgentSpec`, the checked study (views per env, narrowed copies);
- `reading`: a TOML file read (`load_study`, `parse_study`), its agents' classes imported and
  checked (`resolve_study`); `writing`: the study back to TOML (`to_toml`);
- `identity`: what decides a pair's result (settings, seed, the agent's code identity from
  `harness.agents`, library versions);
- `options`: seeds ("0-4"), labels ("a,b") and a study narrowed to them;
- `decide`: the `[decide]` table (compare in rounds until decided);
- `search`: search spaces (`[agents.<label>.search]`, the built-in kinds' defaults from the
  registry), made to hold an agent's start;
- `tune`: the `[tune]` table and tuning records (`[tuned.<label>]`).

Nothing here imports torch or SB3 until `resolve_study` imports the agents' classes.
"""

from harness.errors import StudyError
from harness.studies.decide import DecideSettings
from harness.studies.identity import (
    LEGACY_SETTINGS,
    LIBRARIES,
    changed,
    changed_setting,
    identity_hash,
    library_versions,
    pair_identity,
    run_settings,
)
from harness.studies.options import parse_labels, parse_seeds, with_options
from harness.studies.reading import EMBEDDED_STUDIES, load_study, parse_study, resolve_study, study_path
from harness.studies.search import (
    FIXED,
    Dimension,
    SearchSpace,
    check_search,
    default_search,
    nothing_to_tune,
    search_space,
    start_of,
    with_start,
)
from harness.studies.settings import DEFAULT_ENV_ID, PER_ENV_KEYS, StudySettings
from harness.studies.study import AgentSpec, Study
from harness.studies.tune import (
    DEFAULT_OBJECTIVE,
    DEFAULT_PRUNER,
    OBJECTIVES,
    PRUNERS,
    STORAGE_FILE,
    TUNE_FOLDER,
    TUNED_FILE,
    TUNED_KEYS,
    TuneSettings,
)
from harness.studies.writing import to_toml

__all__ = [
    "DEFAULT_ENV_ID",
    "DEFAULT_OBJECTIVE",
    "DEFAULT_PRUNER",
    "EMBEDDED_STUDIES",
    "FIXED",
    "LEGACY_SETTINGS",
    "LIBRARIES",
    "OBJECTIVES",
    "PER_ENV_KEYS",
    "PRUNERS",
    "STORAGE_FILE",
    "TUNED_FILE",
    "TUNED_KEYS",
    "TUNE_FOLDER",
    "AgentSpec",
    "DecideSettings",
    "Dimension",
    "SearchSpace",
    "Study",
    "StudyError",
    "StudySettings",
    "TuneSettings",
    "changed",
    "changed_setting",
    "check_search",
    "default_search",
    "identity_hash",
    "library_versions",
    "load_study",
    "nothing_to_tune",
    "pair_identity",
    "parse_labels",
    "parse_seeds",
    "parse_study",
    "resolve_study",
    "run_settings",
    "search_space",
    "start_of",
    "study_path",
    "to_toml",
    "with_options",
    "with_start",
]
