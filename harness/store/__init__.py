"""The study folder as a store: run files written whole or not at all, read back and checked, one
writer at a time, each pair's current run in its slot, runs set aside by identity, the report's
cache.

- `files`: where a pair's run lives, and writing files atomically (`run.json` last);
- `record`: `run.json` as one typed record (`RunRecord`), read and written here only;
- `studyfile`: `runs/<study>/study.toml`, the resolved study as run;
- `store`: the lock, slots, runs set aside and restored, `status` and `prune`;
- `rundata`: a study's run files read back, typed by the schema;
- `cache`: the report's cache of intervals and videos;
- `views`: the folders TensorBoard reads: the comparison apart from the tune.
"""

from harness.errors import StoreBusy, StoreError
from harness.store.cache import CACHE_FOLDER, NUMBERS_FILE, Cache, file_key, key_of
from harness.store.files import (
    band_key,
    clear_run_dir,
    collect_files,
    install_files,
    json_bytes,
    pair_dir,
    pair_key,
    pair_key_of,
    top_folders,
    write_atomic,
)
from harness.store.record import (
    IDENTITY_KEYS,
    Evaluation,
    Machine,
    RunRecord,
    Timings,
    is_complete,
    read_record,
    record_bytes,
    write_record,
)
from harness.store.rundata import EnvRuns, Pair, Run, StudyFiles, read_study
from harness.store.store import (
    LOCK_FILE,
    SUPERSEDED,
    PairStatus,
    SlotState,
    StudyStore,
    clear,
    prune,
    size_of,
    slot_state,
    study_status,
)
from harness.store.studyfile import COMMAND_PREFIX, StudyFile, merge_recorded, read_study_file, write_study_file
from harness.store.views import COMPARISON, VIEWS, comparison_view, tune_view

__all__ = [
    "CACHE_FOLDER",
    "COMMAND_PREFIX",
    "COMPARISON",
    "IDENTITY_KEYS",
    "LOCK_FILE",
    "NUMBERS_FILE",
    "SUPERSEDED",
    "VIEWS",
    "Cache",
    "EnvRuns",
    "Evaluation",
    "Machine",
    "Pair",
    "PairStatus",
    "Run",
    "RunRecord",
    "SlotState",
    "StoreBusy",
    "StoreError",
    "StudyFile",
    "StudyFiles",
    "StudyStore",
    "Timings",
    "band_key",
    "clear",
    "clear_run_dir",
    "collect_files",
    "comparison_view",
    "file_key",
    "install_files",
    "is_complete",
    "json_bytes",
    "key_of",
    "merge_recorded",
    "pair_dir",
    "pair_key",
    "pair_key_of",
    "prune",
    "read_record",
    "read_study",
    "read_study_file",
    "record_bytes",
    "size_of",
    "slot_state",
    "study_status",
    "top_folders",
    "tune_view",
    "write_atomic",
    "write_record",
    "write_study_file",
]
