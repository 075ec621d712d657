#!/usr/bin/env python3
"""The course's grading workflow, run on a temporary clone of the current commit.

Usage: python3 docker/course_workflow.py [options]      (make course-test)

It drives the repository exactly as the course's graders do, with nothing but their
commands, in a temporary `git clone` (the repository under test is never written, but
for target/course-logs/ and, on the `make` build path, the images built from it):

  * `make exercise-branches` in the clone, then for each branch ej1..ej8: `git checkout ejN`,
    `docker build -f ./server/Dockerfile -t server:latest .` and the same for the client;
    without that target it runs every exercise on main, with the mode given to the generator.
  * config files rewritten with only the course's keys, agency files of the course's format
    in .data/agency-N.csv, `bash generar-compose.sh docker-compose-dev.yaml 3` (no mode, no
    environment), `docker compose -f docker-compose-dev.yaml up -d`, then at once `logs -f`
    as a subprocess, read until every client's `clientN exited with code 0` line or a timeout;
    then `stop` and `down` (without -v, as a grader types it).
  * ej6-ej8: three agencies of 100 bets with known winners, five rounds in a row, each after a
    plain `down`. From the `logs -f` stream, in its order: every `apuesta_recibida` before the
    one `sorteo`, the `sorteo` before every `consulta_ganadores`, each agency's winners, each
    client's exit line after its winners, 300 bets received, no `result: fail` line.
  * ej1-ej4 (echo clients; ej3 and ej8 also run ./validar-echo-server.sh) and ej5 (one bet per
    client from the environment): twice each.
  * every branch: after `stop` every container exited with code 0; after `down` nothing of the
    project is left but dangling anonymous volumes.
  * all of it with Compose v2 (`docker compose`) and v1 (`docker-compose`), whichever exist.

Prints PASS/FAIL per check and ends with "N passed, M failed" (exit 1 when any failed). The raw
`logs -f` transcript of a failing round goes to target/course-logs/. Without Docker it prints
"skipped: no Docker" and "0 passed, 0 failed" and exits 0.

Options (each also read from the environment variable in brackets):
  --branches LIST   exercises to run, e.g. 6,7 or ej1-ej4 [COURSE_BRANCHES; 1-8]
  --rounds N        rounds per agency exercise (ej6-ej8) [COURSE_ROUNDS; 5]
  --runs N          runs per other exercise (ej1-ej5) [COURSE_RUNS; 2]
  --compose LIST    v2, v1 or v2,v1 [COURSE_COMPOSE; v2,v1]
  --build MODE      course: docker build with ./server/Dockerfile and ./client/Dockerfile on
                    each branch, as the graders do; make: `make docker-image` once in this
                    repository (the fast path, with cargo on the host); auto: course when the
                    Dockerfiles exist, else make [COURSE_BUILD; auto]
  --timeout S       seconds a round may take to show every client's exit line [COURSE_TIMEOUT; 60]
  --build-timeout S seconds an image build may take [COURSE_BUILD_TIMEOUT; 3600]
  --keep            keep the temporary clone (its path is printed)

The compose project is the clone's (.env: tp0) and the containers are named server and
clientN, so the test refuses to start while any of that exists.
"""

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_DIR = os.path.join(ROOT, "target", "course-logs")
CLIENTS = 3
BETS_PER_AGENCY = 100
WINNING_NUMBER = 7574
# Winners per agency 1..3, round by round (then again from the first): no two of five rounds
# expect the same, so a round that answers an earlier round's winners is caught.
ROUND_WINNERS = ((0, 1, 3), (1, 3, 0), (3, 0, 1), (2, 0, 4), (0, 4, 2))
ECHO_AMOUNT = 3
# Echo clients live about (amount - 1) x period: long enough that `logs -f`, which attaches
# 100-200 ms after `up -d` returns (a second on a slow machine), follows their exit, as with the
# course's own config (5 messages, 5 s apart). With 100 ms they exit before it attaches.
ECHO_PERIOD = "1s"
AGENCY_LOOP_AMOUNT = 500
AGENCY_LOOP_PERIOD = "150ms"
BATCH_MAX_AMOUNT = 10
MODES = {1: "echo", 2: "echo", 3: "echo", 4: "echo", 5: "bet", 6: "agency", 7: "agency", 8: "agency"}
# Seconds a client may be exited (docker inspect) before its missing exit line is given up on.
EXIT_LINE_GRACE = 5
# Exercises where ./validar-echo-server.sh runs while the server is up.
VALIDATE_ECHO = (3, 8)

# What a grader's shell passes on: nothing that generar-compose.sh, compose or git would read
# from a developer's or make's environment (CLIENT_MODE, DATA_DIR, COMPOSE_FILE, GIT_DIR...).
KEPT_ENV = {
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
    "DOCKER_BUILDKIT", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
    "no_proxy",
}
COURSE_ENV = {k: v for k, v in os.environ.items() if k in KEPT_ENV or k.startswith("LC_")}

ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
PREFIXED = re.compile(r"^([A-Za-z0-9_.-]+)\s*\| ?(.*)$")
EXITED = re.compile(r"^(?:[A-Za-z0-9_.-]+\s*\|\s*)?([A-Za-z0-9_.-]+) exited with code (\d+)\s*$")
RECEIVED = re.compile(r"action: apuesta_recibida \| result: success \| cantidad: (\d+)")
DRAW = re.compile(r"action: sorteo \| result: success")
WINNERS = re.compile(r"action: consulta_ganadores \| result: success \| cant_ganadores: (\d+)")
ECHOED = re.compile(r"action: receive_message \| result: success \| client_id: (\d+) \| msg: (.*?)\s*$")
LOOP_DONE = re.compile(r"action: loop_finished \| result: success")
BET_SENT = re.compile(r"action: apuesta_enviada \| result: success \| dni: (\S+) \| numero: (\d+)")
BET_STORED = re.compile(r"action: apuesta_almacenada \| result: success \| dni: (\S+) \| numero: (\d+)")
FAILED = "result: fail"


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: clean up, then stop."""


# ---------------------------------------------------------------- reporting
class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, description, ok, details=()):
        if ok:
            self.passed += 1
            print(f"PASS  {description}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL  {description}", flush=True)
            for line in details:
                info(f"  {line}")
        return ok

    def summary(self):
        print(f"\n{self.passed} passed, {self.failed} failed", flush=True)


def info(text):
    print(f"      {text}", flush=True)


def section(text):
    print(f"\n== {text}", flush=True)


# ---------------------------------------------------------------- processes
class Result:
    def __init__(self, code, output, timed_out=False):
        self.code = code
        self.output = output
        self.timed_out = timed_out

    @property
    def ok(self):
        return self.code == 0 and not self.timed_out

    def tail(self, lines=8):
        return self.output.rstrip().splitlines()[-lines:]


def run(argv, cwd, timeout, env=None, journal=None):
    """Runs argv in its own process group, output and errors together, killed at the timeout."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=COURSE_ENV if env is None else env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as err:
        result = Result(127, f"{argv[0]}: {err}\n")
    else:
        try:
            out, _ = proc.communicate(timeout=timeout)
            result = Result(proc.returncode, out.decode("utf-8", "replace"))
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, _ = proc.communicate()
            result = Result(None, out.decode("utf-8", "replace") + f"\n(killed after {timeout} s)\n",
                            timed_out=True)
        except BaseException:
            kill_group(proc)
            proc.wait()
            raise
    if journal is not None:
        journal.append(f"$ {' '.join(argv)}   (in {cwd}; exit {result.code}; "
                       f"{time.monotonic() - started:.1f} s)\n{result.output}")
    return result


def kill_group(proc, grace=5):
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def docker_lines(*args, timeout=30):
    result = run(["docker", *args], ROOT, timeout)
    return [line for line in result.output.split() if line] if result.ok else []


# ---------------------------------------------------------------- the logs -f reader
class Event:
    """One line of `logs -f`: a container's line, an exit line, or compose's own text."""

    def __init__(self, raw):
        self.raw = raw
        text = ANSI.sub(b"", raw).decode("utf-8", "replace").rstrip("\r\n")
        self.text = text
        self.source = ""
        self.message = text
        self.exit_code = None
        exited = EXITED.match(text)
        prefixed = PREFIXED.match(text)
        if exited:
            self.source = exited.group(1)
            self.exit_code = int(exited.group(2))
        elif prefixed:
            self.source = prefixed.group(1)
            self.message = prefixed.group(2)


class LogFollower:
    """`<compose> -f docker-compose-dev.yaml logs -f` as a subprocess, read line by line."""

    def __init__(self, argv, cwd):
        self.events = []
        self.eof = False
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=COURSE_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            event = Event(raw)
            with self.changed:
                self.events.append(event)
                self.changed.notify_all()
        with self.changed:
            self.eof = True
            self.changed.notify_all()

    def wait_until(self, done, timeout):
        """Until done(events) holds, the stream ends or the timeout passes; returns done(events)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not done(self.events) and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return done(self.events)

    def close(self):
        kill_group(self.proc)
        self.reader.join(5)
        with self.changed:
            return list(self.events)


def exit_lines(events):
    return {e.source: (i, e.exit_code) for i, e in enumerate(events) if e.exit_code is not None}


# ---------------------------------------------------------------- the course's files
SERVER_CONFIG = """[DEFAULT]
SERVER_PORT = 12345
SERVER_IP = server
SERVER_LISTEN_BACKLOG = 5
LOGGING_LEVEL = DEBUG
"""


def client_config(amount, period):
    return f"""server:
  address: "server:12345"
loop:
  amount: {amount}
  period: "{period}"
log:
  level: "DEBUG"
batch:
  maxAmount: {BATCH_MAX_AMOUNT}
"""


FIRST_NAMES = ["Santiago Lionel", "Agustín Emanuel", "Camila Rocío", "María Sol", "Tomás",
               "Lucía", "Martín", "Valentina", "Joaquín", "Sofía", "Iñaki", "Florencia"]
LAST_NAMES = ["Lorca", "Zambrano", "Rivera", "Gómez", "Fernández", "Núñez", "Pérez", "Acuña",
              "Benítez", "Sosa", "Castaño", "Domínguez"]


def agency_files(seed, round_number):
    """Three agencies of 100 bets in the course's format (CRLF, no header), and their winners."""
    rng = random.Random(seed)
    winners = ROUND_WINNERS[(round_number - 1) % len(ROUND_WINNERS)]
    documents = iter(rng.sample(range(10_000_000, 99_999_999), CLIENTS * BETS_PER_AGENCY))
    files = []
    for agency_winners in winners:
        winning_rows = set(rng.sample(range(BETS_PER_AGENCY), agency_winners))
        rows = []
        for row in range(BETS_PER_AGENCY):
            number = WINNING_NUMBER
            while row not in winning_rows and number == WINNING_NUMBER:
                number = rng.randrange(10_000)
            birth = f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            rows.append(f"{rng.choice(FIRST_NAMES)},{rng.choice(LAST_NAMES)},{next(documents)},"
                        f"{birth},{number}\r\n")
        files.append("".join(rows))
    return files, list(winners)


def winners_in(text):
    return sum(1 for line in text.splitlines() if line.split(",")[4].strip() == str(WINNING_NUMBER))


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def compose_environment(path):
    """{service: {VAR: value}} from the generated compose file's `- VAR=value` lines; a
    service's bind mounts are listed under the key `volumes`."""
    services, current = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            service = re.match(r"^  ([A-Za-z0-9_.-]+):\s*$", line)
            if service:
                current = services.setdefault(service.group(1), {"volumes": []})
                continue
            variable = re.match(r"^\s+- ([A-Z_][A-Z0-9_]*)=(.*)$", line)
            if variable and current is not None:
                current[variable.group(1)] = variable.group(2).strip()
                continue
            mount = re.match(r"^\s+- (\.?\.?/\S*:/\S*)$", line)
            if mount and current is not None:
                current["volumes"].append(mount.group(1))
    return services


def client_mode(service):
    """The mode a generated client runs: CLI_MODE when the file sets it, else the client's
    built-in default (agency), which needs its agency file mounted at /agency.csv."""
    if "CLI_MODE" in service:
        return service["CLI_MODE"]
    if any(volume.split(":")[1] == "/agency.csv" for volume in service.get("volumes", [])):
        return "agency"
    return "none"


# ---------------------------------------------------------------- the workflow
class Compose:
    def __init__(self, name, argv):
        self.name = name
        self.argv = argv

    def __call__(self, *args):
        return [*self.argv, "-f", "docker-compose-dev.yaml", *args]


class Workflow:
    def __init__(self, options, report):
        self.options = options
        self.report = report
        self.temp = None
        self.clone = None
        self.project = "tp0"
        self.use_branches = False
        self.deployed = None            # the Compose whose deployment may be up
        self.our_volumes = set()         # volumes our containers mounted, removed at the end
        self.follower = None             # the running `logs -f`, if any
        self.owns_project = False        # the preflight found nothing of the project

    # ------------------------------------------------------------ setup
    def make_clone(self):
        head = run(["git", "rev-parse", "HEAD"], ROOT, 30, env=dict(os.environ))
        if not head.ok:
            raise SetupError("cannot read this repository's HEAD", head.tail())
        commit = head.output.strip()
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"], ROOT, 30,
                    env=dict(os.environ))
        if dirty.output.strip():
            info(f"note: uncommitted changes here are not tested; the clone is commit {commit[:12]}")
        self.temp = tempfile.mkdtemp(prefix="tp0-course.")
        self.clone = os.path.join(self.temp, "clone")
        for argv, cwd in ((["git", "clone", "-q", "--no-hardlinks", ROOT, self.clone], self.temp),
                          (["git", "checkout", "-q", "-B", "main", commit], None)):
            result = run(argv, cwd or self.clone, 120)
            if not result.ok:
                raise SetupError(f"{' '.join(argv[:3])} failed", result.tail())
        if not run(["git", "config", "user.email"], self.clone, 30).output.strip():
            run(["git", "config", "user.email", "course-test@localhost"], self.clone, 30)
            run(["git", "config", "user.name", "tp0 course test"], self.clone, 30)
        info(f"clone of {commit[:12]} in {self.clone}")
        # The course's tools write .data/agency-N.csv without creating the folder.
        data = os.path.join(self.clone, ".data")
        if not self.report.check("a fresh clone has .data/ (the course's tools write "
                                 ".data/agency-N.csv without creating it)", os.path.isdir(data)):
            info("creating it, so that the rest can run")
            os.makedirs(data)
        self.project = self.project_name()

    def project_name(self):
        try:
            with open(os.path.join(self.clone, ".env"), encoding="utf-8") as f:
                for line in f:
                    key, _, value = line.strip().partition("=")
                    if key == "COMPOSE_PROJECT_NAME" and value:
                        return value.strip().strip("\"'")
        except OSError:
            pass
        info("note: the clone's .env names no COMPOSE_PROJECT_NAME; the project is the folder's name")
        return os.path.basename(self.clone)

    def set_up_branches(self):
        with open(os.path.join(self.clone, "Makefile"), encoding="utf-8") as f:
            has_target = re.search(r"^exercise-branches\s*:", f.read(), re.M) is not None
        if not has_target:
            info("the clone's Makefile has no exercise-branches target: every exercise runs on "
                 "main, with its mode given to generar-compose.sh (fallback)")
            return
        result = run(["make", "exercise-branches"], self.clone, 300)
        missing = [f"ej{n}" for n in range(1, 9) if not run(
            ["git", "rev-parse", "--verify", "-q", f"refs/heads/ej{n}"], self.clone, 30).ok]
        self.report.check(f"make exercise-branches in the clone makes ej1..ej8 (missing: "
                          f"{' '.join(missing) or 'none'})", result.ok and not missing,
                          result.tail())
        self.use_branches = result.ok and not missing
        if not self.use_branches:
            info("falling back to main, with each exercise's mode given to generar-compose.sh")

    def build_mode(self):
        wanted = self.options.build
        has_dockerfiles = all(os.path.isfile(os.path.join(self.clone, p, "Dockerfile"))
                              for p in ("server", "client"))
        if wanted == "auto":
            wanted = "course" if has_dockerfiles else "make"
            if not has_dockerfiles:
                info("no server/Dockerfile and client/Dockerfile in the clone yet: the images come "
                     "from `make docker-image` in this repository (fallback)")
        return wanted

    def make_images(self):
        section("images: make docker-image in this repository (the fast path)")
        result = run(["make", "-s", "docker-image"], ROOT, self.options.build_timeout,
                     env=dict(os.environ))
        return self.report.check("make docker-image builds server:latest and client:latest",
                                 result.ok, result.tail())

    def course_images(self, label):
        journal = []
        ok = True
        if not getattr(self, "builder_ready", False):
            # A grader's Docker pulls the Dockerfiles' official Rust image; where no registry is
            # reached, the project's script puts a stand-in under that tag first (once).
            result = run(["sh", "docker/builder-image.sh"], self.clone, self.options.build_timeout,
                         journal=journal)
            self.builder_ready = self.report.check(
                "the Dockerfiles' builder image is there (pulled, present or assembled)",
                result.ok, result.tail())
            ok = self.builder_ready
        for name in ("server", "client"):
            result = run(["docker", "build", "-f", f"./{name}/Dockerfile", "-t", f"{name}:latest", "."],
                         self.clone, self.options.build_timeout, journal=journal)
            ok = self.report.check(f"[{label}] docker build -f ./{name}/Dockerfile -t {name}:latest .",
                                   result.ok, result.tail()) and ok
        if not ok:
            self.save(f"{label}-build", journal=journal)
        return ok

    # ------------------------------------------------------------ docker state
    def leftovers(self, volumes=()):
        """What of the project exists: containers, networks, volumes (not anonymous ones)."""
        label = f"label=com.docker.compose.project={self.project}"
        found = [f"container {c}" for c in docker_lines("ps", "-a", "--format", "{{.Names}}",
                                                        "--filter", label)]
        names = ["server", *[f"client{i}" for i in range(1, CLIENTS + 1)]]
        for name in names:
            if run(["docker", "container", "inspect", name], ROOT, 30).ok and \
                    f"container {name}" not in found:
                found.append(f"container {name}")
        networks = set(docker_lines("network", "ls", "--format", "{{.Name}}", "--filter", label))
        networks |= {n for n in docker_lines("network", "ls", "--format", "{{.Name}}")
                     if n == f"{self.project}_testing_net"}
        found += [f"network {n}" for n in sorted(networks)]
        candidates = set(docker_lines("volume", "ls", "-q", "--filter", label)) | set(volumes)
        found += [f"volume {v}" for v in sorted(candidates)
                  if not re.fullmatch(r"[0-9a-f]{64}", v) and
                  run(["docker", "volume", "inspect", v], ROOT, 30).ok]
        return found

    def container_states(self, compose):
        """{name: (status, exit code)} of the project's containers, by `ps -a -q` and inspect."""
        ids = run(compose("ps", "-a", "-q"), self.clone, 60).output.split()
        ids = [i for i in ids if re.fullmatch(r"[0-9a-f]{12,64}", i)]
        if not ids:
            return {}
        result = run(["docker", "inspect", "-f",
                      "{{.Name}} {{.State.Status}} {{.State.ExitCode}}", *ids], ROOT, 60)
        states = {}
        for line in result.output.splitlines():
            parts = line.split()
            if len(parts) == 3:
                states[parts[0].lstrip("/")] = (parts[1], parts[2])
        return states

    def mounted_volumes(self, compose):
        ids = [i for i in run(compose("ps", "-a", "-q"), self.clone, 60).output.split()
               if re.fullmatch(r"[0-9a-f]{12,64}", i)]
        if not ids:
            return set()
        result = run(["docker", "inspect", "-f",
                      '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}', *ids],
                     ROOT, 60)
        return set(result.output.split())

    def clear_project_volumes(self):
        """Named volumes a previous sequence's `down` left (already reported there)."""
        label = f"label=com.docker.compose.project={self.project}"
        for volume in docker_lines("volume", "ls", "-q", "--filter", label):
            if not re.fullmatch(r"[0-9a-f]{64}", volume):
                info(f"removing volume {volume}, left by the previous sequence's down, so this "
                     "sequence starts clean")
                run(["docker", "volume", "rm", "-f", volume], ROOT, 60)

    def cleanup(self):
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        if self.deployed is not None and self.clone and \
                os.path.isfile(os.path.join(self.clone, "docker-compose-dev.yaml")):
            run(self.deployed("down", "-v", "--remove-orphans", "-t", "5"), self.clone, 120)
        self.deployed = None
        # The project's volumes are ours once the preflight found none (never another's).
        if self.owns_project:
            label = f"label=com.docker.compose.project={self.project}"
            for volume in set(docker_lines("volume", "ls", "-q", "--filter", label)) | self.our_volumes:
                run(["docker", "volume", "rm", "-f", volume], ROOT, 60)
        self.our_volumes.clear()
        if self.temp and not self.options.keep:
            shutil.rmtree(self.temp, ignore_errors=True)
        elif self.temp:
            info(f"kept the clone: {self.clone}")

    # ------------------------------------------------------------ logs
    def save(self, name, events=None, journal=None):
        os.makedirs(LOG_DIR, exist_ok=True)
        paths = []
        if events is not None:
            path = os.path.join(LOG_DIR, f"{name}.log")
            with open(path, "wb") as f:
                f.writelines(e.raw for e in events)
            paths.append(path)
        if journal:
            path = os.path.join(LOG_DIR, f"{name}.commands.log")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(journal))
            paths.append(path)
        for path in paths:
            info(f"saved: {path}")

    # ------------------------------------------------------------ one exercise
    def exercise(self, number, composes):
        label = f"ej{number}"
        mode = MODES[number]
        if self.use_branches:
            section(f"{label}: git checkout {label}")
            run(["git", "checkout", "-q", "--", "server/config.ini", "client/config.yaml"],
                self.clone, 30)
            result = run(["git", "checkout", "-q", label], self.clone, 60)
            if not self.report.check(f"[{label}] git checkout {label}", result.ok, result.tail()):
                return
        else:
            section(f"{label} on main (no exercise branches: generar-compose.sh gets mode {mode})")
        if self.options.build == "course" and not self.course_images(label):
            return
        for compose in composes:
            self.clear_project_volumes()
            runs = self.options.rounds if mode == "agency" else self.options.runs
            for round_number in range(1, runs + 1):
                self.round(compose, number, round_number)

    def round(self, compose, number, round_number):
        label = f"ej{number}"
        mode = MODES[number]
        tag = f"[{compose.name} {label} {'round' if mode == 'agency' else 'run'} {round_number}]"
        name = f"{compose.name}-{label}-{round_number}"
        failed_before = self.report.failed
        journal = []
        events = None
        try:
            events = self._round(compose, number, round_number, tag, journal)
        finally:
            if self.report.failed > failed_before:
                self.save(name, events, journal)

    def _round(self, compose, number, round_number, tag, journal):
        mode = MODES[number]
        check = self.report.check
        clone = self.clone
        clients = [f"client{i}" for i in range(1, CLIENTS + 1)]

        # The course's files: configs with its keys only, agency files in .data/.
        write(os.path.join(clone, "server", "config.ini"), SERVER_CONFIG)
        if mode == "agency":
            write(os.path.join(clone, "client", "config.yaml"),
                  client_config(AGENCY_LOOP_AMOUNT, AGENCY_LOOP_PERIOD))
        else:
            write(os.path.join(clone, "client", "config.yaml"), client_config(ECHO_AMOUNT, ECHO_PERIOD))
        expected_winners = []
        if mode == "agency":
            data = os.path.join(clone, ".data")
            os.makedirs(data, exist_ok=True)
            files, planned = agency_files(f"tp0-course/{compose.name}/{number}/{round_number}",
                                          round_number)
            for i, text in enumerate(files, 1):
                write(os.path.join(data, f"agency-{i}.csv"), text)
                expected_winners.append(winners_in(text))
            assert expected_winners == planned, (expected_winners, planned)
            info(f"agency files: {CLIENTS} x {BETS_PER_AGENCY} bets, winners {planned}")

        generate = ["bash", "generar-compose.sh", "docker-compose-dev.yaml", str(CLIENTS)]
        if not self.use_branches:
            generate.append(mode)
        result = run(generate, clone, 60, journal=journal)
        if not check(f"{tag} {' '.join(generate)}", result.ok, result.tail()):
            return None
        environment = compose_environment(os.path.join(clone, "docker-compose-dev.yaml"))
        modes = sorted({client_mode(environment.get(c, {})) for c in clients})
        if round_number == 1 and not check(f"{tag} the generated file runs exercise {number} "
                                           f"(client mode {mode}; got {' '.join(modes)})",
                                           modes == [mode]):
            return None

        # up -d, then at once logs -f.
        self.deployed = compose
        started = time.monotonic()
        up = run(compose("up", "-d"), clone, 180, journal=journal)
        follower = self.follower = LogFollower(compose("logs", "-f"), clone)
        up_took = time.monotonic() - started
        if not check(f"{tag} {' '.join(compose('up', '-d'))}", up.ok, up.tail()):
            events = follower.close()
            self.follower = None
            self.stop_and_down(compose, tag, journal, check_exits=False)
            return events

        def all_exited(events):
            lines = exit_lines(events)
            return all(c in lines for c in clients)

        seen_all, gave_up = self.read_until_exits(follower, all_exited, clients)
        took = time.monotonic() - started
        validation = None
        if number in VALIDATE_ECHO:
            validation = run(["./validar-echo-server.sh"], clone, 120, journal=journal)
        states = self.container_states(compose)
        events = follower.close()
        self.follower = None
        exits = exit_lines(events)
        info(f"up -d took {up_took:.1f} s; read for {took:.1f} s in all; {len(events)} lines")
        if gave_up:
            info(f"stopped waiting: {' '.join(gave_up)} had exited (docker inspect) for "
                 f"{EXIT_LINE_GRACE} s with no exit line; logs -f prints one only for a container "
                 "that exits while it follows")
        check(f"{tag} logs -f shows every client's exit line within {self.options.timeout} s "
              f"(missing: {' '.join(c for c in clients if c not in exits) or 'none'})", seen_all)

        if mode == "agency":
            self.check_agency_round(tag, events, clients, expected_winners)
        elif mode == "echo":
            self.check_echo_round(tag, events, clients)
        else:
            self.check_bet_round(tag, events, clients, environment)

        fails = [e.text for e in events if FAILED in e.text]
        check(f"{tag} no line contains 'result: fail' ({len(fails)} do)", not fails, fails[:5])
        codes = {c: states.get(c, ("missing", "?")) for c in clients}
        check(f"{tag} each client's exit code is 0 (docker inspect: "
              f"{' '.join(f'{c}={s[0]}/{s[1]}' for c, s in codes.items())})",
              all(s == ("exited", "0") for s in codes.values()))
        if validation is not None:
            printed = validation.output.strip().splitlines()
            check(f"{tag} ./validar-echo-server.sh prints 'action: test_echo_server | result: "
                  f"success' while the server runs", validation.ok and
                  "action: test_echo_server | result: success" in printed, validation.tail())
        self.stop_and_down(compose, tag, journal, check_exits=True)
        return events

    def read_until_exits(self, follower, all_exited, clients):
        """Reads until every client's exit line, the timeout, or until every client still
        missing one has been exited (docker inspect) for EXIT_LINE_GRACE seconds: compose
        prints an exit line within milliseconds of the exit it follows, so none is coming.
        Returns (every exit line seen, the clients given up on)."""
        deadline = time.monotonic() + self.options.timeout
        exited_since = None
        while True:
            left = deadline - time.monotonic()
            if follower.wait_until(all_exited, min(1.0, max(left, 0))):
                return True, []
            if follower.eof or time.monotonic() >= deadline:
                return False, []
            with follower.changed:
                seen = exit_lines(follower.events)
            missing = [c for c in clients if c not in seen]
            states = run(["docker", "inspect", "-f", "{{.State.Status}}", *missing], ROOT, 30)
            if states.ok and set(states.output.split()) == {"exited"}:
                exited_since = exited_since or time.monotonic()
                if time.monotonic() - exited_since >= EXIT_LINE_GRACE:
                    return False, missing
            else:
                exited_since = None

    def stop_and_down(self, compose, tag, journal, check_exits):
        check = self.report.check
        volumes = self.mounted_volumes(compose)
        self.our_volumes |= volumes
        stop = run(compose("stop"), self.clone, 120, journal=journal)
        states = self.container_states(compose)
        if check_exits:
            check(f"{tag} {' '.join(compose('stop'))}: every container exited with code 0 "
                  f"({' '.join(f'{n}={s[1]}' for n, s in sorted(states.items()))})",
                  stop.ok and states and all(s == ("exited", "0") for s in states.values()),
                  stop.tail())
        down = run(compose("down"), self.clone, 120, journal=journal)
        left = self.leftovers(volumes)
        check(f"{tag} {' '.join(compose('down'))} leaves nothing of project {self.project} but "
              f"anonymous volumes (left: {', '.join(left) or 'nothing'})", down.ok and not left,
              down.tail())
        if not left:
            self.deployed = None
        # Dangling anonymous volumes are expected after down; ours go now.
        for volume in volumes:
            if re.fullmatch(r"[0-9a-f]{64}", volume):
                run(["docker", "volume", "rm", volume], ROOT, 60)

    # ------------------------------------------------------------ the assertions
    def check_agency_round(self, tag, events, clients, expected_winners):
        check = self.report.check
        server = [(i, e) for i, e in enumerate(events) if e.source == "server" and e.exit_code is None]
        received = [(i, int(m.group(1))) for i, e in server for m in [RECEIVED.search(e.message)] if m]
        draws = [i for i, e in server if DRAW.search(e.message)]
        winners = {c: [(i, int(m.group(1))) for i, e in enumerate(events)
                       if e.source == c and e.exit_code is None
                       for m in [WINNERS.search(e.message)] if m] for c in clients}
        exits = exit_lines(events)
        total = sum(n for _, n in received)

        check(f"{tag} exactly one 'action: sorteo | result: success' line (got {len(draws)})",
              len(draws) == 1)
        draw = draws[0] if draws else None
        late = [i for i, _ in received if draw is None or i > draw]
        check(f"{tag} every apuesta_recibida line comes before the sorteo "
              f"({len(received)} lines, {len(late)} after it)", draw is not None and not late)
        want = CLIENTS * BETS_PER_AGENCY
        check(f"{tag} the server's apuesta_recibida lines add up to {want} bets (got {total})",
              total == want)
        got = [" ".join(str(k) for _, k in winners[c]) or "none" for c in clients]
        check(f"{tag} each agency's consulta_ganadores: {' | '.join(got)} "
              f"(expected {' | '.join(map(str, expected_winners))})",
              all([k for _, k in winners[c]] == [w] for c, w in zip(clients, expected_winners)))
        early = [c for c in clients for i, _ in winners[c] if draw is None or i < draw]
        check(f"{tag} the sorteo comes before every client's consulta_ganadores "
              f"(before it: {' '.join(early) or 'none'})",
              draw is not None and not early and all(winners[c] for c in clients))
        wrong = []
        for c in clients:
            if c not in exits:
                wrong.append(f"{c}: no exit line")
            elif exits[c][1] != 0:
                wrong.append(f"{c}: exited with code {exits[c][1]}")
            elif not winners[c] or exits[c][0] < winners[c][-1][0]:
                wrong.append(f"{c}: exit line before its consulta_ganadores")
        check(f"{tag} each 'clientN exited with code 0' line comes after that client's "
              f"consulta_ganadores ({'; '.join(wrong) or 'all'})", not wrong)

    def check_echo_round(self, tag, events, clients):
        exits = exit_lines(events)
        for n, c in enumerate(clients, 1):
            lines = [(i, e.message) for i, e in enumerate(events) if e.source == c and e.exit_code is None]
            echoes = [(i, m.group(2)) for i, text in lines for m in [ECHOED.search(text)] if m]
            finished = [i for i, text in lines if LOOP_DONE.search(text)]
            want = [f"[CLIENT {n}] Message N°{k}" for k in range(1, ECHO_AMOUNT + 1)]
            got = [msg for _, msg in echoes]
            problems = []
            if got != want:
                problems.append(f"echoes {got}, expected {want}")
            if len(finished) != 1 or (echoes and finished and finished[0] < echoes[-1][0]):
                problems.append(f"loop_finished {len(finished)} time(s), expected once after the echoes")
            if c not in exits or exits[c][1] != 0 or (finished and exits[c][0] < finished[-1]):
                problems.append(f"exit line {exits.get(c, ('', 'missing'))[1]} (expected code 0 after "
                                "loop_finished)")
            self.report.check(f"{tag} {c}: {ECHO_AMOUNT} echoes '[CLIENT {n}] Message N°k' in order, "
                              "loop_finished, then 'exited with code 0'", not problems, problems)

    def check_bet_round(self, tag, events, clients, environment):
        exits = exit_lines(events)
        stored = [(m.group(1), int(m.group(2))) for e in events
                  if e.source == "server" and e.exit_code is None
                  for m in [BET_STORED.search(e.message)] if m]
        for c in clients:
            env = environment.get(c, {})
            bet = (env.get("DOCUMENTO", "?"), int(env.get("NUMERO", "-1")))
            sent = [(i, (m.group(1), int(m.group(2)))) for i, e in enumerate(events)
                    if e.source == c and e.exit_code is None for m in [BET_SENT.search(e.message)] if m]
            problems = []
            if [b for _, b in sent] != [bet]:
                problems.append(f"{c} logged apuesta_enviada {[b for _, b in sent]}, expected [{bet}]")
            if stored.count(bet) != 1:
                problems.append(f"the server logged apuesta_almacenada for it {stored.count(bet)} times")
            if c not in exits or exits[c][1] != 0 or (sent and exits[c][0] < sent[-1][0]):
                problems.append(f"exit line {exits.get(c, ('', 'missing'))[1]} (expected code 0 after "
                                "apuesta_enviada)")
            self.report.check(f"{tag} {c}: apuesta_enviada and the server's apuesta_almacenada with "
                              f"dni: {bet[0]} | numero: {bet[1]}, then 'exited with code 0'",
                              not problems, problems)


class SetupError(Exception):
    def __init__(self, text, details=()):
        super().__init__(text)
        self.details = details


# ---------------------------------------------------------------- main
def parse_exercises(text):
    numbers = []
    for part in text.replace(" ", "").split(","):
        part = part.replace("ej", "")
        if not part:
            continue
        low, _, high = part.partition("-")
        for n in range(int(low), int(high or low) + 1):
            if n not in MODES:
                raise argparse.ArgumentTypeError(f"no exercise {n} (1-8)")
            if n not in numbers:
                numbers.append(n)
    return numbers


def parse_composes(text):
    names = [p for p in text.replace(" ", "").split(",") if p]
    for name in names:
        if name not in ("v1", "v2"):
            raise argparse.ArgumentTypeError(f"unknown compose '{name}' (v2 or v1)")
    return names


def options():
    env = os.environ.get
    parser = argparse.ArgumentParser(description="The course's grading workflow on a temporary clone.")
    parser.add_argument("--branches", type=parse_exercises, default=env("COURSE_BRANCHES", "1-8"))
    parser.add_argument("--rounds", type=int, default=int(env("COURSE_ROUNDS", "5")))
    parser.add_argument("--runs", type=int, default=int(env("COURSE_RUNS", "2")))
    parser.add_argument("--compose", type=parse_composes, default=env("COURSE_COMPOSE", "v2,v1"))
    parser.add_argument("--build", choices=("auto", "course", "make"), default=env("COURSE_BUILD", "auto"))
    parser.add_argument("--timeout", type=float, default=float(env("COURSE_TIMEOUT", "60")))
    parser.add_argument("--build-timeout", type=float, default=float(env("COURSE_BUILD_TIMEOUT", "3600")))
    parser.add_argument("--keep", action="store_true")
    parsed = parser.parse_args()
    # Defaults given as text go through the same parsers.
    if isinstance(parsed.branches, str):
        parsed.branches = parse_exercises(parsed.branches)
    if isinstance(parsed.compose, str):
        parsed.compose = parse_composes(parsed.compose)
    return parsed


def available_composes(wanted):
    composes = []
    for name in wanted:
        argv = ["docker", "compose"] if name == "v2" else ["docker-compose"]
        version = run([*argv, "version", "--short"], ROOT, 30)
        if version.ok:
            info(f"Compose {name}: {' '.join(argv)} {version.output.strip()}")
            composes.append(Compose(name, argv))
        else:
            print(f"SKIP  Compose {name} ({' '.join(argv)}) is not installed here", flush=True)
    return composes


def main():
    began = time.monotonic()
    opts = options()
    report = Report()

    def on_term(signum, frame):
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_term)

    if shutil.which("docker") is None or not run(["docker", "info"], ROOT, 30).ok:
        why = "docker is not installed" if shutil.which("docker") is None else "cannot reach the engine"
        print(f"skipped: no Docker ({why})")
        report.summary()
        return 0
    composes = available_composes(opts.compose)
    if not composes:
        print("skipped: no Docker Compose (neither `docker compose` nor `docker-compose`)")
        report.summary()
        return 0

    if os.path.isdir(LOG_DIR):
        shutil.rmtree(LOG_DIR, ignore_errors=True)
    workflow = Workflow(opts, report)
    interrupted = False
    try:
        section("setup: a temporary clone, as a grader's")
        workflow.make_clone()
        left = workflow.leftovers()
        if left:
            raise SetupError(f"a {workflow.project} deployment or its containers exist: "
                             f"{', '.join(left)}; remove them first (make docker-compose-down)")
        workflow.owns_project = True
        workflow.set_up_branches()
        opts.build = workflow.build_mode()
        if opts.build == "make" and not workflow.make_images():
            raise SetupError("no images to run")
        for number in opts.branches:
            workflow.exercise(number, composes)
    except SetupError as err:
        report.check(f"setup: {err}", False, err.details)
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: cleaning up", flush=True)
        interrupted = True
    finally:
        # Nothing stops the cleanup half way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        workflow.cleanup()
    if interrupted:
        report.summary()
        return 130
    print(f"\n{time.monotonic() - began:.0f} s in all")
    if report.failed and os.path.isdir(LOG_DIR):
        print(f"\nlogs -f transcripts of the failing rounds: {LOG_DIR}")
    report.summary()
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
