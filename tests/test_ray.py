"""The Ray executor against a real local Ray cluster, on loopback only.

The cluster is started here (`ray start --head --node-ip-address 127.0.0.1`) with Ray's
loopback switch (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`) and usage stats off, and stopped
afterwards. The quick study run through it (at a third of its budget) must give the same files as
the local executor.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from helpers import harness, harness_here, read_csv, run_json, without_wall_time

from harness.studies import load_study

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Loopback only, no usage stats, and token authentication with a token of this test run's own
# (so that ~/.ray is neither read nor written).
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_env() -> dict[str, str]:
    return {**os.environ, **RAY_ENV}


def ray_command() -> str:
    return str(pathlib.Path(sys.executable).with_name("ray"))


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A head node of this module's own: its address and the process group of all its processes."""

    address: str
    group: int

    def owns(self, pid: int) -> bool:
        """Whether process `pid` is one of this head's, or descends from one (Ray starts its
        workers in process groups of their own)."""
        try:
            process = psutil.Process(pid)
            return any(os.getpgid(p.pid) == self.group for p in (process, *process.parents()))
        except (psutil.Error, ProcessLookupError):
            return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A head node on 127.0.0.1 with 2 CPUs, run in the foreground (`--block`) in a process group
    of its own; stopped afterwards by signalling that group alone. (`ray stop --force` would also
    kill the Ray instances that tests on the other pytest-xdist worker started meanwhile.)"""
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    log = temp / "ray-start.log"
    with log.open("w") as out:
        head = subprocess.Popen(
            [
                ray_command(),
                "start",
                "--head",
                "--block",
                "--node-ip-address",
                "127.0.0.1",
                "--port",
                str(port),
                "--num-cpus",
                "2",
                "--include-dashboard=false",
                "--disable-usage-stats",
                "--temp-dir",
                str(temp),
            ],
            env=ray_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in log.read_text() and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        output = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())  # no colour codes
        assert head.poll() is None and "Ray runtime started" in output, output
        node_ips = set(re.findall(r"[Ll]ocal node IP:?\s*([0-9.]+)", output))
        assert node_ips == {"127.0.0.1"}, f"the head is not on loopback only:\n{output}"
        yield Cluster(f"127.0.0.1:{port}", head.pid)
    finally:
        stop_group(head)


def stop_group(head: subprocess.Popen) -> None:
    """SIGTERM to the head's process group (`ray start --block` stops its children on it), then
    SIGKILL to whatever of the group is left after 30 s."""
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            head.poll()  # reaps the head once it exits: a zombie would keep the group alive
            try:
                os.killpg(head.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


BUDGET = 1_000
"""The quick study's budget here (its own is 3,000): its DQNs still train for 500 steps."""


def test_quick_study_on_ray_matches_the_local_executor(cluster: Cluster, tmp_path: pathlib.Path):
    budget = ("--total-timesteps", BUDGET)
    local = harness_here("compare", "quick", *budget, "--jobs", "2", "--runs-dir", "local", "--no-report", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    on_ray = harness(
        "compare", "quick", *budget, "--executor", "ray", "--address", cluster.address,
        "--runs-dir", "ray", "--no-report", cwd=tmp_path, env=ray_env(), timeout=600,
    )  # fmt: skip
    assert on_ray.returncode == 0, on_ray.stderr

    study = load_study("quick")
    for spec in study.agents:
        for seed in study.settings.seeds:
            a = tmp_path / "local" / "quick" / spec.label / f"seed_{seed}"
            b = tmp_path / "ray" / "quick" / spec.label / f"seed_{seed}"
            assert run_json(b)["status"] == "complete"
            assert run_json(a)["steps_done"] == run_json(b)["steps_done"] == BUDGET
            assert (a / "evals.csv").read_bytes() == (b / "evals.csv").read_bytes(), (spec.label, seed)
            # Every column but the measured wall clock, byte for byte.
            rows_a, rows_b = read_csv(a / "episodes.csv"), read_csv(b / "episodes.csv")
            assert without_wall_time(rows_a) == without_wall_time(rows_b), (spec.label, seed)
            names = {p.name for p in b.iterdir()}
            assert {"episodes.csv", "evals.csv", "run.json", "progress.csv"} <= names
            assert any(name.startswith("events.out.tfevents.") for name in names)
            assert any(name.startswith("model.") for name in names)
            assert not any(name.startswith(".") for name in names), names


KILL_BUDGET = 6_000
"""Steps of the pair whose task is killed: seconds of training, which the retry trains again whole."""
KILL_STUDY = f"""
[study]
name = "kill"
seeds = [0]
total_timesteps = {KILL_BUDGET}
eval_freq = {KILL_BUDGET // 2}
n_eval_episodes = 3

[agents.custom_dqn]
kind = "custom_dqn"
preset = "zoo"
"""


def test_a_task_killed_mid_run_is_retried_not_lost(cluster: Cluster, tmp_path: pathlib.Path):
    (tmp_path / "kill.toml").write_text(KILL_STUDY)
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "compare",
            "kill.toml",
            "--executor",
            "ray",
            "--address",
            cluster.address,
            "--runs-dir",
            "runs",
            "--no-report",
        ],
        cwd=tmp_path,
        env=ray_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = None
    deadline = time.monotonic() + 240
    try:
        while killed is None and time.monotonic() < deadline and driver.poll() is None:
            for process in psutil.process_iter(["pid", "cmdline"]):
                # This cluster's worker alone: the other xdist worker may run a pair of the same name.
                command = " ".join(process.info["cmdline"] or [])
                if "harness custom_dqn/seed_0" in command and cluster.owns(process.info["pid"]):
                    os.kill(process.info["pid"], signal.SIGKILL)
                    killed = process.info["pid"]
                    break
            time.sleep(0.2)
        _out, err = driver.communicate(timeout=400)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert killed is not None, "never saw the task's worker process"
    record = run_json(tmp_path / "runs" / "kill" / "custom_dqn" / "seed_0")
    assert record is not None, "the pair was lost"
    # Ray reruns a task whose worker died (max_retries); the pair is complete, or marked failed.
    assert record["status"] in ("complete", "failed"), record
    if record["status"] == "complete":
        assert driver.returncode == 0, err
        assert record["steps_done"] == KILL_BUDGET
    else:
        assert driver.returncode == 1, err
        assert "Ray task lost" in record["error"]


def test_missing_ray_is_a_one_line_error(tmp_path: pathlib.Path):
    """Without Ray importable, `--executor ray` names the extra to install."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "ray.py").write_text("raise ImportError('no ray here')\n")
    result = subprocess.run(
        [sys.executable, "-m", "harness", "compare", "quick", "--executor", "ray", "--runs-dir", "runs"],
        cwd=tmp_path,
        env={**ray_env(), "PYTHONPATH": str(shadow)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cartpole-compare[ray]" in lines[0], result.stderr
    assert not (tmp_path / "runs").exists()


def test_local_instance_listens_on_loopback_only():
    """`--executor ray` without an address starts its own instance: every socket it opens
    listens on 127.0.0.1, even when the caller set none of Ray's variables. (The executor starts
    Ray when it is first given pairs; before, this test found only the sockets of instances that
    earlier tests had left running, and failed when run alone.)"""
    code = (
        "import io, os, pathlib\n"
        "from harness.execution import RayExecutor, StudyProgress\n"
        "with RayExecutor(num_cpus=1) as executor:\n"
        "    executor.run([], pathlib.Path('.'), StudyProgress({}, stream=io.StringIO()))  # starts the instance\n"
        "    import ray\n"
        "    import psutil\n"
        "    print('NODE', ray.util.get_node_ip_address())\n"
        "    # This instance's processes alone (Ray starts them as the driver's descendants), never\n"
        "    # those of a cluster that a test on the other xdist worker runs meanwhile.\n"
        "    processes = [*psutil.Process().children(recursive=True), psutil.Process()]\n"
        "    pids = {p.pid for p in processes}\n"
        "    names = set()\n"
        "    for p in processes:\n"
        "        try:\n"
        "            names.add(p.name())\n"
        "        except psutil.Error:  # gone meanwhile (a worker that exited)\n"
        "            pass\n"
        "    print('PROCESSES', ' '.join(sorted(names)))\n"
        "    for c in psutil.net_connections('inet'):\n"
        "        if c.status == 'LISTEN' and c.pid in pids:\n"
        "            print('LISTEN', c.laddr.ip)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "NODE 127.0.0.1" in result.stdout
    assert {"raylet", "gcs_server"} <= set(result.stdout.split("PROCESSES")[1].split("\n")[0].split()), result.stdout
    listening = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("LISTEN")}
    assert listening, result.stdout
    assert listening <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening
