#!/usr/bin/env python3
"""Times seal against the real sops on the same files, as whole processes.

Usage: bench/compare.py [--runs N] [--repo-runs N] [--only files|repo] [--seal PATH] [--sops PATH]
Prints a table: command, workload, seal median, sops median, ratio, peak memory of each.
Workloads are generated deterministically in a temp dir; keys are made with seal new-key.

The "repo" workloads are a git repository of 1,000 encrypted Secrets: `seal updatekeys --all
-y` and `seal rotate -i --all` (one process, files in parallel) against a shell loop of
`sops updatekeys -y FILE` / `sops rotate -i FILE` over the same files. updatekeys runs
alternate the rule between one and two recipients so every run really re-wraps every file.
"""
import argparse, os, random, shlex, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def secret(n_keys, value_len=48, seed=1):
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", "  name: bench", "  namespace: default",
             "type: Opaque", "stringData:"]
    for i in range(n_keys):
        v = "".join(rnd.choice(alphabet) for _ in range(value_len))
        lines.append(f"  KEY_{i:05d}: {v}")
    return "\n".join(lines) + "\n"


def measure(cmd, env, runs, cwd=None, setup=None):
    times, mems = [], []
    for i in range(runs):
        if setup:
            setup(i)
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, cwd=cwd)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"command failed: {' '.join(cmd)}\n{p.stderr.decode(errors='replace')[-500:]}")
        times.append(dt)
        mems.append(int(p.stderr.decode().strip().splitlines()[-1]))
    return statistics.median(times), max(mems)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seal", default=os.path.join(ROOT, "target/release/seal"))
    ap.add_argument("--sops", default=os.path.join(ROOT, ".venv/bin/sops"))
    ap.add_argument("--repo-runs", type=int, default=3, help="runs of the 1,000-file workloads")
    ap.add_argument("--repo-files", type=int, default=1000)
    ap.add_argument("--only", choices=["files", "repo"], help="run only these workloads")
    a = ap.parse_args()
    for b in (a.seal, a.sops):
        if not os.path.exists(b):
            sys.exit(f"missing {b}: run cargo build --release and scripts/install-peers.sh")
    work = tempfile.mkdtemp(prefix="seal-bench.")
    env = {"HOME": work, "PATH": os.environ.get("PATH", "")}
    keys = os.path.join(work, "keys.txt")
    pub = subprocess.run([a.seal, "new-key", "-o", keys], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    env["SOPS_AGE_KEY_FILE"] = keys
    rows = []
    if a.only != "repo":
        rows += file_workloads(a, env, work, pub)
    if a.only != "files":
        rows += repo_workloads(a, env, work, pub)
    print(f"{'command':<10} {'workload':<40} {'seal':>9} {'sops':>9} {'ratio':>7} {'seal mem':>9} {'sops mem':>9}")
    for verb, wl, st, pt, sm, pm in rows:
        print(f"{verb:<10} {wl:<40} {st*1000:>7.1f}ms {pt*1000:>7.1f}ms {pt/st:>6.1f}x {sm/1024:>7.1f}MB {pm/1024:>7.1f}MB")
    print(f"\n(median of {a.runs} runs ({a.repo_runs} for {a.repo_files}-file workloads), whole processes; "
          f"memory = peak RSS; {os.cpu_count()} CPUs)")


def file_workloads(a, env, work, pub):
    rows = []
    for name, n in [("small Secret (5 keys)", 5), ("Secret, 2,000 keys", 2000),
                    ("Secret, 20,000 keys (1.5 MB)", 20000)]:
        plain = os.path.join(work, f"plain-{n}.yaml")
        with open(plain, "w") as f:
            f.write(secret(n))
        size = os.path.getsize(plain)
        enc = os.path.join(work, f"enc-{n}.yaml")
        with open(enc, "wb") as f:
            f.write(subprocess.run([a.sops, "encrypt", "--encrypted-regex", "^(data|stringData)$", "--age", pub,
                                    plain], env=env, capture_output=True, check=True).stdout)
        runs = a.runs if n < 20000 else max(3, a.runs // 2)
        for verb, seal_cmd, sops_cmd in [
            ("decrypt", [a.seal, "decrypt", enc], [a.sops, "decrypt", enc]),
            ("encrypt", [a.seal, "encrypt", "--age", pub, plain],
             [a.sops, "encrypt", "--encrypted-regex", "^(data|stringData)$", "--age", pub, plain]),
        ]:
            st, sm = measure(seal_cmd, env, runs)
            pt, pm = measure(sops_cmd, env, runs)
            rows.append((verb, f"{name}, {size/1e6:.2f} MB" if size > 1e5 else name, st, pt, sm, pm))
    return rows


def repo_workloads(a, env, work, pub):
    """1,000 encrypted Secrets in a git repo: repo-wide updatekeys and rotate."""
    n = a.repo_files
    pub2 = subprocess.run([a.seal, "new-key", "-o", os.path.join(work, "keys2.txt")], env=env,
                          capture_output=True, text=True, check=True).stdout.strip()
    repo = os.path.join(work, "repo")
    os.makedirs(os.path.join(repo, ".git"))
    rule = lambda recipients: ("creation_rules:\n  - path_regex: \\.ya?ml$\n"
                               "    encrypted_regex: ^(data|stringData)$\n"
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
    loop = lambda verb: ["sh", "-c",
                         f'while read -r f; do {shlex.quote(a.sops)} {verb} "$f" >/dev/null || exit 1; done < files.txt']
    rows = []
    wl = f"{n} Secrets in a git repo"
    for verb, seal_cmd, sops_cmd, setup in [
        ("updatekeys", [a.seal, "updatekeys", "--all", "-y"], loop("updatekeys -y"), config),
        ("rotate", [a.seal, "rotate", "-i", "--all"], loop("rotate -i"), None),
    ]:
        st, sm = measure(seal_cmd, env, a.repo_runs, cwd=repo, setup=setup)
        pt, pm = measure(sops_cmd, env, a.repo_runs, cwd=repo, setup=setup)
        rows.append((verb, wl, st, pt, sm, pm))
    return rows


if __name__ == "__main__":
    main()
